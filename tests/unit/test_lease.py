"""One writer per output: the lease's rules, and holding it on local storage."""

import json
import os
import socket
import time

import pytest

from cxrpipe import storage
from cxrpipe.errors import JobFailed, UserError
from cxrpipe.lease import LEASE_NAME, TTL_SECONDS, Lease, is_live
from cxrpipe.spark.lease import hold_output

CONFIG = storage.StorageConfig()


def lease(host="h1", pid=10, age=0.0) -> Lease:
    now = time.time()
    return Lease("run-a", host, pid, "run", now - age, now - age)


@pytest.mark.parametrize("age, host, alive, live", [
    (0.0, "h2", False, True),                 # another host, fresh heartbeat
    (TTL_SECONDS + 1, "h2", True, False),     # another host, heartbeat expired
    (0.0, "h1", True, True),                  # this host, process running
    (0.0, "h1", False, False),                # this host, process gone (killed driver)
])
def test_is_live(age, host, alive, live):
    # The lease is made here, not at collection time: its age is the test's, not the suite's.
    assert is_live(lease(age=age), time.time(), host, lambda pid: alive) is live


def test_lease_round_trip_and_torn_files():
    held = lease()
    assert Lease.loads(held.dumps()) == held
    assert Lease.loads(b"{not json") is None and Lease.loads(b'{"run_id": 1}') is None


def test_a_live_lease_of_another_job_stops_a_second_writer(tmp_path):
    out = tmp_path / "out"
    other = Lease("run-b", "elsewhere", 4242, "preprocess", time.time(), time.time())
    storage.write_bytes(str(out / LEASE_NAME), other.dumps(), CONFIG)
    with pytest.raises(UserError, match=r"being written by `cxrpipe preprocess` run run-b on elsewhere"):
        with hold_output(str(out), "run", CONFIG):
            pass
    assert Lease.loads((out / LEASE_NAME).read_bytes()) == other   # left alone


def test_a_dead_drivers_lease_is_taken_over_and_released(tmp_path):
    out = tmp_path / "out"
    dead = Lease("run-b", socket.gethostname(), 2**22 + 12345, "run", time.time(), time.time())
    storage.write_bytes(str(out / LEASE_NAME), dead.dumps(), CONFIG)
    with hold_output(str(out), "run", CONFIG) as held:
        mine = json.loads((out / LEASE_NAME).read_text())
        assert mine["run_id"] == held.lease.run_id != "run-b" and mine["pid"] == os.getpid()
        held.check()
    assert not (out / LEASE_NAME).exists()


def test_a_takeover_during_the_job_stops_the_commit(tmp_path):
    out = tmp_path / "out"
    with hold_output(str(out), "run", CONFIG) as held:
        thief = Lease("run-c", "other-host", 1, "run", time.time(), time.time())
        storage.write_bytes(str(out / LEASE_NAME), thief.dumps(), CONFIG)
        with pytest.raises(JobFailed, match="another job took over this output.*run run-c on other-host"):
            held.check()
    assert Lease.loads((out / LEASE_NAME).read_bytes()).run_id == "run-c"  # not ours: not deleted
