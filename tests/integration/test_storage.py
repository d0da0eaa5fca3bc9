"""The storage layer's contract, the same for the S3 server on 127.0.0.1 and local paths."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from cxrpipe import storage
from cxrpipe.errors import UserError
from cxrpipe.upload import StreamWriter

BUCKET = "cxr-storage-test"


@pytest.fixture(params=["s3", "local"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "root"), storage.StorageConfig()
    s3, endpoint = request.getfixturevalue("s3"), request.getfixturevalue("s3_endpoint")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    return f"s3://{BUCKET}/{tmp_path.name}", storage.StorageConfig(endpoint_url=endpoint)


def test_write_read_list_delete(root):
    base, config = root
    storage.check_reachable(base, config, for_writing=True)
    for key in ["b/2.bin", "a/1.bin", "a/0.bin"]:
        storage.write_bytes(storage.join(base, key), key.encode(), config)
    assert storage.list_keys(base, config) == ["a/0.bin", "a/1.bin", "b/2.bin"]
    assert storage.read_bytes(storage.join(base, "b/2.bin"), config) == b"b/2.bin"
    storage.delete(storage.join(base, "a/1.bin"), config)
    assert not storage.exists(storage.join(base, "a/1.bin"), config)
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(storage.join(base, "a/1.bin"), config)


def test_stream_writer_uploads_in_parts_and_keeps_the_checksum(root, request):
    base, config = root
    data = os.urandom(12 * 1024 * 1024 + 123)
    uri = storage.join(base, "big.tfrecord")
    with StreamWriter(uri, dataclasses.replace(config, part_bytes=5 * 1024 * 1024)) as sink:
        for start in range(0, len(data), 1_000_000):
            sink.write(data[start:start + 1_000_000])
    assert storage.read_bytes(uri, config) == data
    assert (sink.size, sink.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    if storage.is_s3(uri):  # it really was a multipart upload: S3's ETag says how many parts
        s3 = request.getfixturevalue("s3")
        etag = s3.head_object(Bucket=BUCKET, Key=storage.split_s3(uri)[1])["ETag"]
        assert etag.strip('"').endswith("-3")


def test_failed_stream_leaves_no_object_and_no_incomplete_upload(root, request):
    base, config = root
    uri = storage.join(base, "failed.tfrecord")
    with pytest.raises(RuntimeError):
        with StreamWriter(uri, dataclasses.replace(config, part_bytes=5 * 1024 * 1024)) as sink:
            sink.write(os.urandom(11 * 1024 * 1024))
            raise RuntimeError("the task died")
    assert not storage.exists(uri, config)
    if storage.is_s3(uri):
        s3 = request.getfixturevalue("s3")
        assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    else:  # no temporary file left either (list_keys would hide one: look at the folder itself)
        assert [p for p in Path(base).rglob("*") if p.is_file()] == []


def test_missing_bucket_and_unreachable_endpoint_are_user_errors(s3_endpoint):
    with pytest.raises(UserError, match="does not exist"):
        storage.check_reachable("s3://no-such-bucket/x", storage.StorageConfig(endpoint_url=s3_endpoint))
    dead = storage.StorageConfig(endpoint_url="http://127.0.0.1:9", max_attempts=1, connect_timeout=1)
    with pytest.raises(UserError, match="cannot reach"):
        storage.check_reachable("s3://bucket/x", dead)


def test_part_size_below_the_s3_minimum_is_refused():
    with pytest.raises(ValueError, match="5 MiB"):
        storage.StorageConfig(part_bytes=1024)


def test_incomplete_uploads_under_a_prefix_are_aborted(s3, s3_endpoint):
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    for key in ["job/tfrecords/a.tfrecord", "job/tfrecords/b.tfrecord", "other/c.tfrecord"]:
        s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    config = storage.StorageConfig(endpoint_url=s3_endpoint)
    assert storage.abort_incomplete_uploads(f"s3://{BUCKET}/job/", config) == 2
    left = [u["Key"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]
    assert left == ["other/c.tfrecord"]
    storage.abort_incomplete_uploads(f"s3://{BUCKET}/other/", config)


def test_endpoint_flag_beats_the_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://from-env:1")
    assert storage.StorageConfig.from_env("http://flag:2").endpoint_url == "http://flag:2"
    assert storage.StorageConfig.from_env(None).endpoint_url == "http://from-env:1"
