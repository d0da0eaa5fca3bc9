"""`--update`'s carrying tasks, run inside Spark executors (no pyspark needed here).

They copy what the current version holds for the images an update takes over, without the
images' sources: index parts' rows (`carry_index_parts`, which also gives the shard planner
the carried records' sizes when the new shards take those records straight from the current
ones, see ``shards.writer.Inherited``), and, when the shard seed changed, a shard's records
re-keyed into a piece file for the new shards (`carry_shard`). The bytes are the current
version's own; only the images in ``dropped`` (changed, relabelled or gone) are left out.
"""

from __future__ import annotations

from .. import features, storage, tables
from ..shards.pieces import PieceBuilder, PieceFile
from ..shards.plan import ShardRecord, Version, order_key, record_metadata
from ..shards.writer import ShardContext, piece_uri, version_from_row, write_pieces
from ..tfrecord import decode_example, frame, iter_records
from .task import JobContext, TaskResult, write_part


def carry_index_parts(number: int, part_uris: list[str], dropped: frozenset[str], ctx: JobContext,
                      metadata: bool = False) -> tuple[TaskResult, tuple[dict, dict] | None]:
    """Copy some current index parts' rows of carried images into part ``number`` of the new
    version, counted as a preprocessing task counts what it writes; with ``metadata``, also
    the planning metadata of the `run` shard records those rows stand for (as a framing task
    returns it)."""
    rows = [row for uri in part_uris for row in tables.from_parquet(storage.read_bytes(uri, ctx.storage))
            if row["image_id"] not in dropped]
    return _counted_part(number, rows, ctx), _record_metadata(rows) if metadata else None


def _record_metadata(rows: list[dict]) -> tuple[dict, dict]:
    # `run` shards with the job's own classes and membership, so its shards hold one record per
    # index row, the row's; reading them off the rows costs about half of ``expand``-ing each
    # version again (measured: 0.21 against 0.38 s for 32,844 rows). The driver checks the new
    # shards' record counts against the index's.
    records = (ShardRecord(version_from_row(row), row["partition"], row["primary"]) for row in rows)
    return record_metadata(records)


def _counted_part(number: int, rows: list[dict], ctx: JobContext) -> TaskResult:
    result = TaskResult(task=number)
    for row in rows:
        result.written[(row["split"], row["partition"], row["augmentation"])] += 1
        result.jpeg_bytes += row["bytes"]
        if row["primary"] and row["augmentation"] == "none":
            _count_image(result, row["split"], row["multi_hot"], len(ctx.classes))
    result.inputs = sum(result.images.values())
    result.files.append(write_part("index", rows, tables.INDEX_SCHEMA, number, ctx))
    return result


def _count_image(result: TaskResult, split: str, multi_hot, n_classes: int) -> None:
    result.images[split] += 1
    positives = result.positives.setdefault(split, [0] * n_classes)
    for i, flag in enumerate(multi_hot):
        positives[i] += flag


def carry_shard(number: int, shard_uri: str, dropped: frozenset[str],
                ctx: ShardContext) -> tuple[tuple[dict, dict], PieceFile | None]:
    """A current shard's records of carried images, keyed by the new seed into piece file
    ``number``, with their planning metadata (as a framing task returns them)."""
    builder, records = PieceBuilder(), []
    for payload in iter_records(storage.read_bytes(shard_uri, ctx.storage)):
        record = shard_record(decode_example(payload, RECORD_KEYS))
        if record.version.image_id in dropped:
            continue
        records.append(record)
        key = order_key(record.version, ctx.options.seed)
        builder.add((record.version.split, record.partition), key, record.version.augmentation, frame(payload))
    return record_metadata(records), write_pieces(builder, piece_uri(ctx.output_root, number), ctx.storage)


# What ``shard_record`` reads of an Example (the class texts and the rest are not parsed).
RECORD_KEYS = frozenset({features.ID, features.AUGMENTATION, features.SPLIT, features.PATIENT_ID,
                         features.CLASS_MULTI_HOT, features.CLASS_UNCERTAIN, features.VIEW, features.ENCODED,
                         features.PARTITION, features.PRIMARY})


def shard_record(example: dict) -> ShardRecord:
    """The record a shard's Example was written for (its JPEG's path is not in it: unused)."""
    def text(key: str) -> str:
        return example[key][0].decode()

    version = Version(
        image_id=text(features.ID), augmentation=text(features.AUGMENTATION), split=text(features.SPLIT),
        patient_id=text(features.PATIENT_ID), multi_hot=tuple(example[features.CLASS_MULTI_HOT]),
        uncertain=tuple(example[features.CLASS_UNCERTAIN]), view=text(features.VIEW), path="",
        bytes=len(example[features.ENCODED][0]))
    return ShardRecord(version, text(features.PARTITION), bool(example[features.PRIMARY][0]))
