"""The Parquet tables a dataset root holds: the index of written JPEGs and the rejects.

One declared schema per table, used to write (from the executors) and to read (verify,
inspect, shards). Parquet bytes are built in memory: a part is one task's rows, a few hundred
small rows at most.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

INDEX_SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("patient_id", pa.string()),
    ("split", pa.string()),
    ("partition", pa.string()),
    ("augmentation", pa.string()),
    ("primary", pa.bool_()),
    ("path", pa.string()),            # relative to the dataset root
    ("bytes", pa.int64()),
    ("sha256", pa.string()),
    ("height", pa.int32()),
    ("width", pa.int32()),
    ("multi_hot", pa.list_(pa.int8())),   # one per class, in the manifest's class order
    ("uncertain", pa.list_(pa.int8())),
    ("view", pa.string()),
    ("source", pa.string()),          # relative to the images root
    ("source_format", pa.string()),
    ("source_height", pa.int32()),
    ("source_width", pa.int32()),
    # The source's S3 ETag, or a local file's size and mtime (``storage.read_tagged``): how
    # `--update` knows an input is unchanged without reading it.
    ("source_etag", pa.string()),
])

REJECTS_SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("source", pa.string()),
    ("reason", pa.string()),
    ("detail", pa.string()),
])


def to_parquet(rows: list[dict], schema: pa.Schema) -> bytes:
    """Rows (dicts keyed by the schema's names) as Parquet file bytes; empty rows give an empty table."""
    columns = {name: [row[name] for row in rows] for name in schema.names}
    table = pa.Table.from_pydict(columns, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes, columns: list[str] | None = None) -> list[dict]:
    """Parquet file bytes back to rows (of only ``columns``, when given)."""
    # One thread: a part is small, and pyarrow 26's reader threads abort the process at exit
    # ("terminate called without an active exception", exit 134) after a threaded read.
    return pq.read_table(io.BytesIO(data), columns=columns, use_threads=False).to_pylist()
