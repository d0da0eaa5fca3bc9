"""The Python workers Spark starts for cxrpipe run under cxrpipe's daemon."""

from __future__ import annotations

import zipimport


def test_workers_keep_their_zip_directories(spark):
    def worker_state(_):  # nested, so Spark ships it by value
        import importlib
        import sys
        import zipimport

        zips = [p for p in sys.path if p.endswith(".zip")]
        importlib.invalidate_caches()  # what PySpark's worker does at the start of every task
        return zipimport.zipimporter.invalidate_caches.__name__, zips

    assert spark.sparkContext.getConf().get("spark.python.daemon.module") == "cxrpipe.spark.daemon"
    (name, zips), = spark.sparkContext.parallelize([0], 1).map(worker_state).collect()
    # Spark puts its zips on the workers' path: without the daemon each task re-reads them.
    assert any("pyspark.zip" in z for z in zips)
    assert name == "_keep_directory"
    assert zipimport.zipimporter.invalidate_caches.__name__ != "_keep_directory"  # the driver is untouched
