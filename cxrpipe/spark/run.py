"""`cxrpipe run`: preprocess and shard in one Spark pass, without reading the JPEGs back.

Preprocessing tasks write the JPEGs, index and rejects as `preprocess` does, and frame each
version's records while its JPEG is in hand into a piece file for the shard writers
(``cxrpipe.shards.pieces``). The outputs equal those of `preprocess` followed by `shards` with the same
options.
"""

from __future__ import annotations

import dataclasses
import time

from .. import history
from ..errors import JobFailed
from ..preprocessing.plan import Plan
from ..phases import phase
from ..shards.pieces import PieceBuilder
from ..shards.writer import ShardContext, frame_version, piece_uri, write_pieces
from ..shards.plan import ShardOptions, merge_metadata, record_metadata
from ..preprocessing.task import JobContext, run_task
from .preprocess import (GROUP as PREPROCESS_GROUP, PreprocessJob, RunSummary, check_rejects, job_context,
                         preprocess_manifest, progress_units)
from .update import carry_work, run_carry, shared_dropped
from .failures import job_failures
from .progress import progress_reporter
from .shards import pieces_folder, shard_counts, write_shards


def _task_outputs(task, ctx: JobContext, shard_ctx: ShardContext):
    builder, records = PieceBuilder(), []
    result = run_task(task[0], task[1], ctx,
                      on_version=lambda v, jpeg: records.extend(frame_version(v, jpeg, shard_ctx, builder)))
    pieces = write_pieces(builder, piece_uri(shard_ctx.output_root, task[0]), shard_ctx.storage)
    return result, record_metadata(records), pieces


def _outputs(work, ctx: JobContext, shard_ctx: ShardContext, dropped):
    """One task of the job: (kind, what it returns); processing tasks give (TaskResult,
    metadata, piece file), an update's carrying tasks what ``run_carry`` gives."""
    kind, number, source = work
    if kind == "process":
        return kind, _task_outputs((number, source), ctx, shard_ctx)
    return kind, run_carry(work, dropped.value, ctx, shard_ctx)


def _gathered(outputs) -> tuple[list, list]:
    """The tasks' (TaskResults, [(metadata, piece file)])."""
    results, pieces = [], []
    for kind, value in outputs:
        if kind == "process":
            results.append(value[0])
            pieces.append(value[1:])
        elif kind.startswith("index"):
            results.append(value[0])
            if value[1] is not None:
                pieces.append((value[1], None))
        else:
            pieces.append(value)
    return results, pieces


def check_carried_records(index_counts: dict, record_counts: dict, carried) -> None:
    """An update's shards must hold one record per index row, as a full run's do; if the
    current version's shards and index disagree (damaged or edited), say so before the commit.

    Raises:
        JobFailed: the counts differ.
    """
    if index_counts != record_counts:
        raise JobFailed(f"--update: the new shards hold other record counts than the new index lists "
                        f"({record_counts} against {index_counts}): version {carried.current.version or 1}'s "
                        f"shards and index disagree; run `cxrpipe verify` on it, or run without --update")


def shards_parameters(options: ShardOptions) -> dict:
    """What a `run` manifest records of its shard options."""
    return {"num_shards": options.num_shards, "shard_mb": options.shard_mb, "seed": options.seed}


def run_all(spark, job: PreprocessJob, plan: Plan, options: ShardOptions, before_commit=lambda: None,
            carried=None) -> RunSummary:
    """Preprocess, check the rejects, shard, then commit one manifest for everything.

    Args:
        before_commit: called just before the manifest is written (the lease check).
        carried: an ``update.Update`` whose carried images join the new version, their index
            rows and shard records copied from the current one (``plan`` holds the rest).

    Raises:
        JobFailed: too many rejects (checked before any shard is written), an update whose
            shards disagree with its index, or ``before_commit`` refused; no manifest.
    """
    started = time.monotonic()
    commit = history.start_commit(job.output_uri, job.storage, job.parameters())
    ctx = job_context(job, plan, commit.version)
    shard_ctx = ShardContext(job.output_uri, job.output_uri, job.storage, plan.classes, job.dataset,
                             job.render.size, options, commit.version)
    sc = spark.sparkContext
    sc.setJobGroup(PREPROCESS_GROUP, f"run: preprocess {plan.processed} images", interruptOnCancel=True)
    work = [("process", i, task) for i, task in enumerate(plan.tasks)]
    inherits = carried is not None and carried.inherits(options)
    if carried is not None:
        work += carry_work(carried, len(plan.tasks), records=True, inherits=inherits)
    dropped = shared_dropped(spark, carried) if carried is not None else None
    with pieces_folder(shard_ctx):
        with job_failures("run (preprocessing)"), progress_reporter(sc, PREPROCESS_GROUP, *progress_units(plan, work, carried)), \
                phase("preprocess", "spark"):
            outputs = sc.parallelize(work, len(work)).map(
                lambda w: _outputs(w, ctx, shard_ctx, dropped)).collect()
        results, pieces = _gathered(outputs)
        with phase("manifest"):
            built = preprocess_manifest(job, plan, results, carried)
        check_rejects(built, job.max_reject_fraction)
        entries, _ = write_shards(spark, [p for _, p in pieces if p], shard_ctx,
                                  merge_metadata(m for m, _ in pieces),
                                  (carried.inherited_shards(), dropped) if inherits else None)
    records = shard_counts(entries)
    if carried is not None:
        check_carried_records(built.counts, records, carried)
    with phase("manifest"):
        built = dataclasses.replace(
            built, kind="run", files=tuple(sorted(built.files + tuple(entries), key=lambda f: f["path"])),
            shard_counts=records, parameters={**built.parameters, "shards": shards_parameters(options)})
    with phase("commit"):
        built = commit.write(built, before_commit)
    peak = max((r.peak_rss_mb for r in results), default=0.0)
    return RunSummary(built, time.monotonic() - started, sum(r.jpeg_bytes for r in results), peak)
