"""The shard plan: which partitions, how many shards each, which record goes where. Pure.

A record is one version (original or flip) of one image in one class partition. Its shard and
its place inside the shard come from a hash of (seed, image id, augmentation), never from task
order, so a rerun or a run with another parallelism writes byte-identical shards.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from . import labels

DEFAULT_SHARD_MB = 128.0


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
class Shard:
    """One output file: its partition, number and name."""

    split: str
    partition: str
    index: int
    count: int

    @property
    def path(self) -> str:
        cls = labels.class_dirname(self.partition)
        return (f"tfrecords/{self.split}/{cls}/"
                f"{cls}-{self.split}-{self.index:05d}-of-{self.count:05d}.tfrecord")


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
    """``--num-shards`` as given, else enough shards of about ``--shard-mb`` each (at least 1)."""
    if options.num_shards is not None:
        return options.num_shards
    return max(1, math.ceil(partition_bytes / (options.shard_mb * 1e6)))


def plan_shards(partition_bytes: dict[tuple[str, str], int], classes, options: ShardOptions) -> list[Shard]:
    """Every shard to write, numbered globally in (split, class order, index) order.

    Args:
        partition_bytes: (split, class) -> JPEG bytes of its records.
        classes: the dataset's classes, in manifest order.
        options: the user's choices.
    """
    order = {c: i for i, c in enumerate(classes)}
    shards = []
    for split, partition in sorted(partition_bytes, key=lambda k: (k[0], order[k[1]])):
        n = shard_count(partition_bytes[(split, partition)], options)
        shards.extend(Shard(split, partition, i, n) for i in range(n))
    return shards


def _digest(*parts) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


def shard_of(version: Version, n_shards: int, seed: int) -> int:
    """The shard (0..n-1) of a version within its partition."""
    return int.from_bytes(_digest(seed, "shard", version.image_id, version.augmentation)[:8], "big") % n_shards


def order_key(version: Version, seed: int) -> bytes:
    """Where a record sits inside its shard: a seeded shuffle, the same on every run."""
    return _digest(seed, "order", version.image_id, version.augmentation)[:16]


def shard_offsets(shards: list[Shard]) -> dict[tuple[str, str], int]:
    """(split, class) -> the global number of its first shard."""
    offsets: dict[tuple[str, str], int] = {}
    for number, shard in enumerate(shards):
        offsets.setdefault((shard.split, shard.partition), number)
    return offsets
