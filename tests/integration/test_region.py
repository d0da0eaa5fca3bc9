"""The region boto3 clients use: flag, environment, then the EC2 instance's own (EMR nodes set
no region; without one boto3 takes the global endpoint, unreachable from a private subnet with
only an S3 gateway endpoint). The instance metadata service cannot run here: a stand-in on
127.0.0.1 answers its two requests (token, availability zone) as EC2's does."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from cxrpipe import s3client, storage


@pytest.fixture
def metadata_service(monkeypatch):
    requests = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, body: bytes):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self):
            requests.append(("PUT", self.path))
            self._answer(b"token-abc")

        def do_GET(self):
            requests.append(("GET", self.path, self.headers.get("X-aws-ec2-metadata-token")))
            self._answer(b"eu-west-1b")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}/")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/cxrpipe-test-config")
    yield requests
    server.shutdown()
    server.server_close()


def test_without_any_region_the_instance_region_is_used(metadata_service):
    region = s3client.client_region(storage.StorageConfig(), boto3.session.Session())
    assert region == "eu-west-1"
    assert metadata_service == [("PUT", "/latest/api/token"),
                                ("GET", "/latest/meta-data/placement/availability-zone/", "token-abc")]


def test_flag_and_environment_win_and_custom_endpoints_never_ask(metadata_service, monkeypatch):
    assert s3client.client_region(storage.StorageConfig(region="ap-southeast-2"), boto3.session.Session()) == "ap-southeast-2"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert s3client.client_region(storage.StorageConfig(), boto3.session.Session()) == "us-west-2"
    monkeypatch.delenv("AWS_REGION")
    assert s3client.client_region(storage.StorageConfig(endpoint_url="http://127.0.0.1:9"), boto3.session.Session()) is None
    assert metadata_service == []


def test_the_region_reaches_the_client_executors_build(metadata_service):
    config = storage.StorageConfig.from_env(None, None, "ca-central-1")
    client = s3client._new_s3_client(config)
    assert client.meta.region_name == "ca-central-1"
    assert client.meta.endpoint_url == "https://s3.ca-central-1.amazonaws.com"
    assert client.meta.config.retries["mode"] == "adaptive"
