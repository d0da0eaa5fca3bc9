"""Storage: objects under ``s3://bucket/prefix`` URIs or local paths, read and written alike.

Every function takes a ``StorageConfig`` (picklable, so Spark tasks can carry it) and resolves
the backend from the URI's scheme through ``BACKENDS``. The S3 client itself (made lazily, once
per process and endpoint: a boto3 client does not pickle and costs ~50 ms to make), its retries
and its error meanings live in ``cxrpipe.s3client``; the two are the data path's only boto3 users.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import threading
from urllib.parse import urlsplit
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import UnreadableObject, UserError
from .s3client import (UNREADABLE_OBJECT, aws_errors, error_code, patiently, s3_client, storage_error, store_wide,
                       user_facing_error)

log = logging.getLogger(__name__)

# S3 parts must be >= 5 MiB except the last; 16 MiB keeps a 128 MB shard at 8 parts while
# bounding what a writer holds in memory to one part.
MIN_PART_BYTES = 5 * 1024 * 1024
PART_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class StorageConfig:
    """How to reach object storage; credentials come from the usual AWS chain, never from here.

    Attributes:
        endpoint_url: an S3-compatible endpoint (``--s3-endpoint`` or ``AWS_ENDPOINT_URL``);
            None means AWS itself.
        region: the buckets' region (``--s3-region``); None: each process resolves it as
            ``client_region`` says (environment, profile, then the EC2 instance's own).
        max_attempts: botocore's retries per call after the first attempt (throttling, 5xx,
            connection errors), in its ``adaptive`` mode, which also slows this process's
            request rate while S3 throttles.
        throttle_seconds: how long one call may keep waiting out throttling (503 SlowDown)
            after botocore gave up or its retry quota ran dry (``patiently``).
        connect_timeout, read_timeout: seconds.
        part_bytes: the multipart upload part size of streamed objects (shards).
        checksums: send CRC32 checksums with every upload and validate them on reads (botocore's
            ``when_supported``, what AWS gets by default); None: on for AWS, off for an
            S3-compatible endpoint, many of which reject them (``--s3-checksums``).
    """

    endpoint_url: str | None = None
    region: str | None = None
    max_attempts: int = 8
    throttle_seconds: float = 900.0
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    part_bytes: int = PART_BYTES
    checksums: bool | None = None

    def __post_init__(self):
        if self.endpoint_url is not None:
            parts = urlsplit(self.endpoint_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"--s3-endpoint (or AWS_ENDPOINT_URL): expected http(s)://HOST[:PORT], "
                                 f"got {self.endpoint_url!r}")
        if self.part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part size must be at least 5 MiB (S3's minimum), got {self.part_bytes} bytes")

    @classmethod
    def from_env(cls, endpoint_url: str | None = None, part_mb: float | None = None,
                 region: str | None = None, checksums: bool | None = None) -> "StorageConfig":
        """The flags win over ``AWS_ENDPOINT_URL`` and the region's usual sources; empty
        strings count as unset."""
        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        options = {"part_bytes": int(part_mb * 1024 * 1024)} if part_mb is not None else {}
        return cls(endpoint_url=endpoint, region=region or None, checksums=checksums, **options)

    @property
    def sends_checksums(self) -> bool:
        return self.checksums if self.checksums is not None else self.endpoint_url is None


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> (``bucket``, ``a/b``).

    Raises:
        UserError: the URI names no bucket.
    """
    rest = uri[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise UserError(f"{uri!r} names no bucket: use s3://BUCKET/PREFIX")
    return bucket, key


def join(base: str, *parts: str) -> str:
    """Join URI or path components with ``/`` (S3 keys and local paths alike)."""
    pieces = [base.rstrip("/")] + [p.strip("/") for p in parts if p]
    return "/".join(pieces)


def overlap(a: str, b: str) -> bool:
    """Whether one location contains the other (or they are the same): S3 prefixes compared
    by whole path components, local paths after resolving symlinks and ``..``."""
    if is_s3(a) != is_s3(b):
        return False
    parts_a, parts_b = _components(a), _components(b)
    shorter = min(len(parts_a), len(parts_b))
    return parts_a[:shorter] == parts_b[:shorter]


def _components(uri: str) -> tuple[str, ...]:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        return (bucket, *(part for part in key.split("/") if part))
    return local_path(uri).resolve().parts


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_md5(data: bytes) -> str:
    """The Content-MD5 header value: S3 rejects an upload whose bytes changed on the way."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# ---------------------------------------------------------------- local backend


class _Local:
    @staticmethod
    def read(uri: str, config: StorageConfig) -> bytes:
        try:
            with open(local_path(uri), "rb") as f:
                return f.read()
        except (IsADirectoryError, PermissionError, NotADirectoryError) as exc:
            raise UnreadableObject(f"{uri}: {exc.strerror}") from None

    @staticmethod
    def read_tagged(uri: str, config: StorageConfig) -> tuple[bytes, str]:
        # Taken before the read: a file changed while it is read gets a tag that the next
        # update sees as changed.
        try:
            tag = local_tag(os.stat(local_path(uri)))
        except (PermissionError, NotADirectoryError) as exc:
            raise UnreadableObject(f"{uri}: {exc.strerror}") from None
        return _Local.read(uri, config), tag

    @staticmethod
    def read_range(uri: str, start: int, end: int, config: StorageConfig) -> bytes:
        with open(local_path(uri), "rb") as f:
            return os.pread(f.fileno(), end - start, start)

    @staticmethod
    def write(uri: str, data: bytes, config: StorageConfig) -> None:
        path = local_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a killed task never leaves a half-written file under the final name.
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    @staticmethod
    def list(uri: str, config: StorageConfig) -> list[str]:
        return sorted(_Local.iter(uri, config))

    @staticmethod
    def iter(uri: str, config: StorageConfig):
        yield from (key for key, _ in _Local.walk(uri))

    @staticmethod
    def iter_tagged(uri: str, config: StorageConfig):
        yield from ((key, local_tag(path.stat())) for key, path in _Local.walk(uri))

    @staticmethod
    def iter_modified(uri: str, config: StorageConfig):
        yield from ((key, datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)) for key, path in _Local.walk(uri))

    @staticmethod
    def walk(uri: str):
        root = local_path(uri)
        if not root.is_dir():
            return
        for folder, _, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                key = path.relative_to(root).as_posix()
                if not _is_partial(key):
                    yield key, path

    @staticmethod
    def delete(uri: str, config: StorageConfig) -> None:
        local_path(uri).unlink(missing_ok=True)

    @staticmethod
    def exists(uri: str, config: StorageConfig) -> bool:
        return local_path(uri).is_file()

    @staticmethod
    def check_container(uri: str, config: StorageConfig, for_writing: bool) -> None:
        path = local_path(uri)
        if for_writing:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file in the way, no permission, a read-only disk
                raise UserError(f"{uri}: cannot create this folder ({exc.strerror or exc})") from None
        elif not path.exists():
            raise UserError(f"{uri} does not exist")


def _is_partial(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    return name.startswith(".") and ".tmp-" in name


def local_tag(stat: os.stat_result) -> str:
    """A local file's stand-in for an ETag: its size and modification time in nanoseconds
    (what rsync and make trust). Reading every file to hash it would cost an update what a
    full run costs."""
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def local_path(uri: str) -> Path:
    """The filesystem path of a local URI (plain path or file://)."""
    return Path(uri[len("file://"):] if uri.startswith("file://") else uri)


# ---------------------------------------------------------------- S3 backend

class _S3:
    @staticmethod
    def read(uri: str, config: StorageConfig) -> bytes:
        return _S3.get(uri, config)

    @staticmethod
    def read_tagged(uri: str, config: StorageConfig) -> tuple[bytes, str]:
        return _S3.get(uri, config, tagged=True)

    @staticmethod
    def read_range(uri: str, start: int, end: int, config: StorageConfig) -> bytes:
        return _S3.get(uri, config, Range=f"bytes={start}-{end - 1}")

    @staticmethod
    def get(uri: str, config: StorageConfig, tagged: bool = False, **options):
        bucket, key = split_s3(uri)

        def fetch():
            response = s3_client(config).get_object(Bucket=bucket, Key=key, **options)
            data = response["Body"].read()
            return (data, etag(response["ETag"])) if tagged else data

        try:
            return patiently(fetch, config)
        except aws_errors() as exc:  # map the ones we act on
            code = error_code(exc)
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise FileNotFoundError(uri) from None
            if store_wide(exc):
                raise user_facing_error(bucket, exc) from None
            if code in UNREADABLE_OBJECT:
                raise UnreadableObject(f"{uri}: {UNREADABLE_OBJECT[code]} ({code})") from None
            raise storage_error("reading", uri, exc) from None

    @staticmethod
    def write(uri: str, data: bytes, config: StorageConfig) -> None:
        bucket, key = split_s3(uri)
        try:
            patiently(lambda: s3_client(config).put_object(Bucket=bucket, Key=key, Body=data,
                                                           ContentMD5=content_md5(data)), config)
        except aws_errors() as exc:
            raise storage_error("writing", uri, exc) from None

    @staticmethod
    def list(uri: str, config: StorageConfig) -> list[str]:
        return sorted(_S3.iter(uri, config))

    @staticmethod
    def iter(uri: str, config: StorageConfig):
        yield from (key for key, _ in _S3.iter_tagged(uri, config))

    @staticmethod
    def iter_tagged(uri: str, config: StorageConfig):
        yield from ((key, etag(obj["ETag"])) for key, obj in _S3.listing(uri, config))

    @staticmethod
    def iter_modified(uri: str, config: StorageConfig):
        yield from ((key, obj["LastModified"]) for key, obj in _S3.listing(uri, config))

    @staticmethod
    def listing(uri: str, config: StorageConfig):
        """(key relative to ``uri``, the listing's entry) of every object under it."""
        bucket, prefix = split_s3(uri)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        paginator = s3_client(config).get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                yield from ((obj["Key"][len(prefix):], obj) for obj in page.get("Contents", []))
        except aws_errors() as exc:
            raise storage_error("listing", uri, exc) from None

    @staticmethod
    def delete(uri: str, config: StorageConfig) -> None:
        bucket, key = split_s3(uri)
        try:
            s3_client(config).delete_object(Bucket=bucket, Key=key)
        except aws_errors() as exc:
            raise storage_error("deleting", uri, exc) from None

    @staticmethod
    def exists(uri: str, config: StorageConfig) -> bool:
        bucket, key = split_s3(uri)
        try:
            s3_client(config).head_object(Bucket=bucket, Key=key)
        except aws_errors() as exc:
            if error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise storage_error("checking", uri, exc) from None
        return True

    @staticmethod
    def check_container(uri: str, config: StorageConfig, for_writing: bool) -> None:
        bucket, _ = split_s3(uri)
        try:
            s3_client(config).head_bucket(Bucket=bucket)
        except aws_errors() as exc:
            code = error_code(exc)
            if code in {"404", "NoSuchBucket", "NotFound"}:
                raise UserError(
                    f"bucket {bucket!r} does not exist (cxrpipe never creates buckets): "
                    f"create it first, e.g. `aws s3 mb s3://{bucket}`"
                ) from None
            raise user_facing_error(bucket, exc) from None


def etag(value: str) -> str:
    """An S3 ETag without the quotes S3 wraps it in (GET and LIST agree on the rest)."""
    return value.strip('"')


BACKENDS = {"s3": _S3, "local": _Local}


def _backend(uri: str):
    return BACKENDS["s3" if is_s3(uri) else "local"]


# ---------------------------------------------------------------- the public surface


def read_bytes(uri: str, config: StorageConfig) -> bytes:
    """The object's bytes.

    Raises:
        FileNotFoundError: no such object.
        OSError: storage failed after retries (the message names the URI).
    """
    return _backend(uri).read(uri, config)


def read_tagged(uri: str, config: StorageConfig) -> tuple[bytes, str]:
    """The object's bytes and its tag: S3's ETag from the same GET, or a local file's size and
    modification time (``local_tag``). ``list_tags`` gives the same tag for an unchanged object.

    Raises:
        as ``read_bytes``.
    """
    return _backend(uri).read_tagged(uri, config)


def list_tags(uri: str, config: StorageConfig) -> dict[str, str]:
    """Every object under ``uri`` (relative to it) -> its tag, as ``read_tagged`` gives it."""
    return dict(_backend(uri).iter_tagged(uri, config))


def list_modified(uri: str, config: StorageConfig) -> dict[str, datetime]:
    """Every object under ``uri`` (relative to it) -> when it was last written, in UTC."""
    return dict(_backend(uri).iter_modified(uri, config))


def read_range(uri: str, start: int, end: int, config: StorageConfig) -> bytes:
    """Bytes [start, end) of the object.

    Raises:
        FileNotFoundError: no such object.
        OSError: storage failed after retries, or fewer bytes came than asked for.
    """
    data = _backend(uri).read_range(uri, start, end, config)
    if len(data) != end - start:
        raise OSError(f"reading {uri} bytes {start}-{end}: got {len(data)} bytes, expected {end - start}")
    return data


def write_bytes(uri: str, data: bytes, config: StorageConfig) -> None:
    """Store ``data`` at ``uri`` whole or not at all (S3 PUT; local write-then-rename)."""
    _backend(uri).write(uri, data, config)


def iter_keys(uri: str, config: StorageConfig):
    """Every object under ``uri``, relative to it, a listing page at a time (no order
    promised): for a pass over millions of keys without holding them."""
    return _backend(uri).iter(uri, config)


def list_keys(uri: str, config: StorageConfig) -> list[str]:
    """Every object under ``uri``, as sorted paths relative to it (sorted so runs repeat)."""
    return _backend(uri).list(uri, config)


def delete(uri: str, config: StorageConfig) -> None:
    """Remove the object if it exists."""
    _backend(uri).delete(uri, config)


def delete_all(uri: str, config: StorageConfig) -> int:
    """Remove every object under ``uri`` (a folder or prefix), and a local folder itself;
    returns how many objects went."""
    keys = list_keys(uri, config)
    if is_s3(uri):
        with ThreadPoolExecutor(16, thread_name_prefix="cxrpipe-delete") as pool:
            list(pool.map(lambda key: delete(join(uri, key), config), keys))
    elif local_path(uri).exists():
        shutil.rmtree(local_path(uri))
    return len(keys)


def exists(uri: str, config: StorageConfig) -> bool:
    """Whether an object exists at ``uri``."""
    return _backend(uri).exists(uri, config)


def abort_incomplete_uploads(uri: str, config: StorageConfig) -> int:
    """Abort every unfinished multipart upload under ``uri`` (S3 only); returns how many.

    A task killed mid-upload (SIGKILL, a lost executor) cannot abort its own upload; the
    driver calls this once the job's tasks are over so no parts linger (and cost) in the bucket.
    """
    if not is_s3(uri):
        return 0
    bucket, prefix = split_s3(uri)
    client = s3_client(config)
    aborted = 0
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            aborted += 1
    if aborted:
        log.warning("aborted %d incomplete multipart upload(s) under %s", aborted, uri)
    return aborted


def check_reachable(uri: str, config: StorageConfig, for_writing: bool = False) -> None:
    """Fail early, with a message a user can act on, if ``uri``'s bucket or folder is unusable.

    Raises:
        UserError: missing bucket or folder, no credentials, endpoint unreachable, access denied.
    """
    try:
        _backend(uri).check_container(uri, config, for_writing)
    except aws_errors() as exc:
        raise user_facing_error(split_s3(uri)[0] if is_s3(uri) else uri, exc) from None
