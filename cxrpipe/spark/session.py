"""Build (or join) the SparkSession a job runs in."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

from ..errors import UserError

# The master URLs Spark 3.5 accepts (SparkContext.createTaskScheduler and spark-submit).
MASTER_URL = re.compile(r"^(local(\[(\*|\d+)(,\s*\d+)?\])?|local-cluster\[\d+,\s*\d+,\s*\d+\]|"
                        r"yarn|(spark|mesos)://\S+|k8s://\S+)$")


def spark_session(master: str | None = None, app_name: str = "cxrpipe", conf: dict | None = None):
    """The active session, or a new one.

    Under ``spark-submit`` the master and settings come from the submission; elsewhere ``master``
    (default ``local[*]``) is used, with cxrpipe's worker daemon (``DAEMON``; ``conf`` may name
    ``pyspark.daemon`` instead) and, locally, Spark's log in a file. Spark's own console
    progress bar is switched off because the jobs print their own progress in images, not tasks.

    Args:
        master: a Spark master URL, or None for the submission's (or ``local[*]``).
        app_name: the application name shown in the Spark UI.
        conf: extra Spark settings.

    Returns:
        A ``pyspark.sql.SparkSession``.
    """
    if master is not None and not MASTER_URL.match(master):
        # Checked here: given a URL it cannot parse, spark-submit's launcher exits before the
        # JVM says why, and PySpark only reports that the gateway exited.
        raise UserError(f"--master {master}: Spark cannot use this master URL; "
                        "expected local[N], spark://HOST:PORT, yarn or k8s://...")
    # Python workers must run this interpreter (the venv with cv2), not the system one.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name)
    # Under spark-submit the driver joins the submission's JVM, and its master and settings
    # are already there (PySpark itself decides by this variable whether to start a JVM).
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ
    if master or not submitted:
        builder = builder.master(master or "local[*]")
    if (master or ("" if submitted else "local")).startswith("local"):
        # A laptop run needs no network address; loopback also silences Spark's hostname warning.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_log_config()}")
    # PySpark's launcher turns the bar on; our jobs print progress in images instead.
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    if not submitted:
        # A submission names its own daemon (cxrpipe's EMR steps pass DAEMON).
        builder = builder.config(*DAEMON)
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    if submitted and session.sparkContext.master.startswith("local"):
        _reconfigure_log(session.sparkContext)
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
# Our workers import cxrpipe anyway (local venv, EMR archive); this daemon saves ~60 ms of CPU
# per task (see cxrpipe/spark/daemon.py).
DAEMON = ("spark.python.daemon.module", "cxrpipe.spark.daemon")
_log_file: Path | None = None


def _log_config() -> str:
    """A log4j2 configuration sending the JVM's log to a new file; its URI. A JVM launched with
    it logs nothing to the terminal from its first line."""
    global _log_file
    folder = Path(tempfile.gettempdir()) / "cxrpipe-logs"
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    _log_file = folder / f"spark-{stamp}-{os.getpid()}.log"
    config = folder / f"log4j2-{stamp}-{os.getpid()}.properties"
    config.write_text(_LOG4J2.format(path=_log_file))
    return config.as_uri()


def _reconfigure_log(sc) -> None:
    # spark-submit started the JVM with its own log settings, and Spark has no public call to
    # change them: log4j's own API, through the gateway, is the one way.
    jvm = sc._jvm
    jvm.org.apache.logging.log4j.LogManager.getContext(False).setConfigLocation(jvm.java.net.URI(_log_config()))


def log_path() -> str | None:
    """The file the active local session's Spark log goes to, or None."""
    from pyspark.sql import SparkSession

    return str(_log_file) if _log_file is not None and SparkSession.getActiveSession() is not None else None
