"""`cxrpipe shards` on Spark: preprocessed index -> class-filtered TFRecord shards.

Two jobs, with only metadata through Spark. Tasks framing records (one per index part here;
the preprocessing tasks in `cxrpipe run`) write one piece file each under ``_pieces/`` and
return the partitions' sizes and their pieces' layout. The driver plans the shard counts from
the sizes and each shard's byte ranges from the layouts; a shard's writer reads its ranges
and merges them in seeded order (small shards share a task: ``shard_tasks``). The pieces are
deleted once the shards are written.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass

from .. import history, layout, manifest, storage
from ..errors import UserError
from ..phases import phase
from ..shards.pieces import PieceFile, plan_reads
from ..shards.writer import Inherited, ShardContext, part_pieces, write_shard
from ..shards.plan import ShardOptions, merge_metadata, plan_shards, shard_tasks
from ..dataset import NoDataset, open_dataset
from ..manifest import Manifest
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
    input_version: int | None = None   # a version of the input other than its current one


@dataclass
class ShardsSummary:
    manifest: Manifest
    seconds: float


def load_input(job: ShardsJob) -> Manifest:
    """The preprocessed dataset's manifest, checked against the requested classes.

    Raises:
        UserError: no finished dataset at the input, or unknown classes.
    """
    if storage.overlap(job.input_uri, job.output_uri):
        raise UserError(f"--output {job.output_uri} overlaps --input {job.input_uri} (one contains the "
                        "other): write the shards to a dataset root of their own")
    storage.check_reachable(job.input_uri, job.storage)
    storage.check_reachable(job.output_uri, job.storage, for_writing=True)
    try:
        source = open_dataset(job.input_uri, job.storage, job.input_version).manifest
    except NoDataset as exc:
        raise UserError(f"--input: {exc}; preprocess it first (or let that run finish)") from None
    # A `run` output holds the preprocessed JPEGs and index too: it can be re-sharded.
    if not source.has_images:
        raise UserError(f"--input {job.input_uri} is a {source.kind} dataset; shards need a "
                        "preprocessed one (the output of preprocess or run)")
    return source


def check_selection(source: Manifest, options: ShardOptions) -> None:
    """Refuse, before the output's manifest is touched, a selection the input has no image for.

    Raises:
        UserError: no (split, partition) of the input's counts matches --classes and --splits.
    """
    present = {(split, partition) for split, per_split in source.counts.items() for partition in per_split}
    wanted = [(split, partition) for split, partition in sorted(present)
              if (options.splits is None or split in options.splits)
              and (options.classes is None or partition in options.classes)]
    if not wanted:
        raise UserError(f"no image matches --classes {','.join(options.classes or ['(all)'])} and --splits "
                        f"{','.join(options.splits or ['(all)'])}: the input has "
                        + ", ".join(f"{s}/{p}" for s, p in sorted(present)))


def run_shards(spark, job: ShardsJob, source: Manifest, before_commit=lambda: None) -> ShardsSummary:
    """Write the shards and their manifest (last); ``before_commit`` (the lease check) is
    called just before the manifest is written and may raise to stop the commit."""
    started = time.monotonic()
    parts = [storage.join(job.input_uri, f["path"]) for f in source.files_under("index")]
    try:
        size = source.preprocessing_option("size")
    except ValueError as exc:
        raise UserError(f"--input: {exc}") from None
    commit = history.start_commit(job.output_uri, job.storage, {})
    ctx = ShardContext(job.input_uri, job.output_uri, job.storage, source.classes, source.dataset, size, job.options,
                       commit.version)
    sc = spark.sparkContext
    sc.setJobGroup(GROUP, "frame records", interruptOnCancel=True)
    with pieces_folder(ctx):
        with job_failures("reading the preprocessed images"), \
                progress_reporter(sc, GROUP, len(parts), "index parts"):
            outputs = sc.parallelize(list(enumerate(parts)), max(1, len(parts))).map(
                lambda task: part_pieces(task[0], task[1], ctx)).collect()
        entries, stats = write_shards(spark, [p for _, p in outputs if p], ctx,
                                      merge_metadata(m for m, _ in outputs))
    built = shards_manifest(ctx, _parameters(job, source), entries, stats)
    return ShardsSummary(commit.write(built, before_commit), time.monotonic() - started)


@contextmanager
def pieces_folder(ctx: ShardContext):
    """Around a job that writes piece files: they are deleted however it ends (a crashed
    run's are overwritten by the next one's tasks, then deleted). Failing to delete them is a
    warning: it must neither fail a finished job nor hide why a job failed."""
    folder = storage.join(ctx.output_root, layout.PIECES)
    try:
        yield
    finally:
        try:
            storage.delete_all(folder, ctx.storage)
        except (OSError, UserError) as exc:
            log.warning("could not delete the piece files under %s (%s); they are not part of the "
                        "dataset and the next run replaces them", folder, exc)


def write_shards(spark, pieces: list[PieceFile], ctx: ShardContext,
                 metadata: tuple[dict, dict], inherited=None) -> tuple[list[dict], dict]:
    """Plan shards from the records' sizes and write them (``shard_tasks`` to a task).

    Args:
        pieces: the piece files the framing tasks wrote.
        metadata: the framing tasks' merged ``record_metadata`` (an update's carried records'
            included).
        inherited: for an update whose new shards take the carried records from the current
            ones (``writer.Inherited``): ((split, partition) -> the current shards' paths, the
            dropped ids' broadcast).

    Returns:
        The shards' manifest entries, and split -> (images, per-class positives) of the
        images they hold (each counted once).

    Raises:
        UserError: no record matches the class and split filters.
    """
    sizes, stats = metadata
    if not sizes:
        raise UserError("no image matches --classes/--splits/--membership: nothing to shard")
    with phase("shard planning"):
        try:
            shards = plan_shards(sizes, ctx.classes, ctx.options)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        current, dropped = inherited or ({}, None)
        work = [(shard, reads, current.get((shard.split, shard.partition)))
                for shard, reads in zip(shards, plan_reads(shards, pieces))]
        tasks = [[(i, work[i]) for i in task] for task in shard_tasks(shards, sizes)]
    sc = spark.sparkContext
    sc.setJobGroup(GROUP, "write shards", interruptOnCancel=True)

    def write(w):
        shard, reads, paths = w
        kept = Inherited(tuple(storage.join(ctx.output_root, p) for p in paths), dropped.value) if paths else None
        return write_shard(shard, reads, ctx, kept)

    try:
        with job_failures("writing shards"), progress_reporter(sc, GROUP, len(shards), "shards"), \
                phase("shard writes", "spark"):
            written = sc.parallelize(tasks, len(tasks)).flatMap(lambda task: [(i, write(w)) for i, w in task]).collect()
            entries = [entry for _, entry in sorted(written, key=lambda pair: pair[0])]
    finally:
        # Tasks killed mid-upload cannot abort their own multipart uploads.
        storage.abort_incomplete_uploads(storage.join(ctx.output_root, layout.TFRECORDS + "/"), ctx.storage)
    return entries, stats


def shard_counts(entries: list[dict]) -> dict:
    """{split: {class: {augmentation: records}}} over the shards' manifest entries."""
    flat: dict = {}
    for entry in entries:
        for aug, n in entry["augmentations"].items():
            key = (entry["split"], entry["partition"], aug)
            flat[key] = flat.get(key, 0) + n
    return manifest.nested_counts(flat)


def shards_manifest(ctx: ShardContext, parameters: dict, entries: list[dict], stats: dict) -> Manifest:
    return manifest.build_manifest(
        kind="shards", dataset=ctx.dataset, classes=ctx.classes, parameters=parameters,
        inputs=sum(n for n, _ in stats.values()), counts=shard_counts(entries),
        images={s: n for s, (n, _) in stats.items()}, positives={s: p for s, (_, p) in stats.items()},
        rejects={}, excluded={}, files=entries,
    )


def _parameters(job: ShardsJob, source: Manifest) -> dict:
    o = job.options
    return {"input": job.input_uri, "classes": list(o.classes) if o.classes else None,
            "splits": list(o.splits) if o.splits else None, "membership": o.membership,
            "num_shards": o.num_shards, "shard_mb": o.shard_mb, "seed": o.seed,
            **({"input_version": source.version} if job.input_version is not None else {}),
            "preprocess": source.parameters}
