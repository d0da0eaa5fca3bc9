"""`--update` on the driver and in Spark: what the current version holds, what is carried
over, and the carrying tasks. The decisions are ``cxrpipe.preprocessing.update``'s.

The plan is narrowed to the inputs that must be processed (new, changed, relabelled); the
current version's index parts and shards (or, for a preprocess-only version that `run`
updates, its JPEGs) supply the rest. Carrying tasks copy the index parts in groups, in the
same Spark job as the processing tasks. The new shards' writers read the carried records
straight from the current shards when both versions use the same shard seed (``Inherited``:
the records are copied as they are, in the order they already have); otherwise carrying tasks
re-key each current shard (or frame an index part's JPEGs) into a piece file first. The new
version then lists the same JPEGs, the same index rows and, for `run`, the same shard bytes as
a full run over the new index.
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
from ..versions import unversioned
from ..preprocessing import update
from ..preprocessing.carry import carry_index_parts, carry_shard
from ..preprocessing.plan import Plan
from ..preprocessing.task import JobContext
from ..shards.plan import ShardOptions
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

    def inherits(self, options: ShardOptions) -> bool:
        """Whether new shards made with ``options`` can take the carried records straight from
        the current version's shards: it has shards, ordered by the same seed."""
        shards = self.current.parameters.get("shards") or {}
        return bool(self.current.files_under(layout.TFRECORDS)) and shards.get("seed") == options.seed

    def inherited_shards(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(split, partition) -> the current version's shards of it, by number (paths)."""
        found: dict[tuple[str, str], dict[int, tuple[str, int]]] = {}   # number -> (path, count)
        for f in self.current.files_under(layout.TFRECORDS):
            name = layout.parse_shard_path(unversioned(f["path"]))
            found.setdefault((f["split"], f["partition"]), {})[name.index] = (f["path"], name.count)
        shards = {}
        for key, numbered in found.items():
            count = {c for _, c in numbered.values()}
            if count != {len(numbered)} or set(numbered) != set(range(len(numbered))):
                raise UserError(f"--update: version {self.current.version or 1}'s manifest lists shards "
                                f"{sorted(numbered)} of {sorted(count)} for {key[0]}/{key[1]}; it is damaged, "
                                "run without --update")
            shards[key] = tuple(numbered[i][0] for i in range(len(numbered)))
        return shards

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
    per_task = update.images_per_task(len(split.process), job.plan.images_per_task)
    return plan.narrowed(split.process, split.carried, per_task), Update(current, split)


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


def carry_work(carried: Update, first: int, records: bool, inherits: bool = False) -> list[tuple[str, int, object]]:
    """The carrying tasks of an update, as (kind, number, source), to run beside the
    processing tasks in one Spark job (numbers from ``first``, after theirs):

    - ``index``: a group of current index parts, copied into one new part (a part holds a
      task's few hundred rows: one task each would cost more in overhead than in copying);
      ``index-records`` also gives the carried records' planning metadata, when the new
      shards ``inherit`` the records from the current ones;
    - with ``records`` (`run`) and not ``inherits``: ``shard``, a current shard re-keyed into a
      piece file, or, when the current version has no shards, ``jpegs``, an index part's
      carried JPEGs framed.
    """
    current = carried.current
    parts = [f["path"] for f in current.files_under(layout.INDEX)]
    work: list[tuple[str, int, object]] = []
    if records and not inherits:
        shards = sorted(current.files_under(layout.TFRECORDS), key=lambda f: -f["bytes"])
        # Biggest first: a long task started last would finish the job alone.
        kind, sources = ("shard", [f["path"] for f in shards]) if shards else ("jpegs", parts)
        work += [(kind, first + i, path) for i, path in enumerate(sources)]
    kind = "index-records" if inherits else "index"
    groups = update.even_groups(parts, -(-len(parts) // PARTS_PER_CARRY))
    return work + [(kind, first + i, group) for i, group in enumerate(groups)]


def shared_dropped(spark, carried: Update):
    """The dropped ids as a broadcast: a revised index can drop many, and a closure would ship
    them with every task."""
    return spark.sparkContext.broadcast(carried.split.dropped)


def run_carry(work: tuple[str, int, object], dropped: frozenset[str], ctx: JobContext, shard_ctx: ShardContext | None):
    """Do one ``carry_work`` task in an executor: (``TaskResult``, metadata or None) for the
    index kinds, (metadata, piece file) for the others."""
    kind, number, source = work
    if kind in ("index", "index-records"):
        uris = [storage.join(ctx.output_root, p) for p in source]
        return carry_index_parts(number, uris, dropped, ctx, metadata=kind == "index-records")
    uri = storage.join(ctx.output_root, source)
    if kind == "shard":
        return carry_shard(number, uri, dropped, shard_ctx)
    return part_pieces(number, uri, shard_ctx, dropped)
