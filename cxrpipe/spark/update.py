"""`--update` on the driver and in Spark: what the current version holds, what is carried
over, and the carrying jobs. The decisions are ``cxrpipe.preprocessing.update``'s.

The plan is narrowed to the inputs that must be processed (new, changed, relabelled); the
current version's index parts and shards (or, for a preprocess-only version that `run`
updates, its JPEGs) supply the rest, copied by one task per file. The new version then lists
the same JPEGs, the same index rows and, for `run`, the same shard bytes as a full run over the
new index.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from .. import layout, storage, tables
from ..dataset import BadManifest, NoDataset, open_dataset
from ..errors import UserError
from ..manifest import Manifest
from ..prefetch import in_order
from ..preprocessing import update
from ..preprocessing.carry import carry_index_parts, carry_shard
from ..preprocessing.plan import Plan
from ..preprocessing.task import JobContext, TaskResult
from ..shards.writer import ShardContext, part_pieces
from .failures import job_failures
from .progress import progress_reporter

log = logging.getLogger(__name__)
GROUP = "cxrpipe-update"
READ_THREADS = 16
PARTS_PER_CARRY = 32


@dataclass(frozen=True)
class Update:
    """An update being made: the version it starts from and what it carries over."""

    current: Manifest
    split: update.UpdateSplit

    def record(self) -> dict:
        """What the new version's manifest records of the update."""
        return {"from_version": self.current.version or 1, "processed": len(self.split.process),
                "carried": self.split.carried, "dropped": len(self.split.dropped)}

    def summary(self) -> str:
        return (f"update of version {self.current.version or 1}: {len(self.split.process):,} inputs to process, "
                f"{self.split.carried:,} carried over unchanged, {len(self.split.dropped):,} of its images "
                f"changed or gone")


def plan_update(job, plan: Plan) -> tuple[Plan, Update]:
    """Check that the output's current version can be updated by ``job`` and narrow ``plan``
    to what must be processed.

    Raises:
        UserError: no dataset to update, or a parameter that forbids it (naming the flag).
    """
    try:
        current = open_dataset(job.output_uri, job.storage).manifest
    except NoDataset:
        raise UserError(f"--update: no dataset at {job.output_uri} to update; run without --update "
                        "to build it") from None
    except BadManifest as exc:
        raise UserError(f"--update: {exc}") from None
    number = current.version or 1
    why = (update.refusal(current.kind, current.parameters, job.parameters(), number)
           or update.class_refusal(current.classes, plan.classes, number))
    if why:
        raise UserError(why)
    signatures = {}
    for rows in _index_parts(job.output_uri, current, job.storage):   # an image's rows share a part
        signatures.update(update.row_signatures(rows))
    tags = storage.list_tags(job.images_uri, job.storage)
    split = update.split_items(plan.items, tags, signatures)
    if signatures and not any(signatures.values()):
        log.warning("--update: version %d records no source ETags (written by an older cxrpipe): every "
                    "image is processed again", number)
    return plan.narrowed(split.process, split.carried, job.plan.images_per_task), Update(current, split)


def _index_parts(root: str, current: Manifest, config: storage.StorageConfig):
    """The current version's index rows, only the columns a signature needs, a part's rows at a
    time (many small reads: in parallel; one part's rows in memory, not the index's)."""
    uris = [storage.join(root, f["path"]) for f in current.files_under(layout.INDEX)]
    columns = list(update.SIGNATURE_COLUMNS)

    def read(uri: str) -> list[dict]:
        data = storage.read_bytes(uri, config)
        try:
            return tables.from_parquet(data, columns)
        except ValueError:   # a part written before the source_etag column existed
            return [{**row, "source_etag": None} for row in tables.from_parquet(data, columns[:-1])]

    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="cxrpipe-update") as pool:
        yield from in_order(pool, (partial(read, uri) for uri in uris), ahead=READ_THREADS)


def carry_index(spark, carried: Update, ctx: JobContext, first: int) -> list[TaskResult]:
    """Copy the carried images' index rows into the new version, parts ``first`` on, a group
    of the current parts into each (a part holds a task's few hundred rows: copying them one
    task each would cost more in task overhead than in copying, and fragment the index)."""
    parts = [storage.join(ctx.output_root, f["path"]) for f in carried.current.files_under(layout.INDEX)]
    groups = [parts[i:i + PARTS_PER_CARRY] for i in range(0, len(parts), PARTS_PER_CARRY)]
    dropped = _shared(spark, carried)
    return _run(spark, groups, "index part groups",
                lambda task: carry_index_parts(first + task[0], task[1], dropped.value, ctx))


def _shared(spark, carried: Update):
    """The dropped ids as a broadcast: a revised index can drop many, and a closure would ship
    them with every task."""
    return spark.sparkContext.broadcast(carried.split.dropped)


def carry_records(spark, carried: Update, ctx: ShardContext, first: int) -> list:
    """The carried images' shard records as piece files, numbered ``first`` on: re-keyed from
    the current shards, or framed from the JPEGs when the current version has none."""
    dropped, current = _shared(spark, carried), carried.current
    shards = current.files_under(layout.TFRECORDS)
    if shards:
        uris = [storage.join(ctx.output_root, f["path"]) for f in shards]
        return _run(spark, uris, "shards", lambda task: carry_shard(first + task[0], task[1], dropped.value, ctx))
    parts = [storage.join(ctx.output_root, f["path"]) for f in current.files_under(layout.INDEX)]
    return _run(spark, parts, "index parts",
                lambda task: part_pieces(first + task[0], task[1], ctx, dropped.value))


def _run(spark, inputs: list, what: str, work) -> list:
    if not inputs:
        return []
    sc = spark.sparkContext
    sc.setJobGroup(GROUP, f"carry {len(inputs)} {what}", interruptOnCancel=True)
    with job_failures(f"update (carrying {what})"), progress_reporter(sc, GROUP, len(inputs), what):
        return sc.parallelize(list(enumerate(inputs)), len(inputs)).map(work).collect()
