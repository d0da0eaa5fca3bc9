"""PySpark's Python worker daemon, without a zip re-read per task.

Spark's worker calls ``importlib.invalidate_caches()`` at the start of every task. Spark puts
``pyspark.zip`` and ``py4j-*.zip`` on the workers' path, and on Python 3.11 a zip importer's
``invalidate_caches`` re-reads its whole zip directory: measured here, 55-65 ms of worker CPU
per task (13 zip importers), several times a trivial task's own cost. Those zips do not
change while an application runs, so their importers keep their directories; anything
else on the path is invalidated as before. Set as ``spark.python.daemon.module``.
"""

from __future__ import annotations

import zipimport


def _keep_directory(self) -> None:
    """Spark's zips are fixed for the application's life: nothing to re-read."""


zipimport.zipimporter.invalidate_caches = _keep_directory

if __name__ == "__main__":
    from pyspark import daemon

    daemon.manager()
