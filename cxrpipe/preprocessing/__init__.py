"""Preprocessing: the plan (``plan``: index rows to work items, split by patient, grouped into
tasks; pure) and the task (``task``: read, render and write one task's images, index and
rejects parts). ``cxrpipe.spark.preprocess`` runs the tasks on Spark."""
