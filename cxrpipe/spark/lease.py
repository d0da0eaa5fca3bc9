"""Holding the lease on an output while a job writes it (see ``cxrpipe.lease``)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager

from .. import storage
from ..errors import JobFailed, UserError
from ..lease import HEARTBEAT_SECONDS, LEASE_NAME, Lease, is_live

log = logging.getLogger(__name__)


class Held:
    """The lease this job holds; ``check`` before committing."""

    def __init__(self, uri: str, lease: Lease, config: storage.StorageConfig):
        self.uri, self.lease, self.config = uri, lease, config

    def check(self) -> None:
        """Raises JobFailed when another job has taken the output over."""
        found = _read(self.uri, self.config)
        if found is None or found.run_id != self.lease.run_id:
            other = found.describe() if found else "a job that removed the lease"
            raise JobFailed(f"another job took over this output while this one ran: {other}; "
                            "nothing of this run is committed")

    def renew(self) -> None:
        self.lease = Lease(**{**self.lease.__dict__, "heartbeat": time.time()})
        storage.write_bytes(self.uri, self.lease.dumps(), self.config)


@contextmanager
def hold_output(output_uri: str, command: str, config: storage.StorageConfig):
    """Take the output's lease for the duration of a job.

    Raises:
        UserError: another job holds a live lease on the output.
    """
    uri = storage.join(output_uri, LEASE_NAME)
    found = _read(uri, config)
    if found is not None and is_live(found, time.time(), socket.gethostname(), _alive):
        raise UserError(f"{output_uri} is being written by {found.describe()} (last heartbeat "
                        f"{time.time() - found.heartbeat:.0f} s ago); wait for it to finish, or if it "
                        f"died elsewhere, delete {uri} or wait two minutes")
    now = time.time()
    held = Held(uri, Lease(uuid.uuid4().hex, socket.gethostname(), os.getpid(), command, now, now), config)
    storage.write_bytes(uri, held.lease.dumps(), config)
    held.check()  # two jobs that started together: the later write wins, the other stops here
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(held, stop), daemon=True, name="cxrpipe-lease")
    beat.start()
    try:
        yield held
    finally:
        stop.set()
        beat.join()
        _release(held)


def _heartbeat(held: Held, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            held.renew()
        except OSError as exc:  # a missed beat only shortens the lease; the commit check decides
            log.warning("could not renew the lease %s: %s", held.uri, exc)


def _release(held: Held) -> None:
    try:
        found = _read(held.uri, held.config)
        if found is not None and found.run_id == held.lease.run_id:
            storage.delete(held.uri, held.config)
    except (OSError, UserError) as exc:
        log.warning("could not remove the lease %s (%s); it expires by itself", held.uri, exc)


def _read(uri: str, config) -> Lease | None:
    try:
        return Lease.loads(storage.read_bytes(uri, config))
    except FileNotFoundError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
