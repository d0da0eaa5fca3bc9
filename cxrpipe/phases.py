"""Where a job's driver spends its time: named, timed phases, logged at INFO.

The driver's own work (reading the index, planning, building the manifest) must stay a small
share of a job at any scale; ``--log-level INFO`` shows each phase's seconds, and
``benchmarks/scale.py`` reads the recorded spans to measure each phase's time and memory.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Span:
    """One phase: its name, where it ran (``driver``, ``spark``, or ``startup`` for Spark's own
    start-up) and its monotonic start and end."""

    name: str
    where: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


_spans: list[Span] = []
_lock = threading.Lock()


@contextmanager
def phase(name: str, where: str = "driver"):
    """Time the body as phase ``name`` (recorded even when it raises)."""
    start = time.monotonic()
    try:
        yield
    finally:
        span = Span(name, where, start, time.monotonic())
        with _lock:
            _spans.append(span)
        log.info("%s phase %s: %.2f s", where, name, span.seconds)


def recorded() -> list[Span]:
    """Every phase this process has finished, in order of their ends."""
    with _lock:
        return list(_spans)
