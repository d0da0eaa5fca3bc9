"""The work of one shard-writing task, run inside a Spark executor (no pyspark, no TensorFlow).

A task receives its shard's records already in shard order, fetches each JPEG (a few reads in
flight) unless the record carries its bytes (`cxrpipe run`), frames a tf.train.Example per
record and streams the file to storage (multipart on S3, aborted on failure).
"""

from __future__ import annotations

from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator

from . import features, storage, tables
from .shards import Shard, Version
from .tfrecord import RecordWriter
from .upload import StreamWriter

READ_AHEAD = 8


@dataclass(frozen=True)
class ShardContext:
    """What every shard task shares (picklable)."""

    input_root: str          # where the JPEGs are (the preprocessed dataset root)
    output_root: str
    storage: storage.StorageConfig
    classes: tuple[str, ...]
    dataset: str             # image/source
    size: int                # image/height and image/width


@dataclass(frozen=True)
class ShardRecord:
    """One record to write: a version in a partition, with its JPEG when already in memory."""

    version: Version
    partition: str
    primary: bool
    jpeg: bytes | None = None


def read_versions(part_uri: str, config: storage.StorageConfig) -> list[Version]:
    """The versions a preprocessed index part lists, once each (its primary copy's row)."""
    rows = tables.from_parquet(storage.read_bytes(part_uri, config))
    return [version_from_row(row) for row in rows if row["primary"]]


def version_from_row(row: dict) -> Version:
    return Version(
        image_id=row["image_id"], augmentation=row["augmentation"], split=row["split"],
        patient_id=row["patient_id"], multi_hot=tuple(row["multi_hot"]),
        uncertain=tuple(row["uncertain"]), view=row["view"], path=row["path"], bytes=row["bytes"],
    )


def example_bytes(record: ShardRecord, jpeg: bytes, ctx: ShardContext) -> bytes:
    """The serialized tf.train.Example of one record, by the one feature spec."""
    v = record.version
    positive = [i for i, flag in enumerate(v.multi_hot) if flag]
    return features.build_example(
        len(ctx.classes), encoded=jpeg, height=ctx.size, width=ctx.size, id=v.image_id,
        patient_id=v.patient_id, split=v.split, partition=record.partition,
        augmentation=v.augmentation, class_label=positive,
        class_text=[ctx.classes[i] for i in positive], class_multi_hot=list(v.multi_hot),
        class_uncertain=list(v.uncertain), primary=int(record.primary), source=ctx.dataset,
        view=v.view,
    )


def write_shard(shard: Shard, records: Iterable[ShardRecord], ctx: ShardContext) -> dict:
    """Write one shard (empty when it has no records) and return its manifest entry.

    Raises:
        OSError: storage failed after retries; the multipart upload is aborted first.
    """
    counts: Counter = Counter()
    uri = storage.join(ctx.output_root, shard.path)
    with StreamWriter(uri, ctx.storage) as sink, \
            ThreadPoolExecutor(4, thread_name_prefix="cxrpipe-shard-io") as pool:
        writer = RecordWriter(sink)
        for record, jpeg in _with_jpegs(records, ctx, pool):
            writer.write(example_bytes(record, jpeg, ctx))
            counts[record.version.augmentation] += 1
    return {"path": shard.path, "bytes": sink.size, "sha256": sink.sha256,
            "records": sum(counts.values()), "split": shard.split, "partition": shard.partition,
            "augmentations": dict(sorted(counts.items()))}


def _with_jpegs(records: Iterable[ShardRecord], ctx: ShardContext, pool) -> Iterator[tuple[ShardRecord, bytes]]:
    """(record, JPEG bytes) in record order, reading ahead when the bytes are not carried."""
    pending: deque = deque()
    for record in records:
        if record.jpeg is not None:
            pending.append((record, None))
        else:
            uri = storage.join(ctx.input_root, record.version.path)
            pending.append((record, pool.submit(storage.read_bytes, uri, ctx.storage)))
        if len(pending) >= READ_AHEAD:
            yield _resolve(*pending.popleft())
    while pending:
        yield _resolve(*pending.popleft())


def _resolve(record: ShardRecord, future) -> tuple[ShardRecord, bytes]:
    return record, (record.jpeg if future is None else future.result())
