"""PySpark's Python worker daemon, without re-reading Spark's own zips at every task.

Spark's worker calls ``importlib.invalidate_caches()`` at the start of every task. Spark puts
``pyspark.zip``, ``py4j-*.zip`` and its own ``spark-core_*.jar`` (``PythonUtils.sparkPythonPath``
adds the jar holding its classes) on the workers' path, and on Python 3.11 a zip importer's
``invalidate_caches`` re-reads its whole zip directory: measured here, 55-65 ms of worker CPU
per task for the two zips, and 300 ms more for the jar (pyspark 3.5.9: two importers of a
jar of ~3,700 entries), several times a trivial task's own cost. These are Spark's
installation and do not change while an application runs, so their importers keep their
directories; every other zip on the path (a user's ``--py-files``) is invalidated as before.
Set as ``spark.python.daemon.module`` by ``spark_session``; to turn it off, pass
``--conf spark.python.daemon.module=pyspark.daemon``.
"""

from __future__ import annotations

import os
import re
import zipimport

# pyspark.zip, py4j-0.10.9.7-src.zip and spark-core_2.12-3.5.9.jar (EMR: ...-3.5.1-amzn-0.jar).
SPARK_ZIPS = re.compile(r"^(pyspark\.zip|py4j-[\w.]+-src\.zip|spark-core_[\w.-]+\.jar)$")


def is_spark_zip(archive: str) -> bool:
    return bool(SPARK_ZIPS.match(os.path.basename(archive)))


_invalidate = zipimport.zipimporter.invalidate_caches


def _keep_spark_directories(self) -> None:
    """Spark's own zips are fixed for the application's life: nothing to re-read."""
    if not is_spark_zip(self.archive):
        _invalidate(self)


if __name__ == "__main__":
    zipimport.zipimporter.invalidate_caches = _keep_spark_directories
    from pyspark import daemon

    daemon.manager()
