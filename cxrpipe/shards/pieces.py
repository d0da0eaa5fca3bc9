"""A task's framed records, laid out so any shard's share is one byte range. Pure.

Tasks frame every record they produce while its JPEG is in hand and write them as one piece
file per task: per (split, partition), the records sorted by their order key, each entry
``key (16 bytes) | augmentation (1 byte) | framed TFRecord record``. A record's shard among n
is ``key[:8] * n >> 64`` (``shards.shard_of_key``), monotone in the key, so each shard's records
in a partition are contiguous whatever n turns out to be. The task returns, per partition,
the key prefixes and entry ends (16 bytes a record); once the driver knows every partition's
size and shard count, it turns these into byte ranges, one per (piece, shard). A shard's
writer reads its ranges and merges them by key.

The records' bytes thus go from the task to storage and from storage to the writer, never
through Spark, whose Python-to-JVM hand-offs of those bytes cost a third of the codec floor per
image (see docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import AUGMENTATIONS
from .plan import shard_boundaries

KEY_BYTES = 16
HEADER_BYTES = KEY_BYTES + 1                        # key, augmentation code
_LENGTH_BYTES = 8                                   # a TFRecord frame starts with its length


@dataclass(frozen=True)
class PartitionIndex:
    """Where one partition's records lie in a piece file."""

    start: int                 # byte offset of its first entry
    prefixes: np.ndarray       # uint64, each record's key[:8], ascending
    ends: np.ndarray           # uint64, each entry's end offset in the file


@dataclass(frozen=True)
class PieceFile:
    """A task's piece file and where each partition's records lie in it (to the driver)."""

    uri: str
    layout: dict[tuple[str, str], PartitionIndex]


class PieceBuilder:
    """Collects one task's framed records; ``encode`` lays them out as one piece file."""

    def __init__(self):
        self._records: dict[tuple[str, str], list[tuple[bytes, int, bytes]]] = {}

    def add(self, partition: tuple[str, str], key: bytes, augmentation: str, framed: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"order keys are {KEY_BYTES} bytes, got {len(key)}")
        self._records.setdefault(partition, []).append((key, AUGMENTATIONS.index(augmentation), framed))

    def encode(self) -> tuple[bytes, dict[tuple[str, str], PartitionIndex]]:
        """The piece file's bytes, and (split, partition) -> where its records are."""
        chunks, layout, offset = [], {}, 0
        for partition, records in sorted(self._records.items()):
            start, prefixes, ends = offset, [], []
            for key, augmentation, framed in sorted(records):
                chunks += [key, bytes((augmentation,)), framed]
                offset += HEADER_BYTES + len(framed)
                prefixes.append(int.from_bytes(key[:8], "big"))
                ends.append(offset)
            layout[partition] = PartitionIndex(start, np.array(prefixes, np.uint64), np.array(ends, np.uint64))
        return b"".join(chunks), layout


def shard_ranges(index: PartitionIndex, n_shards: int) -> list[tuple[int, int, int]]:
    """(shard, start, end) byte ranges of a partition's records in one piece, for n shards;
    shards with no record here are left out."""
    cuts = np.append(np.searchsorted(index.prefixes, shard_boundaries(n_shards), side="left"),
                     len(index.prefixes))
    ranges = []
    # Only the shards with records here: a piece holds a few hundred, n may be thousands.
    for shard in np.flatnonzero(cuts[1:] > cuts[:-1]):
        lo, hi = int(cuts[shard]), int(cuts[shard + 1])
        start = index.start if lo == 0 else int(index.ends[lo - 1])
        ranges.append((int(shard), start, int(index.ends[hi - 1])))
    return ranges


def entries(data: bytes, base: int) -> list[tuple[bytes, int, int, str]]:
    """(order key, offset, length, augmentation) of each framed record in some whole entries;
    offsets count from ``base`` (where ``data`` starts in the file the writer keeps)."""
    found, pos, view = [], 0, memoryview(data)
    while pos < len(data):
        if pos + HEADER_BYTES + _LENGTH_BYTES > len(data):
            raise ValueError(f"piece data ends inside an entry at byte {pos}")
        key = bytes(view[pos:pos + KEY_BYTES])
        augmentation = AUGMENTATIONS[data[pos + KEY_BYTES]]
        record = pos + HEADER_BYTES
        length = int.from_bytes(view[record:record + _LENGTH_BYTES], "little") + 16
        if record + length > len(data):
            raise ValueError(f"piece data ends inside a record at byte {record}")
        found.append((key, base + record, length, augmentation))
        pos = record + length
    return found


def plan_reads(shards, pieces: list[PieceFile]) -> list[list[tuple[str, int, int]]]:
    """What each shard's writer reads: per shard (in ``shards`` order), (piece URI, start, end).

    Args:
        shards: every shard to write (``shards.plan_shards``).
        pieces: every piece file written.
    """
    number = {(s.split, s.partition, s.index): i for i, s in enumerate(shards)}
    counts = {(s.split, s.partition): s.count for s in shards}
    reads: list[list[tuple[str, int, int]]] = [[] for _ in shards]
    for piece in pieces:
        for (split, partition), index in piece.layout.items():
            for shard, start, end in shard_ranges(index, counts[(split, partition)]):
                reads[number[(split, partition, shard)]].append((piece.uri, start, end))
    return reads
