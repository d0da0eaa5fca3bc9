"""Build (or join) the SparkSession a job runs in."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

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
    if spark_conf.get("spark.master", "").startswith("local"):
        _log_to_file(session.sparkContext)
    return session


# Spark's own log goes to a file on a laptop: a failed job then ends in the one line cxrpipe
# prints (which names the file), not after ~150 lines of JVM and Python stack. On a cluster
# the resource manager keeps the driver's log, so it is left where EMR shows it.
_LOG4J2 = """status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c: %m%n%ex
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
"""
LOG_PATH_KEY = "spark.cxrpipe.logFile"


def _log_to_file(sc) -> None:
    folder = Path(tempfile.gettempdir()) / "cxrpipe-logs"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"spark-{stamp}-{os.getpid()}.log"
    config = folder / f"log4j2-{stamp}-{os.getpid()}.properties"
    config.write_text(_LOG4J2.format(path=path))
    jvm = sc._jvm
    jvm.org.apache.logging.log4j.LogManager.getContext(False).setConfigLocation(
        jvm.java.net.URI(config.as_uri()))
    sc._conf.set(LOG_PATH_KEY, str(path))


def log_path() -> str | None:
    """The file the active local session's Spark log goes to, or None."""
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    return sc.getConf().get(LOG_PATH_KEY) if sc is not None else None
