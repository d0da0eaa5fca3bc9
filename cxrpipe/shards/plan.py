"""The shard plan: which partitions, how many shards each, which record goes where. Pure.

A record is one version (original or flip) of one image in one class partition. Its order key
is a hash of (seed, image id, augmentation), never task order: it gives the record's place in
its shard, and the key's first 8 bytes scaled to the shard count give the shard. So a rerun
or a run with another parallelism writes byte-identical shards.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from .. import labels, layout

DEFAULT_SHARD_MB = 128.0
# Shards per (split, class): 1,024 x 128 MB holds 128 GB; more only costs tasks and files.
MAX_SHARDS = 1024


@dataclass(frozen=True)
class ShardOptions:
    """What `cxrpipe shards` was asked for (validated by the CLI)."""

    classes: tuple[str, ...] | None = None     # None: every class
    splits: tuple[str, ...] | None = None      # None: every split
    membership: str = "any"
    num_shards: int | None = None              # per (split, class); None: from shard_mb
    shard_mb: float = DEFAULT_SHARD_MB
    seed: int = 0


@dataclass(frozen=True)
class Version:
    """One written version of one image, as the preprocessed index describes it."""

    image_id: str
    augmentation: str
    split: str
    patient_id: str
    multi_hot: tuple[int, ...]
    uncertain: tuple[int, ...]
    view: str
    path: str           # a JPEG of this version, relative to the dataset root
    bytes: int


@dataclass(frozen=True)
class ShardRecord:
    """One record to write: a version in one selected partition."""

    version: Version
    partition: str
    primary: bool


@dataclass(frozen=True)
class Shard:
    """One output file: its partition, number and name."""

    split: str
    partition: str
    index: int
    count: int

    @property
    def path(self) -> str:
        return layout.shard_path(self.split, self.partition, self.index, self.count)


def source_values(multi_hot, uncertain) -> tuple[int, ...]:
    """Index labels back to 1/0/-1 values, so membership rules apply as at preprocess time."""
    return tuple(1 if m else (-1 if u else 0) for m, u in zip(multi_hot, uncertain))


def version_partitions(version: Version, classes, options: ShardOptions) -> tuple[str, ...]:
    """The selected partitions a version joins; the first is where it is primary."""
    if options.splits is not None and version.split not in options.splits:
        return ()
    values = source_values(version.multi_hot, version.uncertain)
    # The index already holds resolved labels: "zeros" keeps them as they are.
    return labels.partitions(values, classes, "zeros", options.membership, options.classes)


def shard_count(partition_bytes: int, options: ShardOptions) -> int:
    """``--num-shards`` as given, else enough shards of about ``--shard-mb`` each (at least 1).

    Raises:
        ValueError: ``--shard-mb`` asks for more than ``MAX_SHARDS`` shards in one partition.
    """
    if options.num_shards is not None:
        return options.num_shards
    count = max(1, math.ceil(partition_bytes / (options.shard_mb * 1e6)))
    if count > MAX_SHARDS:
        raise ValueError(f"--shard-mb {options.shard_mb:g}: expected at most {MAX_SHARDS} shards per "
                         f"partition, got {count:,} for {partition_bytes / 1e6:,.0f} MB; raise --shard-mb")
    return count


def plan_shards(partition_bytes: dict[tuple[str, str], int], classes, options: ShardOptions) -> list[Shard]:
    """Every shard to write, numbered globally in (split, class order, index) order.

    Args:
        partition_bytes: (split, class) -> JPEG bytes of its records.
        classes: the dataset's classes, in manifest order.
        options: the user's choices.
    """
    order = {c: i for i, c in enumerate(labels.partition_names(classes))}
    shards = []
    for split, partition in sorted(partition_bytes, key=lambda k: (k[0], order[k[1]])):
        n = shard_count(partition_bytes[(split, partition)], options)
        shards.extend(Shard(split, partition, i, n) for i in range(n))
    return shards


# A shard-writing task writes shards of at least this many bytes in all: a task costs ~70 ms
# of Spark and worker overhead, and a small dataset's partitions make many shards of a few MB.
SHARD_TASK_BYTES = 64e6


def shard_tasks(shards: list[Shard], partition_bytes: dict[tuple[str, str], int],
                task_bytes: float = SHARD_TASK_BYTES) -> list[list[int]]:
    """The shards (by position in ``shards``) each writing task writes: biggest first, a shard
    of ``task_bytes`` or more alone, smaller ones together until they reach it."""
    expected = [partition_bytes[(s.split, s.partition)] / s.count for s in shards]
    tasks, current, size = [], [], 0.0
    for i in sorted(range(len(shards)), key=lambda i: (-expected[i], i)):
        current.append(i)
        size += expected[i]
        if size >= task_bytes:
            tasks.append(current)
            current, size = [], 0.0
    return tasks + [current] if current else tasks


def _digest(*parts) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def shard_of_key(key: bytes, n_shards: int) -> int:
    """The shard of an order key among n: monotone in the key, so a sorted partition splits
    into contiguous shards for any n."""
    return int.from_bytes(key[:8], "big") * n_shards >> 64


@functools.lru_cache(maxsize=64)
def shard_boundaries(n_shards: int) -> np.ndarray:
    """uint64 [b_0, .., b_(n-1)]: shard s holds the keys whose 8-byte prefix p has b_s <= p,
    and p < b_(s+1) unless s is the last."""
    bounds = np.array([-(-(s << 64) // n_shards) for s in range(n_shards)], np.uint64)
    bounds.flags.writeable = False  # cached: shared by every caller
    return bounds


def order_key(version: Version, seed: int) -> bytes:
    """Where a record sits inside its shard: a seeded shuffle, the same on every run."""
    return record_key(seed, version.image_id, version.augmentation)


def record_key(seed: int, image_id: str, augmentation: str) -> bytes:
    """``order_key`` from what a shard's Example holds."""
    return _digest(seed, "order", image_id, augmentation)[:16]


def covering_shards(index: int, count: int, other_count: int) -> range:
    """The shards among ``other_count`` that hold some key of shard ``index`` among ``count``
    (same partition, same seed): where an update's shard finds the current version's records."""
    bounds = shard_boundaries(count)
    first = int(bounds[index])
    last = int(bounds[index + 1]) - 1 if index + 1 < count else (1 << 64) - 1
    return range(first * other_count >> 64, (last * other_count >> 64) + 1)


def expand(version: Version, classes, options: ShardOptions) -> list[ShardRecord]:
    """One version's records, one per selected partition (the first is primary)."""
    partitions = version_partitions(version, classes, options)
    return [ShardRecord(version, p, i == 0) for i, p in enumerate(partitions)]


def record_metadata(records) -> tuple[dict, dict]:
    """What planning needs from some records: (split, partition) -> JPEG bytes, and split ->
    (images, per-class positives) counting each selected image once. Mergeable with
    ``merge_metadata``, so tasks compute it on the way."""
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
