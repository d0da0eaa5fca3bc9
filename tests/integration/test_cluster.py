"""A real standalone Spark cluster on 127.0.0.1: an executor SIGKILLed mid-job, the job still whole.

The test starts a master and two one-core workers with `spark-class`, submits `jobs/run.py`
against the S3 server, waits until an executor is really running tasks (the driver's REST
API), kills that executor's JVM with SIGKILL, and checks the result byte for byte against a
clean in-process run. Every process it starts is stopped by its PID at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cxrpipe.cli import main
from conftest import free_port, stop_process, wait_for_http
from s3objects import objects

BUCKET = "cxr-cluster"
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LIFETIME = "900"  # seconds: a forgotten daemon dies by itself


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(["timeout", LIFETIME, *args], env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def alive_workers(url: str) -> int:
    try:
        return sum(w["state"] == "ALIVE" for w in get_json(url)["workers"])
    except (OSError, ValueError):  # the UI answers before its JSON is ready
        return 0


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process we started and its children (its own session), by its PID."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    stop_process(proc)


@pytest.fixture
def cluster(tmp_path):
    """A master and two workers (1 core, 1 GB each) bound to 127.0.0.1."""
    port, ui = free_port(), free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    procs = [start([str(BIN / "spark-class"), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", str(port), "--webui-port", str(ui)], tmp_path / "master.log", env)]
    try:
        wait_for_http(f"http://127.0.0.1:{ui}/json/", 60)
        for i in range(2):
            work = tmp_path / f"worker{i}"
            work.mkdir()
            procs.append(start([str(BIN / "spark-class"), "org.apache.spark.deploy.worker.Worker",
                                f"spark://127.0.0.1:{port}", "--host", "127.0.0.1", "--cores", "1",
                                "--memory", "1g", "--webui-port", str(free_port())],
                               tmp_path / f"worker{i}.log", {**env, "SPARK_WORKER_DIR": str(work)}))
        deadline = time.monotonic() + 90
        while alive_workers(f"http://127.0.0.1:{ui}/json/") < 2:
            assert time.monotonic() < deadline, "workers did not register"
            time.sleep(0.5)
        yield f"spark://127.0.0.1:{port}"
    finally:
        for proc in reversed(procs):
            stop_group(proc)


def executor_pid(executor_id: str) -> int | None:
    """The PID of the executor JVM with this id (its command line names it)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"org.apache.spark.executor.CoarseGrainedExecutorBackend" in cmdline and \
                b"--executor-id" in cmdline and cmdline[cmdline.index(b"--executor-id") + 1] == executor_id.encode():
            return int(entry.name)
    return None


def busy_executor(ui: str, deadline: float) -> str:
    """Wait until some executor is running tasks; return its id."""
    while time.monotonic() < deadline:
        try:
            apps = get_json(f"{ui}/api/v1/applications")
            executors = get_json(f"{ui}/api/v1/applications/{apps[0]['id']}/executors") if apps else []
        except (OSError, ValueError):
            executors = []
        busy = [e["id"] for e in executors if e["id"] != "driver" and e["activeTasks"] > 0]
        if busy:
            return busy[0]
        time.sleep(0.3)
    raise AssertionError("no executor ran a task in time")


def test_run_survives_a_killed_executor(cluster, s3, s3_endpoint, spark, tmp_path):
    s3.create_bucket(Bucket=BUCKET)
    ep = ["--s3-endpoint", s3_endpoint]
    assert main(["synth", "--layout", "nih", "--out", f"s3://{BUCKET}/raw", "--n", "160",
                 "--image-size", "512", *ep]) == 0
    args = ["--dataset", "nih", "--index", f"s3://{BUCKET}/raw/Data_Entry_2017.csv",
            "--images", f"s3://{BUCKET}/raw/images", "--images-per-task", "6", "--num-shards", "2", *ep]
    assert main(["run", *args, "--output", f"s3://{BUCKET}/clean"]) == 0

    ui_port = free_port()
    driver = start([str(BIN / "spark-submit"), "--master", cluster, "--conf", f"spark.ui.port={ui_port}",
                    "--conf", f"spark.pyspark.python={sys.executable}", "--conf", "spark.executor.memory=768m",
                    str(REPO / "jobs/run.py"), *args, "--output", f"s3://{BUCKET}/cluster"],
                   tmp_path / "driver.log", {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"})
    try:
        victim = busy_executor(f"http://127.0.0.1:{ui_port}", time.monotonic() + 240)
        pid = executor_pid(victim)
        assert pid is not None, f"executor {victim} has no process"
        os.kill(pid, signal.SIGKILL)
        assert driver.wait(600) == 0, (tmp_path / "driver.log").read_text()[-4000:]
    finally:
        stop_group(driver)

    log = (tmp_path / "driver.log").read_text()
    assert f"Lost executor {victim}" in log or f"Executor {victim} " in log or "ExecutorLostFailure" in log
    assert main(["verify", f"s3://{BUCKET}/cluster", *ep]) == 0

    assert objects(s3, BUCKET, "cluster/") == objects(s3, BUCKET, "clean/")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
