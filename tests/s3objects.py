"""Reading a bucket back in tests: keys, contents and Parquet rows under a prefix."""

from __future__ import annotations

import io

import pyarrow.parquet as pq


def object_keys(s3, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``, whole and in listing order."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def objects(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    """Key relative to ``prefix`` -> bytes, for every object under it."""
    return {k[len(prefix):]: s3.get_object(Bucket=bucket, Key=k)["Body"].read()
            for k in object_keys(s3, bucket, prefix)}


def parquet_rows(s3, bucket: str, prefix: str) -> list[dict]:
    """The rows of every Parquet part under ``prefix``, part after part."""
    return [row for data in objects(s3, bucket, prefix).values()
            for row in pq.read_table(io.BytesIO(data)).to_pylist()]
