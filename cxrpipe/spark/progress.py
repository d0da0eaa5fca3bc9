"""Progress on the driver, from Spark's status tracker: units done / total, rate, time left."""

from __future__ import annotations

import contextlib
import sys
import threading
import time

INTERVAL_SECONDS = 5.0


def _format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def progress_line(done: float, total: int, elapsed: float, unit: str) -> str:
    """``1,200/10,000 images (12%), 85.1 images/s, 1m43s left``."""
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else float("nan")
    eta = _format_seconds(left) if rate > 0 else "?"
    share = done / total if total else 1.0
    return f"{int(done):,}/{total:,} {unit} ({share:.0%}), {rate:.1f} {unit}/s, {eta} left"


def _completed_fraction(tracker, group: str) -> float:
    done = total = 0
    for job_id in tracker.getJobIdsForGroup(group):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job else ():
            stage = tracker.getStageInfo(stage_id)
            if stage:
                done += stage.numCompletedTasks
                total += stage.numTasks
    return done / total if total else 0.0


@contextlib.contextmanager
def progress_reporter(sc, group: str, total: int, unit: str, stream=None):
    """Print a progress line every few seconds while the body runs Spark jobs of ``group``.

    Tasks report when they finish, so units done are estimated from completed tasks.
    """
    stream = stream or sys.stderr  # looked up now: the stream may be replaced after import
    stop = threading.Event()
    started = time.monotonic()

    def report() -> None:
        while not stop.wait(INTERVAL_SECONDS):
            fraction = _completed_fraction(sc.statusTracker(), group)
            print(progress_line(fraction * total, total, time.monotonic() - started, unit),
                  file=stream, flush=True)

    thread = threading.Thread(target=report, name="cxrpipe-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
