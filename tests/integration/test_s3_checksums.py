"""The S3 client configuration used against AWS itself, exercised against a local server over TLS.

botocore >= 1.36 sends AWS a CRC32 with every upload: over HTTPS as an ``aws-chunked`` body with
the checksum in a trailer, which is what real S3 receives from the executors. Custom endpoints get
``when_required`` (no checksums) by default, which the rest of the suite exercises; here
``--s3-checksums on`` turns AWS's behaviour on against moto's server behind TLS.

What moto does and does not do: it decodes aws-chunked bodies, stores and returns the checksums
(reads then validate them in botocore), and keeps composite multipart checksums; it does NOT reject
a wrong checksum or a CompleteMultipartUpload that omits part checksums, as S3 does. So the
requests themselves are checked here, as S3 would check them.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cxrpipe import s3client, storage
from cxrpipe.upload import StreamWriter
from tests.conftest import SERVER_LIFETIME_SECONDS, free_port, stop_process

BUCKET = "checksummed"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made for this run (never shipped)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_endpoint(tmp_path_factory):
    """moto's S3 server behind TLS on 127.0.0.1 (bounded by `timeout`, stopped by its PID), with
    ``AWS_CA_BUNDLE`` naming its certificate, as a private CA would be named."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(directory)
    port = free_port()
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    log = open(directory / "server.log", "wb")
    proc = subprocess.Popen(["timeout", str(SERVER_LIFETIME_SECONDS), server, "-H", "127.0.0.1", "-p", str(port),
                             "-c", str(cert), "-k", str(key)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"https://127.0.0.1:{port}"
    previous = os.environ.get("AWS_CA_BUNDLE")
    os.environ["AWS_CA_BUNDLE"] = str(cert)
    try:
        wait_for_tls(endpoint + "/", cert, 60)
        yield endpoint
    finally:
        if previous is None:
            os.environ.pop("AWS_CA_BUNDLE", None)
        else:
            os.environ["AWS_CA_BUNDLE"] = previous
        stop_process(proc)
        log.close()


def wait_for_tls(url: str, cert: Path, deadline_seconds: float) -> None:
    context = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1, context=context).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {deadline_seconds} s")


def recorded_requests(config: storage.StorageConfig) -> list[tuple[str, str, dict, bytes]]:
    """(method, url, headers, body) of every request this process's client for ``config`` sends."""
    sent = []

    def record(request, **_):
        body = request.body if isinstance(request.body, bytes) else b""
        sent.append((request.method, request.url, {k.lower(): v for k, v in request.headers.items()}, body))

    s3client.s3_client(config).meta.events.register("before-send.s3", record)
    return sent


@pytest.fixture(scope="module")
def checksummed(tls_endpoint):
    """A bucket on the TLS server and a config sending AWS's checksums to it."""
    config = storage.StorageConfig(endpoint_url=tls_endpoint, checksums=True, part_bytes=storage.MIN_PART_BYTES)
    s3client.s3_client(config).create_bucket(Bucket=BUCKET)
    return config


def header(headers: dict, name: str) -> str:
    value = headers.get(name, b"")
    return value.decode() if isinstance(value, bytes) else str(value)


def test_checksums_default_to_on_for_aws_and_off_for_other_endpoints():
    aws = s3client.client_options(storage.StorageConfig())
    assert aws["request_checksum_calculation"] == aws["response_checksum_validation"] == "when_supported"
    assert "s3" not in aws  # AWS's own (virtual-hosted) addressing
    other = s3client.client_options(storage.StorageConfig(endpoint_url="http://127.0.0.1:9000"))
    assert other["request_checksum_calculation"] == other["response_checksum_validation"] == "when_required"
    forced = s3client.client_options(storage.StorageConfig(endpoint_url="http://127.0.0.1:9000", checksums=True))
    assert forced["request_checksum_calculation"] == "when_supported"


def test_a_put_sends_its_crc32_in_an_aws_chunked_trailer_and_reads_validate_it(checksummed):
    sent = recorded_requests(checksummed)
    data = os.urandom(300_000)
    uri = f"s3://{BUCKET}/single/object.jpg"
    storage.write_bytes(uri, data, checksummed)
    assert storage.read_bytes(uri, checksummed) == data

    put = next(h for m, u, h, _ in sent if m == "PUT" and u.endswith("/single/object.jpg"))
    assert header(put, "content-encoding") == "aws-chunked"
    assert header(put, "x-amz-trailer") == "x-amz-checksum-crc32"
    assert header(put, "x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert header(put, "x-amz-decoded-content-length") == str(len(data))
    get = next(h for m, u, h, _ in sent if m == "GET" and u.endswith("/single/object.jpg"))
    assert header(get, "x-amz-checksum-mode") == "ENABLED"  # botocore checks the CRC32 the server returns
    stored = s3client.s3_client(checksummed).head_object(Bucket=BUCKET, Key="single/object.jpg", ChecksumMode="ENABLED")
    assert stored["ChecksumCRC32"]


def test_a_streamed_multipart_object_names_its_algorithm_and_lists_every_part_checksum(checksummed):
    sent = recorded_requests(checksummed)
    data = os.urandom(2 * storage.MIN_PART_BYTES + 12345)
    uri = f"s3://{BUCKET}/tfrecords/train/shard-00000-of-00001.tfrecord"
    with StreamWriter(uri, checksummed) as writer:
        for start in range(0, len(data), 1 << 20):
            writer.write(data[start:start + (1 << 20)])
    assert storage.read_bytes(uri, checksummed) == data

    key_url = "/tfrecords/train/shard-00000-of-00001.tfrecord"
    create = next(h for m, u, h, _ in sent if m == "POST" and key_url + "?uploads" in u)
    assert header(create, "x-amz-checksum-algorithm") == "CRC32"
    parts = [h for m, u, h, _ in sent if m == "PUT" and key_url + "?" in u and "partNumber=" in u]
    assert len(parts) == 3
    assert all(header(h, "x-amz-trailer") == "x-amz-checksum-crc32" for h in parts)
    complete = next(b for m, u, h, b in sent if m == "POST" and key_url + "?uploadId=" in u)
    # S3 refuses to complete an upload made with an algorithm unless each part's checksum is listed.
    assert len(re.findall(rb"<ChecksumCRC32>[A-Za-z0-9+/=]+</ChecksumCRC32>", complete)) == 3
    stored = s3client.s3_client(checksummed).get_object(Bucket=BUCKET, Key=key_url[1:], ChecksumMode="ENABLED")
    assert (stored["ChecksumType"], stored["ChecksumCRC32"][-2:]) == ("COMPOSITE", "-3")  # over the three parts


def test_without_checksums_no_checksum_travels(tls_endpoint, checksummed):
    plain = storage.StorageConfig(endpoint_url=tls_endpoint, part_bytes=storage.MIN_PART_BYTES)
    sent = recorded_requests(plain)
    storage.write_bytes(f"s3://{BUCKET}/plain/object.jpg", b"plain bytes", plain)
    put = next(h for m, u, h, _ in sent if m == "PUT")
    assert not any(name.startswith("x-amz-checksum") or name == "x-amz-trailer" for name in put)
    stored = s3client.s3_client(checksummed).head_object(Bucket=BUCKET, Key="plain/object.jpg", ChecksumMode="ENABLED")
    assert "ChecksumCRC32" not in stored  # so a stored CRC32 shows that one was sent


def test_a_whole_run_and_its_verify_with_aws_checksums_over_tls(tls_endpoint, checksummed, tmp_path):
    from cxrpipe.cli import main

    raw = tmp_path / "raw"
    assert main(["synth", "--layout", "nih", "--out", str(raw), "--n", "24", "--image-size", "160"]) == 0
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    output = f"s3://{BUCKET}/runs/nih"
    common = ["--s3-endpoint", tls_endpoint, "--s3-checksums", "on", "--s3-part-mb", "5"]
    done = subprocess.run(
        [sys.executable, "-m", "cxrpipe.cli", "run", "--dataset", "nih", "--index", str(raw / "Data_Entry_2017.csv"),
         "--images", str(raw / "images"), "--output", output, "--num-shards", "2", "--master", "local[2]", *common],
        env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    checked = subprocess.run([sys.executable, "-m", "cxrpipe.cli", "verify", output, *common],
                             env=env, capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert "OK" in checked.stdout
    listing = s3client.s3_client(checksummed).list_objects_v2(Bucket=BUCKET, Prefix="runs/nih/images/")
    first = listing["Contents"][0]["Key"]
    stored = s3client.s3_client(checksummed).head_object(Bucket=BUCKET, Key=first, ChecksumMode="ENABLED")
    assert stored["ChecksumCRC32"]  # the executors' uploads carried checksums too
