"""`--update` on the driver and in Spark: what the current version holds, what is carried
over, and the carrying tasks. The decisions are ``cxrpipe.preprocessing.update``'s.

The plan is narrowed to the inputs that must be processed (new, changed, relabelled); the
current version's index parts and shards (or, for a preprocess-only version that `run`
updates, its JPEGs) supply the rest, copied by carrying tasks (index parts in groups, a shard
or a part's JPEGs each) that run in the same Spark job as the processing tasks. The new version
then lists the same JPEGs, the same index rows and, for `run`, the same shard bytes as a full
run over the new index.
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
from ..preprocessing.task import JobContext
from ..shards.writer import ShardContext, part_pieces

log = logging.getLogger(__name__)
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


def carry_work(carried: Update, first: int, records: bool) -> list[tuple[str, int, object]]:
    """The carrying tasks of an update, as (kind, number, source), to run beside the
    processing tasks in one Spark job (numbers from ``first``, after theirs):

    - ``index``: a group of current index parts, copied into one new part (a part holds a
      task's few hundred rows: one task each would cost more in overhead than in copying);
    - with ``records`` (`run`): ``shard``, a current shard re-keyed into a piece file, or,
      when the current version has no shards, ``jpegs``, an index part's carried JPEGs framed.
    """
    current = carried.current
    parts = [f["path"] for f in current.files_under(layout.INDEX)]
    work: list[tuple[str, int, object]] = []
    if records:
        shards = sorted(current.files_under(layout.TFRECORDS), key=lambda f: -f["bytes"])
        # Biggest first: a long task started last would finish the job alone.
        kind, sources = ("shard", [f["path"] for f in shards]) if shards else ("jpegs", parts)
        work += [(kind, first + i, path) for i, path in enumerate(sources)]
    groups = range(0, len(parts), PARTS_PER_CARRY)
    return work + [("index", first + i, parts[at:at + PARTS_PER_CARRY]) for i, at in enumerate(groups)]


def shared_dropped(spark, carried: Update):
    """The dropped ids as a broadcast: a revised index can drop many, and a closure would ship
    them with every task."""
    return spark.sparkContext.broadcast(carried.split.dropped)


def run_carry(work: tuple[str, int, object], dropped: frozenset[str], ctx: JobContext, shard_ctx: ShardContext | None):
    """Do one ``carry_work`` task in an executor: a ``TaskResult`` for ``index``, (metadata,
    piece file) for the others."""
    kind, number, source = work
    if kind == "index":
        return carry_index_parts(number, [storage.join(ctx.output_root, p) for p in source], dropped, ctx)
    uri = storage.join(ctx.output_root, source)
    if kind == "shard":
        return carry_shard(number, uri, dropped, shard_ctx)
    return part_pieces(number, uri, shard_ctx, dropped)
