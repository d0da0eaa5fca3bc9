"""`cxrpipe verify` as a Spark job: one task per file the manifest lists, small reports back."""

from __future__ import annotations

from .failures import job_failures
from .progress import progress_reporter

GROUP = "cxrpipe-verify"
# Above this many images (or on S3) the files are checked by Spark tasks; below, by threads in
# one process, which saves Spark's start-up on a laptop.
LOCAL_IMAGES = 20_000


def spark_map(spark):
    """A ``map_files`` running each check as a Spark task (index parts read their JPEGs there)."""
    def map_files(function, items):
        sc = spark.sparkContext
        sc.setJobGroup(GROUP, f"verify {len(items)} files", interruptOnCancel=True)
        with job_failures("verify"), progress_reporter(sc, GROUP, len(items), "files"):
            return sc.parallelize(items, max(1, len(items))).map(function).collect()
    return map_files


def wants_spark(root: str, built, master: str | None) -> bool:
    """Spark when asked (``--master``), for S3, or for more than ``LOCAL_IMAGES`` images
    (``built``: the dataset's ``Manifest``)."""
    from ..storage import is_s3

    return bool(master) or is_s3(root) or sum(built.images.values()) > LOCAL_IMAGES
