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


def test_a_failed_job_ends_in_one_line_naming_spark_log_file(clean, s3, proxy):
    victim = sorted(k for k in clean if k.startswith("images/train/"))[3]
    proxy.rules.append(Rule("PUT", "/onelined/" + victim, 500, times=10_000))
    out = finish(spark_submit(run_args("onelined", proxy.endpoint)))
    lines = out.strip().splitlines()
    assert lines[-1].startswith("cxrpipe run: failed: run (preprocessing) failed after Spark's task retries")
    assert victim in lines[-1] and " Spark's log: " in lines[-1]
    # Neither the JVM's stack, its task errors nor the Python workers' tracebacks reach the
    # terminal (Spark's start-up INFO lines before cxrpipe takes over its log still do) ...
    assert "\tat org.apache" not in out and "Traceback" not in out, out[-6000:]
    assert not [line for line in lines if " ERROR " in line or "WARN TaskSetManager" in line]
    # ... they are in the file the line names.
    log = Path(lines[-1].rsplit(" Spark's log: ", 1)[1].strip())
    text = log.read_text()
    assert "\tat org.apache" in text and victim in text
    assert TEST_SECRET_KEY not in out and TEST_ACCESS_KEY not in out


def test_sustained_throttling_of_half_the_puts_is_waited_out(clean, s3, proxy):
    # Three PUTs in four answered 503 SlowDown for 40 s: far past botocore's retry quota (500
    # tokens, about 2 net per request at this rate), as while S3 repartitions a busy prefix.
    proxy.rules.append(Rule("PUT", r"^/cxr-faults/sustained/", 503, times=10**9, share=0.75, for_seconds=40))
    started = time.monotonic()
    out = finish(spark_submit(run_args("sustained", proxy.endpoint), master="local[2]"))
    assert "inputs 150" in out, out[-3000:]
    # The clients slow down under throttling (botocore's adaptive mode), so fewer requests
    # arrive in the window than at full speed; what matters is that it lasted and was survived.
    assert proxy.rules[0].total_fired >= 30, proxy.rules[0].total_fired
    assert time.monotonic() - started > 40
    assert objects(s3, "sustained/") == clean
    print(f"throttled {proxy.rules[0].total_fired} PUTs; job took {time.monotonic() - started:.0f} s")


def test_throttling_past_botocores_attempts_is_waited_out_and_nothing_else_is(clean, s3, proxy):
    from cxrpipe import storage

    # Two botocore retries per call here (eight in production): throttling beyond them, or
    # beyond an emptied retry quota, is waited out by cxrpipe; an internal error is not.
    config = storage.StorageConfig(endpoint_url=proxy.endpoint, max_attempts=2)
    proxy.rules += [Rule("PUT", "/patient/slow", 503, times=5), Rule("PUT", "/patient/broken", 500, times=5)]
    storage.write_bytes(f"s3://{BUCKET}/patient/slow", b"after five SlowDowns", config)
    assert proxy.rules[0].total_fired == 5
    assert s3.get_object(Bucket=BUCKET, Key="patient/slow")["Body"].read() == b"after five SlowDowns"
    with pytest.raises(OSError, match="InternalError"):
        storage.write_bytes(f"s3://{BUCKET}/patient/broken", b"x", config)
    assert proxy.rules[1].total_fired == 3  # botocore's max_attempts counts retries: 1 + 2
    proxy.rules.append(Rule("PUT", "/patient/budget", 503, times=5))
    with pytest.raises(OSError, match="SlowDown"):
        storage.write_bytes(f"s3://{BUCKET}/patient/budget", b"x",
                            storage.StorageConfig(endpoint_url=proxy.endpoint, max_attempts=2, throttle_seconds=0))
