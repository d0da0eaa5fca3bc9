"""Streamed uploads: one object written in pieces, never held whole, visible only when complete."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

from . import s3client, storage

log = logging.getLogger(__name__)


def completed_part(number: int, answer: dict) -> dict:
    """The ``Parts`` entry of CompleteMultipartUpload for an UploadPart answer: S3 refuses to
    complete an upload made with a checksum algorithm unless every part's checksum is listed."""
    part = {"PartNumber": number, "ETag": answer["ETag"]}
    checksum = f"Checksum{s3client.MULTIPART_CHECKSUM}"
    if checksum in answer:
        part[checksum] = answer[checksum]
    return part


class StreamWriter:
    """Write one object in pieces without holding it whole; visible only after ``close``.

    S3: one PUT when it stays under a part, else a multipart upload that ``abort`` (called on
    any failure) cancels, so no incomplete upload is left behind. Local: a temporary file
    renamed into place. The SHA-256 and size of what was written are kept for the manifest.
    """

    def __init__(self, uri: str, config: storage.StorageConfig):
        self.uri, self._config = uri, config
        self._part_bytes = config.part_bytes
        self._buffer = bytearray()
        self._hash = hashlib.sha256()
        self.size = 0
        self._upload_id: str | None = None
        self._parts: list[dict] = []
        self._local_tmp: Path | None = None
        self._local_file = None

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)
        self._buffer += data
        if len(self._buffer) >= self._part_bytes:
            self._flush_part()

    def close(self) -> None:
        """Publish the object."""
        if self._local_tmp is not None:
            self._flush_part()
            self._local_file.close()
            os.replace(self._local_tmp, storage.local_path(self.uri))
        elif self._upload_id is None:
            storage.write_bytes(self.uri, bytes(self._buffer), self._config)
        else:
            if self._buffer:
                self._upload_part()
            bucket, key = storage.split_s3(self.uri)
            s3client.patiently(lambda: s3client.s3_client(self._config).complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts}), self._config)
        self._buffer = bytearray()

    def abort(self) -> None:
        """Drop everything written so far (never raises: it runs while handling a failure)."""
        if self._local_tmp is not None:
            self._local_file.close()
            self._local_tmp.unlink(missing_ok=True)
        if self._upload_id is not None:
            bucket, key = storage.split_s3(self.uri)
            try:
                s3client.s3_client(self._config).abort_multipart_upload(Bucket=bucket, Key=key, UploadId=self._upload_id)
            except s3client.aws_errors() as exc:  # the original failure matters more than this one
                log.warning("could not abort the multipart upload of %s: %s", self.uri, s3client.error_code(exc) or exc)
        self._buffer = bytearray()

    def _flush_part(self) -> None:
        if storage.is_s3(self.uri):
            self._upload_part()
            return
        if self._local_tmp is None:
            path = storage.local_path(self.uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._local_tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
            self._local_file = open(self._local_tmp, "wb")
        self._local_file.write(self._buffer)
        self._buffer = bytearray()

    def _upload_part(self) -> None:
        bucket, key = storage.split_s3(self.uri)
        client = s3client.s3_client(self._config)
        checksum = ({"ChecksumAlgorithm": s3client.MULTIPART_CHECKSUM} if self._config.sends_checksums else {})
        if self._upload_id is None:
            self._upload_id = s3client.patiently(
                lambda: client.create_multipart_upload(Bucket=bucket, Key=key, **checksum), self._config)["UploadId"]
        number = len(self._parts) + 1
        part = bytes(self._buffer)
        try:
            answer = s3client.patiently(lambda: client.upload_part(
                Bucket=bucket, Key=key, UploadId=self._upload_id, PartNumber=number, Body=part,
                ContentMD5=storage.content_md5(part), **checksum), self._config)
        except s3client.aws_errors() as exc:
            raise s3client.storage_error(f"uploading part {number} of", self.uri, exc) from None
        self._parts.append(completed_part(number, answer))
        self._buffer = bytearray()

    def __enter__(self) -> "StreamWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
