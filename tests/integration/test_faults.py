"""Faults: S3 throttling and dropped connections, persistent errors, task retries, a killed driver.

Every run goes through a fault-injecting proxy in front of the S3 server and is compared,
byte for byte, with a clean run of the same command: nothing lost, nothing doubled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cxrpipe.cli import main
import s3objects
from faults import FaultProxy, Rule

from conftest import TEST_ACCESS_KEY, TEST_SECRET_KEY

BUCKET = "cxr-faults"
REPO = Path(__file__).resolve().parents[2]
# 5 MiB parts so the larger shards go through multipart uploads even in a small test set.
RUN_FLAGS = ["--num-shards", "1", "--images-per-task", "16", "--s3-part-mb", "5"]


def objects(s3, prefix: str) -> dict[str, bytes]:
    return s3objects.objects(s3, BUCKET, prefix)


def run_args(output: str, endpoint: str) -> list[str]:
    raw = f"s3://{BUCKET}/raw"
    return ["--dataset", "nih", "--index", f"{raw}/Data_Entry_2017.csv", "--images", f"{raw}/images",
            "--output", f"s3://{BUCKET}/{output}", "--s3-endpoint", endpoint, *RUN_FLAGS]


@pytest.fixture(scope="module")
def clean(s3, s3_endpoint, spark):
    """The reference: a clean `cxrpipe run` of a synthetic set straight against the server."""
    s3.create_bucket(Bucket=BUCKET)
    assert main(["synth", "--layout", "nih", "--out", f"s3://{BUCKET}/raw", "--n", "150",
                 "--image-size", "256", "--s3-endpoint", s3_endpoint]) == 0
    assert main(["run", *run_args("clean", s3_endpoint)]) == 0
    reference = objects(s3, "clean/")
    big = [k for k, v in reference.items() if k.startswith("tfrecords/") and len(v) > 5 * 1024 * 1024]
    assert big, "the test set must have a shard large enough for a multipart upload"
    return reference


@pytest.fixture
def proxy(s3_endpoint):
    with FaultProxy(s3_endpoint) as p:
        yield p


def spark_submit(args: list[str], master: str = "local[2,4]") -> subprocess.Popen:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "spark-submit"), "--master", master, "--conf", "spark.ui.enabled=false",
         str(REPO / "jobs/run.py"), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return out


def test_throttling_and_dropped_connections_are_retried(clean, s3, proxy):
    proxy.rules += [Rule("PUT", r"/throttled/images/", 503, times=3),
                    Rule("GET", r"/raw/images/", 0, times=2),
                    Rule("PUT", r"/throttled/tfrecords/.*partNumber=2", 503, times=2)]
    assert main(["run", *run_args("throttled", proxy.endpoint)]) == 0
    assert [r.total_fired for r in proxy.rules] == [3, 2, 2]
    assert objects(s3, "throttled/") == clean
    # Every upload carried its Content-MD5, so S3 itself rejects bytes changed on the way.
    uploads = [u for u in proxy.uploads if "/throttled/" in u[0]]
    assert len(uploads) > len(clean) and all(sent == actual for _, sent, actual in uploads)


def test_persistent_failure_names_the_key_writes_no_manifest_and_a_rerun_completes(clean, s3, proxy, capsys):
    victim = sorted(k for k in clean if k.startswith("images/train/"))[5]
    proxy.rules.append(Rule("PUT", "/persistent/" + victim, 500, times=1000))
    assert main(["run", *run_args("persistent", proxy.endpoint)]) == 1
    err = capsys.readouterr().err
    assert victim in err and "rerun" in err and "Traceback" not in err
    assert TEST_SECRET_KEY not in err and TEST_ACCESS_KEY not in err
    assert "_MANIFEST.json" not in objects(s3, "persistent/")
    proxy.rules.clear()
    assert main(["run", *run_args("persistent", proxy.endpoint)]) == 0
    assert objects(s3, "persistent/") == clean


def test_failed_task_attempts_are_retried_to_the_same_result(clean, s3, proxy):
    # More failures than botocore's 8 attempts: the first task attempt dies after writing its
    # JPEGs (index part) or after uploading part 1 of a shard; Spark's retry must finish the job.
    proxy.rules += [Rule("PUT", r"/retried/index/part-00001\.parquet", 500, times=9),
                    Rule("PUT", r"/retried/tfrecords/.*partNumber=2", 500, times=9)]
    out = finish(spark_submit(run_args("retried", proxy.endpoint)))
    assert "inputs 150" in out, out[-3000:]
    assert [r.total_fired for r in proxy.rules] == [9, 9]
    assert objects(s3, "retried/") == clean  # same keys, same bytes, nothing extra
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix="retried/").get("Uploads", []) == []
    assert TEST_SECRET_KEY not in out and TEST_ACCESS_KEY not in out


def test_a_killed_driver_leaves_no_manifest_and_the_rerun_completes(clean, s3, s3_endpoint):
    proc = spark_submit(run_args("killed", s3_endpoint))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not any(k.startswith("images/") for k in objects(s3, "killed/")):
        time.sleep(0.5)
    time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    partial = objects(s3, "killed/")
    assert partial and "_MANIFEST.json" not in partial and len(partial) < len(clean)
    out = finish(spark_submit(run_args("killed", s3_endpoint)))
    assert "inputs 150" in out, out[-3000:]
    assert objects(s3, "killed/") == clean
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
