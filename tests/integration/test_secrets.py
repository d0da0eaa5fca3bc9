"""Secrets never leave the process: not in error lines, not in DEBUG logs, on any channel."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import TEST_ACCESS_KEY, TEST_SECRET_KEY, free_port

ENDPOINT_PASSWORD = "endpoint-pass-0123456789"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789abcdef"


def cxrpipe(*argv, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cxrpipe.cli", *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def assert_no_secret(*texts):
    for text in texts:
        for secret in (ENDPOINT_PASSWORD, SESSION_TOKEN, TEST_SECRET_KEY, TEST_ACCESS_KEY):
            assert secret not in text


@pytest.mark.parametrize("argv", [
    ["inspect", "s3://bucket/data"],
    ["verify", "s3://bucket/data"],
    ["report", "s3://bucket/data", "--out", "{tmp}/report"],
    ["preprocess", "--dataset", "nih", "--index", "s3://bucket/i.csv", "--images", "s3://bucket/img",
     "--output", "s3://bucket/out"],
])
def test_credentials_in_the_endpoint_url_are_never_echoed(argv, tmp_path):
    endpoint = f"http://AKIAENDPOINTUSER0001:{ENDPOINT_PASSWORD}@127.0.0.1:{free_port()}"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    for how in (["--s3-endpoint", endpoint], []):
        done = cxrpipe(*argv, *how, env={} if how else {"AWS_ENDPOINT_URL": endpoint})
        assert done.returncode in (1, 2), done.stderr
        assert "***@127.0.0.1" in done.stderr or "127.0.0.1" not in done.stderr
        assert_no_secret(done.stdout, done.stderr)


def test_debug_logs_mask_tokens_and_key_ids(s3, s3_endpoint):
    s3.create_bucket(Bucket="cxr-secrets")
    done = cxrpipe("inspect", "s3://cxr-secrets/none", "--s3-endpoint", s3_endpoint, "--log-level", "DEBUG",
                   env={"AWS_SESSION_TOKEN": SESSION_TOKEN})
    assert done.returncode == 2 and "no manifest" in done.stderr
    assert "botocore" in done.stderr and "***" in done.stderr   # it did log, and masked
    assert_no_secret(done.stdout, done.stderr)


def test_redact_covers_urls_key_ids_and_signing_headers():
    from cxrpipe.redact import redact

    text = ("cannot reach http://u:p4ssw0rd@host:9000/x; key AKIAIOSFODNN7EXAMPLE; "
            "{'X-Amz-Security-Token': b'IQoJb3JpZ2luX2VjEXAMPLE', 'Authorization': b'AWS4-HMAC-SHA256'} "
            "secret=" + TEST_SECRET_KEY)
    out = redact(text, secrets=[TEST_SECRET_KEY])
    for secret in ("p4ssw0rd", "AKIAIOSFODNN7EXAMPLE", "IQoJb3JpZ2luX2VjEXAMPLE", "AWS4-HMAC-SHA256", TEST_SECRET_KEY):
        assert secret not in out
    assert "http://***@host:9000/x" in out
