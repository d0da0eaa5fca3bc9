"""Build (or join) the SparkSession a job runs in."""

from __future__ import annotations

import os
import sys

from ..errors import UserError


def spark_session(master: str | None = None, app_name: str = "cxrpipe", conf: dict | None = None):
    """The active session, or a new one.

    Under ``spark-submit`` the master comes from the submission; elsewhere ``master`` (default
    ``local[*]``) is used. Spark's own console progress bar is switched off because the jobs
    print their own progress in images, not tasks.

    Args:
        master: a Spark master URL, or None for the submission's (or ``local[*]``).
        app_name: the application name shown in the Spark UI.
        conf: extra Spark settings.

    Returns:
        A ``pyspark.sql.SparkSession``.
    """
    # Python workers must run this interpreter (the venv with cv2), not the system one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        return SparkSession.builder.getOrCreate()
    SparkContext._ensure_initialized()
    spark_conf = SparkConf()
    if master:
        spark_conf.setMaster(master)
    elif not spark_conf.contains("spark.master"):
        spark_conf.setMaster("local[*]")
    if spark_conf.get("spark.master", "").startswith("local"):
        # A laptop run needs no network address; loopback also silences Spark's hostname warning.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark_conf.setIfMissing("spark.app.name", app_name)
    # PySpark's launcher turns the bar on; our jobs print progress in images instead.
    spark_conf.set("spark.ui.showConsoleProgress", "false")
    # Our workers import cxrpipe anyway (local venv, EMR archive); this daemon saves ~60 ms of
    # CPU per task (see cxrpipe/spark/daemon.py).
    spark_conf.setIfMissing("spark.python.daemon.module", "cxrpipe.spark.daemon")
    for key, value in (conf or {}).items():
        spark_conf.set(key, str(value))
    try:
        session = SparkSession.builder.config(conf=spark_conf).getOrCreate()
    except Exception as exc:  # Py4JJavaError, raised from the JVM with its own message
        if "Could not parse Master URL" in str(exc):
            raise UserError(f"--master {spark_conf.get('spark.master')}: Spark cannot use this master URL; "
                            "expected local[N], spark://HOST:PORT, yarn or k8s://...") from None
        raise
    session.sparkContext.setLogLevel("WARN")
    return session
