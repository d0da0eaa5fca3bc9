"""Fixtures shared by the suite: an S3 server on 127.0.0.1 and one local Spark session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

# Fake credentials for the local S3 server, set before any Spark worker starts so the workers
# inherit them; the secret test greps outputs for these exact strings.
TEST_ACCESS_KEY = "AKIACXRPIPETESTKEY01"
TEST_SECRET_KEY = "cxrpipe-test-secret-do-not-log-0123456789"
os.environ.update({
    "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
    "AWS_DEFAULT_REGION": "us-east-1",
    "PYSPARK_PYTHON": sys.executable,
})
for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(name, None)

SERVER_LIFETIME_SECONDS = 3600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, deadline_seconds: float) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {deadline_seconds} s")


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process we started, by its own PID: TERM, then KILL."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """moto's S3 server over real HTTP on 127.0.0.1, bounded by `timeout`, stopped at the end."""
    port = free_port()
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "wb")
    proc = subprocess.Popen(
        ["timeout", str(SERVER_LIFETIME_SECONDS), server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(endpoint + "/", 60)
        yield endpoint
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="session")
def s3(s3_endpoint):
    """A boto3 client on the test server (for arranging and checking, never the code under test)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=s3_endpoint, config=Config(
        s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
        response_checksum_validation="when_required"))


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole run (starting one costs ~10 s here)."""
    from cxrpipe.spark.session import spark_session

    session = spark_session("local[2]", conf={"spark.ui.enabled": "false"})
    yield session
    session.stop()
