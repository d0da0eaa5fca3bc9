"""`--update`: what a new version may take over from the current one unchanged. Pure.

An image is taken over (carried) when the current version holds it from the same source bytes
(the S3 ETag, or a local file's size and mtime, recorded in its index rows) with everything
the new plan gives it unchanged: patient, split, partitions, labels, view and source path.
Its JPEGs, index rows and shard records are then exactly what a full run would write again,
so they are copied as they are; every other image is processed. Parameters that change
pixels, labels or splits make every image different: they refuse the update instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .plan import WorkItem

# Recorded parameter -> the flag that sets it: what must equal the current version's.
FIXED_PARAMETERS = {
    "dataset": "--dataset", "size": "--size", "clahe_clip": "--clahe-clip", "clahe_grid": "--clahe-grid",
    "clahe_at": "--clahe-at", "flips": "--flips", "jpeg_quality": "--jpeg-quality", "resize": "--resize",
    "decode": "--exact-decode/--reduced-decode", "max_pixels": "--max-pixels",
    "augment_splits": "--augment-splits", "fractions": "--split", "seed": "--seed",
    "uncertain": "--uncertain", "membership": "--membership", "classes": "--classes", "views": "--views",
    "resplit": "--resplit", "valid_as": "--valid-as", "extension": "--mimic-files",
    "columns": "the table's column flags",
}

# The index columns a signature reads (``row_signatures``).
SIGNATURE_COLUMNS = ("image_id", "patient_id", "split", "partition", "primary", "augmentation",
                     "multi_hot", "uncertain", "view", "source", "source_etag")

_UPDATABLE_KINDS = ("preprocess", "run")


def refusal(current_kind: str, current: dict, wanted: dict, version: int) -> str | None:
    """Why the current version (its kind and recorded parameters) cannot be updated with the
    ``wanted`` parameters, in one line naming the flag; None when it can."""
    if current_kind not in _UPDATABLE_KINDS:
        return (f"--update: version {version} is a {current_kind} dataset; only the output of "
                f"preprocess or run can be updated")
    for name, flag in FIXED_PARAMETERS.items():
        before, after = _plain(current.get(name)), _plain(wanted.get(name))
        if before != after:
            return (f"--update: {flag} is {_shown(after)} but version {version} was made with "
                    f"{_shown(before)}; that changes the pixels, labels or splits of every image, "
                    f"so run without --update (a full rebuild)")
    return None


def class_refusal(current: tuple[str, ...], planned: tuple[str, ...], version: int) -> str | None:
    """An index whose classes differ from the current version's changes every label vector."""
    if tuple(current) == tuple(planned):
        return None
    return (f"--update: the index's classes ({', '.join(planned)}) differ from version {version}'s "
            f"({', '.join(current)}); every label vector changes, so run without --update")


def _plain(value):
    return json.loads(json.dumps(value, sort_keys=True))


def _shown(value) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _digest(parts: tuple) -> bytes:
    # 16 bytes an image instead of the tuple: a million images' signatures fit in ~100 MB.
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()


def item_signature(item: WorkItem, tag: str) -> bytes:
    """What an image's carried rows must match: its plan and its source's tag."""
    return _digest((item.patient_id, item.split, item.partitions[0], tuple(sorted(item.partitions)),
                    tuple(item.multi_hot), tuple(item.uncertain), item.view, item.source, tag))


def row_signatures(rows) -> dict[str, bytes | None]:
    """image id -> ``item_signature`` of what the current index holds for it, from its rows
    (``SIGNATURE_COLUMNS``); None for an image whose rows carry no source tag (written before
    tags were recorded): it cannot be shown unchanged, so it is processed again."""
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["image_id"], []).append(row)
    signatures = {}
    for image_id, image_rows in grouped.items():
        first = image_rows[0]
        primary = [r["partition"] for r in image_rows if r["primary"]]
        if first["source_etag"] is None or len(set(primary)) != 1:
            signatures[image_id] = None
            continue
        partitions = tuple(sorted({r["partition"] for r in image_rows}))
        signatures[image_id] = _digest((first["patient_id"], first["split"], primary[0], partitions,
                                        tuple(first["multi_hot"]), tuple(first["uncertain"]), first["view"],
                                        first["source"], first["source_etag"]))
    return signatures


@dataclass(frozen=True)
class UpdateSplit:
    """The plan's items split by ``split_items``."""

    process: tuple[WorkItem, ...]   # new, changed and relabelled images, and the index's rejects
    carried: int                    # images taken over unchanged
    dropped: frozenset[str]         # ids the current version holds that the new one does not carry

    @property
    def changes_nothing(self) -> bool:
        return not self.process and not self.dropped


def split_items(items, tags: dict[str, str], current: dict[str, bytes | None]) -> UpdateSplit:
    """Split the new plan's work items into those carried over and those to process.

    Args:
        items: every work item of the new plan.
        tags: source path (relative to the images root) -> its tag now (``storage.list_tags``).
        current: ``row_signatures`` of the current version's index.
    """
    process, carried = [], set()
    for item in items:
        tag = tags.get(item.source)
        held = current.get(item.image_id)
        if held is not None and tag is not None and item.rejected is None and item.partitions \
                and held == item_signature(item, tag):
            carried.add(item.image_id)
        else:
            process.append(item)
    return UpdateSplit(tuple(process), len(carried), frozenset(current.keys() - carried))


# An update's new images are spread over up to this many tasks, of at least MIN_TASK_IMAGES.
SPREAD_TASKS, MIN_TASK_IMAGES = 16, 16


def images_per_task(n_process: int, full_run: int) -> int:
    """Images per processing task of an update: ``--images-per-task`` (a full run's), or fewer
    when that would leave a few hundred new images on one or two cores (100 new images in one
    task took 4 s of a 13 s update on 2 cores). An update's index parts never match a full
    run's anyway; only their rows must."""
    return max(1, min(full_run, max(MIN_TASK_IMAGES, -(-n_process // SPREAD_TASKS))))


def even_groups(items: list, n_groups: int) -> list[list]:
    """``items`` in ``n_groups`` contiguous groups whose sizes differ by at most one (40 index
    parts in groups of at most 32: 20 and 20, not 32 and 8)."""
    size, extra = divmod(len(items), max(1, n_groups))
    groups, at = [], 0
    for i in range(n_groups):
        end = at + size + (i < extra)
        groups.append(items[at:end])
        at = end
    return [g for g in groups if g]
