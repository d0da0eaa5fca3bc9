"""The work of shard building inside Spark executors (no pyspark, no TensorFlow).

Records are framed where their JPEG is in hand: in the preprocessing task (`cxrpipe run`) or in
a task reading one index part's JPEGs (`cxrpipe shards`), and written as one piece file per
task (``cxrpipe.shards.pieces``). A shard-writing task reads its byte range of each piece, keeps the
ranges in a local spill file, and writes their records in key order, streaming the shard to
storage (multipart on S3, aborted on failure). Its memory holds one range and an index entry
per record, whatever the shard's size.
"""

from __future__ import annotations

import heapq
import os
import tempfile
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from .. import features, layout, storage, tables
from ..prefetch import in_order
from ..tfrecord import first_texts, frame, framed_records, iter_records
from ..upload import StreamWriter
from .pieces import PieceBuilder, PieceFile, entries
from .plan import (Shard, ShardOptions, ShardRecord, Version, covering_shards, expand, order_key, record_key,
                   record_metadata, shard_of_key)



@dataclass(frozen=True)
class ShardContext:
    """What every shard task shares (picklable)."""

    input_root: str          # where the JPEGs are (the preprocessed dataset root)
    output_root: str
    storage: storage.StorageConfig
    classes: tuple[str, ...]
    dataset: str             # image/source
    size: int                # image/height and image/width
    options: ShardOptions = ShardOptions()
    version: int = 1         # the dataset version the shards belong to (names their folder)


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


def piece_uri(output_root: str, task: int) -> str:
    return storage.join(output_root, layout.piece_path(task))


def frame_version(version: Version, jpeg: bytes, ctx: ShardContext, builder: PieceBuilder) -> list[ShardRecord]:
    """Frame a version's record in each selected partition into ``builder``; returns the records."""
    records = expand(version, ctx.classes, ctx.options)
    frame_records(records, jpeg, ctx, builder)
    return records


def frame_records(records: list[ShardRecord], jpeg: bytes, ctx: ShardContext, builder: PieceBuilder) -> None:
    """Frame one version's records (``expand``'s) into ``builder``."""
    if records:
        key = order_key(records[0].version, ctx.options.seed)
        for record in records:
            framed = frame(example_bytes(record, jpeg, ctx))
            builder.add((record.version.split, record.partition), key, record.version.augmentation, framed)


def write_pieces(builder: PieceBuilder, uri: str, config: storage.StorageConfig) -> PieceFile | None:
    """Store a task's piece file (none when it framed nothing)."""
    data, layout = builder.encode()
    if not layout:
        return None
    storage.write_bytes(uri, data, config)
    return PieceFile(uri, layout)


def part_pieces(task: int, part_uri: str, ctx: ShardContext,
                skip: frozenset[str] = frozenset()) -> tuple[tuple[dict, dict], PieceFile | None]:
    """`cxrpipe shards`: one index part's records framed into a piece file, with their
    planning metadata. Reads only the JPEGs of selected versions, a few reads in flight.
    Images whose ids are in ``skip`` are left out (`--update`: the ones it processes again)."""
    expanded = [rs for v in read_versions(part_uri, ctx.storage)
                if v.image_id not in skip and (rs := expand(v, ctx.classes, ctx.options))]
    builder = PieceBuilder()
    with ThreadPoolExecutor(4, thread_name_prefix="cxrpipe-shard-io") as pool:
        reads = (partial(storage.read_bytes, storage.join(ctx.input_root, rs[0].version.path), ctx.storage)
                 for rs in expanded)
        for records, jpeg in zip(expanded, in_order(pool, reads)):
            frame_records(records, jpeg, ctx, builder)
    metadata = record_metadata(r for records in expanded for r in records)
    return metadata, write_pieces(builder, piece_uri(ctx.output_root, task), ctx.storage)


def write_shard(shard: Shard, ranges: list[tuple[str, int, int]], ctx: ShardContext,
                inherited: Inherited | None = None) -> dict:
    """Write one shard from its (piece URI, start, end) ranges (none: an empty shard), and,
    for an update, the current version's records it keeps, and return its manifest entry.

    Raises:
        OSError: storage failed after retries; the multipart upload is aborted first.
        CorruptRecord: a record read back from a piece or a current shard fails its CRC
            (nothing is published).
    """
    counts: Counter = Counter()
    path = layout.shard_path(shard.split, shard.partition, shard.index, shard.count, ctx.version)
    uri = storage.join(ctx.output_root, path)
    # Spark gives its Python workers their executor's local directories (big, fast disks).
    spill_dir = os.environ.get("SPARK_LOCAL_DIRS", tempfile.gettempdir()).split(",")[0]
    with tempfile.TemporaryFile(dir=spill_dir) as spill, StreamWriter(uri, ctx.storage) as sink, \
            ThreadPoolExecutor(4, thread_name_prefix="cxrpipe-shard-io") as pool:
        index = []
        reads = (partial(storage.read_range, piece, start, end, ctx.storage) for piece, start, end in ranges)
        for data in in_order(pool, reads):
            index.extend(entries(data, spill.tell()))
            spill.write(data)
        spill.flush()
        new = _spilled_records(spill, sorted(index))
        kept = inherited.records(shard, ctx, pool) if inherited else ()
        for _, augmentation, record in heapq.merge(new, kept, key=lambda r: r[0]):
            sink.write(record)
            counts[augmentation] += 1
    return {"path": path, "bytes": sink.size, "sha256": sink.sha256,
            "records": sum(counts.values()), "split": shard.split, "partition": shard.partition,
            "augmentations": dict(sorted(counts.items()))}


def _spilled_records(spill, index):
    """(key, augmentation, framed record) of the pieces' records, in key order."""
    for key, offset, length, augmentation in index:
        record = os.pread(spill.fileno(), length, offset)
        # Both CRCs, ~4 us a record: a piece damaged in storage fails the task (Spark retries
        # it) instead of becoming a shard whose manifest checksum vouches for bad bytes.
        deque(iter_records(record), maxlen=0)
        yield key, augmentation, record


@dataclass(frozen=True)
class Inherited:
    """`--update`: the current version's shards of one partition, which the new shards take
    their carried records from as they are (framing included), when both versions order
    records by the same seed. The current shard k of n holds, in key order, the records whose
    key falls in k's range, so a new shard's carried records are those of the current shards
    covering its range (``covering_shards``), less the dropped images', already in order.
    """

    uris: tuple[str, ...]           # the current version's shards of the partition, by number
    dropped: frozenset[str]         # images the new version does not carry (changed or gone)

    def records(self, shard: Shard, ctx: ShardContext, pool):
        """(key, augmentation, framed record) of ``shard``'s carried records, in key order."""
        covering = [self.uris[k] for k in covering_shards(shard.index, shard.count, len(self.uris))]
        reads = (partial(storage.read_bytes, uri, ctx.storage) for uri in covering)
        for uri, data in zip(covering, in_order(pool, reads, ahead=2)):   # two shards in memory at most
            try:
                for payload, framed in framed_records(data):
                    texts = first_texts(payload, _KEY_FEATURES)
                    image_id = texts[features.ID].decode()
                    if image_id in self.dropped:
                        continue
                    augmentation = texts[features.AUGMENTATION].decode()
                    key = record_key(ctx.options.seed, image_id, augmentation)
                    if shard_of_key(key, shard.count) == shard.index:
                        yield key, augmentation, framed
            except ValueError as exc:   # CorruptRecord too
                raise ValueError(f"the current version's shard {uri} is damaged ({exc}); `cxrpipe verify` "
                                 "names every damaged file; run without --update to rebuild") from None


_KEY_FEATURES = frozenset({features.ID, features.AUGMENTATION})
