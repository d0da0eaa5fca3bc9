"""The Python workers Spark starts for cxrpipe run under cxrpipe's daemon."""

from __future__ import annotations

import zipimport


def test_workers_keep_their_zip_directories(spark):
    def worker_state(_):  # nested, so Spark ships it by value
        import importlib
        import sys
        import zipimport

        zips = [p for p in sys.path if p.endswith((".zip", ".jar"))]
        importlib.invalidate_caches()  # what PySpark's worker does at the start of every task
        archives = {i.archive for i in sys.path_importer_cache.values() if isinstance(i, zipimport.zipimporter)}
        return zipimport.zipimporter.invalidate_caches.__name__, zips, archives

    from cxrpipe.spark import daemon

    assert spark.sparkContext.getConf().get("spark.python.daemon.module") == "cxrpipe.spark.daemon"
    (name, zips, archives), = spark.sparkContext.parallelize([0], 1).map(worker_state).collect()
    # Spark puts its zips and its core jar on the workers' path: without the daemon each task
    # re-reads them (the jar alone cost 300 ms of CPU a task).
    assert any("pyspark.zip" in z for z in zips) and any("spark-core_" in z for z in zips), zips
    assert name == "_keep_spark_directories"
    assert archives and all(daemon.is_spark_zip(a) for a in archives), archives
    assert zipimport.zipimporter.invalidate_caches.__name__ != "_keep_spark_directories"  # the driver is untouched


def test_only_sparks_own_zips_keep_their_directories(tmp_path):
    """A user's zip (--py-files) is re-read as before; pyspark.zip and py4j's are not."""
    import zipfile

    from cxrpipe.spark import daemon

    user_zip = tmp_path / "deps.zip"
    with zipfile.ZipFile(user_zip, "w") as archive:
        archive.writestr("first.py", "")
    spark_zip = tmp_path / "pyspark.zip"
    spark_zip.write_bytes(user_zip.read_bytes())
    importers = {name: zipimport.zipimporter(str(path)) for name, path in (("user", user_zip), ("spark", spark_zip))}
    for path in (user_zip, spark_zip):  # both zips gain a module after their importers read them
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("second.py", "")
    for importer in importers.values():
        daemon._keep_spark_directories(importer)
    assert importers["user"].find_spec("second") is not None
    assert importers["spark"].find_spec("second") is None  # its directory was kept
    assert daemon.is_spark_zip("/x/py4j-0.10.9.7-src.zip") and not daemon.is_spark_zip("/x/py4j-mine.zip")
    assert daemon.is_spark_zip("/usr/lib/spark/jars/spark-core_2.12-3.5.1-amzn-0.jar")
    assert not daemon.is_spark_zip("/x/spark-mine.jar") and not daemon.is_spark_zip("/x/deps.jar")
