"""TFRecord shards: the plan (``plan``: which record goes to which shard, in which order; pure),
the pieces (``pieces``: records framed by the preprocessing tasks, and each shard's byte ranges
of them; pure) and the writer (``writer``: framing tasks and shard tasks, through storage).
``cxrpipe.spark.shards`` runs them on Spark."""
