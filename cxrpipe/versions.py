"""Versions of a dataset root: their numbering, what one changed against another, and what gc
may delete. Pure: manifests, index rows and key listings in, decisions out (the I/O is in
``cxrpipe.history``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from . import layout, labels
from .manifest import Manifest
from .params import RenderParams

_VERSION_FOLDER = re.compile(r"^([^/]+)/v\d{6}/")


def next_version(numbers, current: Manifest | None) -> int:
    """One more than the newest version: of the version files there, or of the current manifest
    (one written before versions counts as version 1)."""
    newest = max(numbers, default=0)
    if current is not None:
        newest = max(newest, current.version or 1)
    return newest + 1


def rewrites_images(current: Manifest | None, parameters: dict) -> bool:
    """Whether a job with ``parameters`` writes other JPEG bytes under the keys the current
    version lists: then the current manifest must go before the job writes, as no reader may
    trust it meanwhile. Same rendering options give the same bytes under the same keys."""
    if current is None or not current.has_images:
        return False
    names = [f.name for f in dataclasses.fields(RenderParams)]
    return any(_plain(current.preprocessing.get(n)) != _plain(parameters.get(n)) for n in names)


def _plain(value):
    return json.loads(json.dumps(value))


def unversioned(path: str) -> str:
    """A file's path with its version folder taken out (``index/v000002/part-00001.parquet`` ->
    ``index/part-00001.parquet``): how two versions' files are matched."""
    return _VERSION_FOLDER.sub(r"\1/", path, count=1)


def same_content(current: Manifest | None, built: Manifest) -> bool:
    """Whether ``built`` holds what ``current`` holds, file for file (a rerun that changed
    nothing): then it is no new version."""
    if current is None:
        return False
    return _comparable(current) == _comparable(built)


def _comparable(built: Manifest) -> dict:
    body = built.to_dict()
    body.pop("version", None)
    body["files"] = sorted(({**f, "path": unversioned(f["path"])} for f in body["files"]), key=lambda f: f["path"])
    return body


def kept_versions(numbers, current: int | None, keep: int) -> tuple[list[int], list[int]]:
    """(kept, dropped) of the version numbers for ``gc --keep``: the newest ``keep`` and the
    current one, whatever its number.

    Raises:
        ValueError: ``keep`` below 1.
    """
    if keep < 1:
        raise ValueError(f"--keep: expected at least 1 (the current version is always kept), got {keep}")
    ordered = sorted(numbers)
    kept = set(ordered[-keep:]) | ({current} if current is not None else set())
    return sorted(kept), [n for n in ordered if n not in kept]


def gc_deletions(keys, listed: set[str], dropped) -> list[str]:
    """The keys gc deletes: data files (images, tables, shards) no kept version lists, and the
    dropped versions' manifests. Anything else under the root (the current manifest, a lease,
    a running job's pieces, files a user put there) is never touched."""
    dropped_manifests = {layout.manifest_version_path(n) for n in dropped}
    return sorted(k for k in keys
                  if (layout.top_folder(k) in layout.DATA and k not in listed) or k in dropped_manifests)


@dataclass(frozen=True)
class ImageRow:
    """One image as a version's index holds it."""

    split: str
    labels: tuple[str, ...]   # its positive classes, or (Unlabeled,)


def image_rows(rows, classes) -> dict[str, ImageRow]:
    """image id -> its split and positive classes, from index rows (one row per image: the
    primary copy of the original)."""
    images = {}
    for row in rows:
        if row["primary"] and row["augmentation"] == "none":
            positive = tuple(c for c, bit in zip(classes, row["multi_hot"]) if bit)
            images[row["image_id"]] = ImageRow(row["split"], positive or (labels.UNLABELED,))
    return images


@dataclass
class Diff:
    """What changed between two versions, counted per (split, class): an image counts once in
    each of its classes (relabelled: in each class it gained or lost)."""

    added: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)
    relabelled: Counter = field(default_factory=Counter)
    totals: dict = field(default_factory=dict)


def diff_images(old: dict[str, ImageRow], new: dict[str, ImageRow]) -> Diff:
    """Images added, removed and relabelled from ``old`` to ``new`` (``image_rows`` of each).
    An image that changed split counts as removed from the old split and added to the new."""
    diff = Diff()
    for image_id in sorted(set(old) | set(new)):
        before, after = old.get(image_id), new.get(image_id)
        if before is not None and after is not None and before.split == after.split:
            changed = set(before.labels) ^ set(after.labels)
            diff.relabelled.update((after.split, c) for c in sorted(changed))
            diff.totals["relabelled"] = diff.totals.get("relabelled", 0) + bool(changed)
            continue
        if before is not None:
            diff.removed.update((before.split, c) for c in before.labels)
            diff.totals["removed"] = diff.totals.get("removed", 0) + 1
        if after is not None:
            diff.added.update((after.split, c) for c in after.labels)
            diff.totals["added"] = diff.totals.get("added", 0) + 1
    return diff


def diff_table(diff: Diff) -> list[tuple[str, str, int, int, int]]:
    """(split, class, added, removed, relabelled) rows with any change, sorted."""
    keys = sorted(set(diff.added) | set(diff.removed) | set(diff.relabelled))
    return [(s, c, diff.added[(s, c)], diff.removed[(s, c)], diff.relabelled[(s, c)]) for s, c in keys]
