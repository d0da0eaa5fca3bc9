"""Which images a report shows, and what it counts, from the index and rejects rows. Pure.

The rows arrive one Parquet part at a time and are folded into small accumulators, so a report
of 100,000 images holds a few samples per class and a class × class matrix, never the index.
Samples are chosen by a seeded hash of the image id, so the same seed shows the same images
whatever the order of the parts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

# Augmentation names in the order the pipeline writes them (cxrpipe.imageops.AUGMENTATIONS).
AUGMENTATION_ORDER = ("none", "hflip", "vflip", "hvflip")


def rank(seed: int, image_id: str, augmented: bool) -> tuple[int, bytes]:
    """The sort key of an image: flipped splits first (their flips are worth seeing), then a seeded hash.

    Args:
        seed: the report's seed.
        image_id: the image's id as the index spells it.
        augmented: whether the image's split gets flips.

    Returns:
        A key comparing the same way for every reader of the same rows.
    """
    digest = hashlib.sha256(f"{seed}\x00{image_id}".encode()).digest()
    return (0 if augmented else 1, digest)


@dataclass(frozen=True)
class Sample:
    """One source image of one class partition, with every JPEG version written of it.

    Attributes:
        versions: (augmentation, path relative to the dataset root), in ``AUGMENTATION_ORDER``.
    """

    partition: str
    image_id: str
    split: str
    source: str
    source_format: str
    source_width: int
    source_height: int
    multi_hot: tuple[int, ...]
    versions: tuple[tuple[str, str], ...]


class SamplePicker:
    """Keeps, per class partition, the ``per_class`` best-ranked images seen so far, with all their rows.

    An image's rank never changes, so an image dropped once can never come back: its later
    rows (in another part) are dropped too, and the result does not depend on part order.
    """

    def __init__(self, seed: int, per_class: int, augment_splits):
        if per_class < 1:
            raise ValueError(f"per_class: expected an integer >= 1, got {per_class!r}")
        self.seed, self.per_class = seed, per_class
        self.augment_splits = frozenset(augment_splits)
        self._kept: dict[str, dict[str, tuple[tuple, list[dict]]]] = {}

    def add(self, rows) -> None:
        """Fold index rows (dicts with the index schema's names) into the sample."""
        for row in rows:
            self._add_row(row)

    def _add_row(self, row: dict) -> None:
        kept = self._kept.setdefault(row["partition"], {})
        image_id = row["image_id"]
        if image_id in kept:
            kept[image_id][1].append(row)
            return
        key = rank(self.seed, image_id, row["split"] in self.augment_splits)
        if len(kept) >= self.per_class:
            worst = max(kept, key=lambda i: kept[i][0])
            if key >= kept[worst][0]:
                return
            del kept[worst]
        kept[image_id] = (key, [row])

    def samples(self, classes) -> dict[str, list[Sample]]:
        """class -> its samples in rank order, for every class in ``classes`` (empty when none)."""
        return {cls: [_sample(rows) for _, rows in sorted(self._kept.get(cls, {}).values(),
                                                          key=lambda kr: kr[0])]
                for cls in classes}


def _sample(rows: list[dict]) -> Sample:
    first = rows[0]
    order = {a: i for i, a in enumerate(AUGMENTATION_ORDER)}
    versions = sorted({(r["augmentation"], r["path"]) for r in rows}, key=lambda v: (order.get(v[0], 99), v))
    return Sample(
        partition=first["partition"], image_id=first["image_id"], split=first["split"],
        source=first["source"], source_format=first["source_format"],
        source_width=first["source_width"], source_height=first["source_height"],
        multi_hot=tuple(first["multi_hot"]), versions=tuple(versions),
    )


class Cooccurrence:
    """Images positive for both class i and class j (the diagonal: positive for i).

    Each image is counted once: from its primary, unflipped row (exactly one per image).
    """

    def __init__(self, num_classes: int):
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def add(self, rows) -> None:
        """Fold index rows into the matrix."""
        for row in rows:
            if row["primary"] and row["augmentation"] == "none":
                hot = np.asarray(row["multi_hot"], np.int64)
                if hot.shape != (self.matrix.shape[0],):
                    raise ValueError(f"multi_hot of {row['image_id']}: expected {self.matrix.shape[0]} "
                                     f"values, got {hot.shape[0]}")
                self.matrix += np.outer(hot, hot)


@dataclass
class RejectSummary:
    """Rejected inputs by reason, with the first few (by image id) as examples."""

    examples_per_reason: int = 3
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)

    def add(self, rows) -> None:
        """Fold rejects rows (image_id, source, reason, detail) into the summary."""
        for row in rows:
            reason = row["reason"]
            self.counts[reason] = self.counts.get(reason, 0) + 1
            kept = self.examples.setdefault(reason, [])
            kept.append({k: row[k] for k in ("image_id", "source", "detail")})
            kept.sort(key=lambda r: (r["image_id"], r["source"]))
            del kept[self.examples_per_reason:]
