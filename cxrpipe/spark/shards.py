"""`cxrpipe shards` on Spark: preprocessed index -> class-filtered TFRecord shards, one task each.

Only metadata moves through Spark's shuffle (which record goes to which shard, in which
order); the JPEGs are read by the task writing the shard. `cxrpipe run` reuses
``write_shards`` with records that already carry their JPEG bytes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .. import manifest, storage
from ..errors import UserError
from ..shard_tasks import ShardContext, ShardRecord, read_versions, write_shard
from ..shards import ShardOptions, Version, order_key, plan_shards, shard_of, shard_offsets, version_partitions
from ..verify import load_manifest
from .failures import job_failures
from .progress import progress_reporter

log = logging.getLogger(__name__)
GROUP = "cxrpipe-shards"


@dataclass(frozen=True)
class ShardsJob:
    """Everything `cxrpipe shards` was asked to do."""

    input_uri: str
    output_uri: str
    options: ShardOptions = ShardOptions()
    storage: storage.StorageConfig = storage.StorageConfig()


@dataclass
class ShardsSummary:
    manifest: dict
    seconds: float


def load_input(job: ShardsJob) -> dict:
    """The preprocessed dataset's manifest, checked against the requested classes.

    Raises:
        UserError: no finished dataset at the input, or unknown classes.
    """
    storage.check_reachable(job.input_uri, job.storage)
    storage.check_reachable(job.output_uri, job.storage, for_writing=True)
    try:
        source = load_manifest(job.input_uri, job.storage)
    except FileNotFoundError:
        raise UserError(f"--input {job.input_uri} has no _MANIFEST.json: preprocess it first "
                        "(or let that run finish)") from None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if source["kind"] != "preprocess":
        raise UserError(f"--input {job.input_uri} is a {source['kind']} dataset; shards need a preprocessed one")
    unknown = [c for c in job.options.classes or () if c not in source["classes"]]
    if unknown:
        raise UserError(f"--classes: unknown class {unknown[0]!r}; this dataset has {', '.join(source['classes'])}")
    return source


def run_shards(spark, job: ShardsJob, source: dict) -> ShardsSummary:
    """Write the shards and their manifest (last)."""
    started = time.monotonic()
    classes = tuple(source["classes"])
    parts = [storage.join(job.input_uri, f["path"]) for f in source["files"] if f["path"].startswith("index/")]
    config = job.storage
    sc = spark.sparkContext
    versions = sc.parallelize(parts, max(1, len(parts))).flatMap(
        lambda uri: [(v, None) for v in read_versions(uri, config)])
    records = to_records(versions, classes, job.options)
    ctx = ShardContext(job.input_uri, job.output_uri, config, classes, source["dataset"],
                       source["parameters"]["size"])
    manifest_uri = storage.join(job.output_uri, manifest.MANIFEST_NAME)
    storage.delete(manifest_uri, config)
    entries, stats = write_shards(spark, records, ctx, job.options)
    built = shards_manifest(ctx, _parameters(job, source), entries, stats)
    storage.write_bytes(manifest_uri, manifest.dumps(built), config)
    return ShardsSummary(built, time.monotonic() - started)


def to_records(versions, classes, options: ShardOptions):
    """RDD of (Version, JPEG bytes or None) -> RDD of ShardRecords, one per selected partition.

    The first selected partition of a version holds its primary copy.
    """
    return versions.flatMap(lambda pair: expand(pair, classes, options))


def expand(pair: tuple[Version, bytes | None], classes, options: ShardOptions) -> list[ShardRecord]:
    """One version's ShardRecords, one per selected partition (the first is primary)."""
    version, jpeg = pair
    partitions = version_partitions(version, classes, options)
    return [ShardRecord(version, p, i == 0, jpeg) for i, p in enumerate(partitions)]


def record_metadata(records) -> tuple[dict, dict]:
    """What planning needs from some records: (split, partition) -> JPEG bytes, and split ->
    (images, per-class positives) counting each selected image once. Mergeable with
    ``merge_metadata``, so tasks can compute it on the way (`cxrpipe run`)."""
    sizes, stats = {}, {}
    for r in records:
        key = (r.version.split, r.partition)
        sizes[key] = sizes.get(key, 0) + r.version.bytes
        if r.primary and r.version.augmentation == "none":
            stats[r.version.split] = _merge_stats(stats.get(r.version.split), (1, list(r.version.multi_hot)))
    return sizes, stats


def merge_metadata(parts) -> tuple[dict, dict]:
    sizes, stats = {}, {}
    for part_sizes, part_stats in parts:
        for key, n in part_sizes.items():
            sizes[key] = sizes.get(key, 0) + n
        for split, value in part_stats.items():
            stats[split] = _merge_stats(stats.get(split), value)
    return sizes, stats


def _merge_stats(a, b):
    return b if a is None else (a[0] + b[0], [x + y for x, y in zip(a[1], b[1])])


def write_shards(spark, records, ctx: ShardContext, options: ShardOptions,
                 metadata: tuple[dict, dict] | None = None) -> tuple[list[dict], dict]:
    """Plan shards from the records' sizes and write them, one task each.

    Args:
        metadata: the records' ``record_metadata`` when already known (`cxrpipe run` computes
            it in the preprocessing tasks); then the records are read once, by the writers,
            instead of being cached and read twice.

    Returns:
        The shards' manifest entries, and split -> (images, per-class positives) of the
        images they hold (each counted once).

    Raises:
        UserError: no record matches the class and split filters.
    """
    persist = metadata is None
    if persist:
        records = records.persist()
    try:
        if metadata is None:
            with job_failures("planning shards"):
                metadata = merge_metadata(records.mapPartitions(lambda rs: [record_metadata(rs)]).collect())
        sizes, stats = metadata
        if not sizes:
            raise UserError("no image matches --classes/--splits/--membership: nothing to shard")
        shards = plan_shards(sizes, ctx.classes, options)
        offsets = shard_offsets(shards)
        per_partition = {(s.split, s.partition): s.count for s in shards}
        return _write(spark, records, shards, offsets, per_partition, ctx, options.seed), stats
    finally:
        if persist:
            records.unpersist()


def _write(spark, records, shards, offsets, per_partition, ctx, seed) -> list[dict]:
    def keyed(record: ShardRecord):
        key = (record.version.split, record.partition)
        number = offsets[key] + shard_of(record.version, per_partition[key], seed)
        return (number, order_key(record.version, seed)), record

    sorted_records = records.map(keyed).repartitionAndSortWithinPartitions(
        len(shards), partitionFunc=lambda key: key[0])
    spark.sparkContext.setJobGroup(GROUP, "write shards", interruptOnCancel=True)
    try:
        with job_failures("writing shards"), progress_reporter(spark.sparkContext, GROUP, len(shards), "shards"):
            return sorted_records.mapPartitionsWithIndex(
                lambda i, items: [write_shard(shards[i], (r for _, r in items), ctx)]).collect()
    finally:
        # Tasks killed mid-upload cannot abort their own multipart uploads.
        storage.abort_incomplete_uploads(storage.join(ctx.output_root, "tfrecords/"), ctx.storage)


def shard_counts(entries: list[dict]) -> dict:
    """{split: {class: {augmentation: records}}} over the shards' manifest entries."""
    flat: dict = {}
    for entry in entries:
        for aug, n in entry["augmentations"].items():
            key = (entry["split"], entry["partition"], aug)
            flat[key] = flat.get(key, 0) + n
    return manifest.nested_counts(flat)


def shards_manifest(ctx: ShardContext, parameters: dict, entries: list[dict], stats: dict) -> dict:
    return manifest.build_manifest(
        kind="shards", dataset=ctx.dataset, classes=ctx.classes, parameters=parameters,
        inputs=sum(n for n, _ in stats.values()), counts=shard_counts(entries),
        images={s: n for s, (n, _) in stats.items()}, positives={s: p for s, (_, p) in stats.items()},
        rejects={}, excluded={}, files=entries,
    )


def _parameters(job: ShardsJob, source: dict) -> dict:
    o = job.options
    return {"input": job.input_uri, "classes": list(o.classes) if o.classes else None,
            "splits": list(o.splits) if o.splits else None, "membership": o.membership,
            "num_shards": o.num_shards, "shard_mb": o.shard_mb, "seed": o.seed,
            "preprocess": source["parameters"]}
