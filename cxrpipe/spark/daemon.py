"""PySpark's Python worker daemon, without re-reading Spark's own zips at every task.

Spark's worker calls ``importlib.invalidate_caches()`` at the start of every task. Spark puts
``pyspark.zip`` and ``py4j-*.zip`` on the workers' path, and on Python 3.11 a zip importer's
``invalidate_caches`` re-reads its whole zip directory: measured here, 55-65 ms of worker CPU
per task (13 zip importers), several times a trivial task's own cost. Those two zips are
Spark's installation and do not change while an application runs, so their importers keep
their directories; every other zip on the path (a user's ``--py-files``) is invalidated as
before. Set as ``spark.python.daemon.module`` by ``spark_session``; to turn it off, pass
``--conf spark.python.daemon.module=pyspark.daemon``.
"""

from __future__ import annotations

import os
import re
import zipimport

# pyspark.zip and py4j-0.10.9.7-src.zip, as Spark's launchers name them.
SPARK_ZIPS = re.compile(r"^(pyspark\.zip|py4j-[\w.]+-src\.zip)$")


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
