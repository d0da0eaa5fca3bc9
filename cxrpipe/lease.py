"""One writer per output: the lease a job holds on its dataset root while it works. Pure.

A job writes ``OUT/_LEASE.json`` (its run id, host, process and a heartbeat time) before it
touches anything, renews it while it runs, checks it is still its own just before it commits,
and deletes it at the end. A second job finding a live lease fails at once. A lease is dead
when its heartbeat is older than ``TTL_SECONDS`` or, on the same host, when its process is
gone: so a rerun after a killed driver takes over at once on that host, and after the TTL
anywhere.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from .layout import LEASE

LEASE_NAME = LEASE
TTL_SECONDS = 120.0
HEARTBEAT_SECONDS = 30.0


@dataclass(frozen=True)
class Lease:
    """Who is writing an output, and when it last said so (seconds since the epoch)."""

    run_id: str
    host: str
    pid: int
    command: str
    started: float
    heartbeat: float

    def dumps(self) -> bytes:
        return (json.dumps(asdict(self), sort_keys=True) + "\n").encode()

    @staticmethod
    def loads(data: bytes) -> "Lease | None":
        """The lease in ``data``, or None when it is not one (a torn or foreign file)."""
        try:
            return Lease(**json.loads(data))
        except (ValueError, TypeError):
            return None

    def describe(self) -> str:
        return f"`cxrpipe {self.command}` run {self.run_id} on {self.host} (process {self.pid})"


def is_live(lease: Lease, now: float, host: str, process_alive) -> bool:
    """Whether ``lease`` still stops another writer.

    Args:
        lease: the lease found.
        now: the current time.
        host: this machine's name.
        process_alive: pid -> bool, for processes on this host.
    """
    if now - lease.heartbeat > TTL_SECONDS:
        return False
    return process_alive(lease.pid) if lease.host == host else True
