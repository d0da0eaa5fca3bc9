"""What the trainer reads, decided from a dataset's manifest alone. Pure: no TensorFlow.

The manifest lists every shard (``tfrecords/{split}/{class}/...``) with its split, partition
and record count, the class list in order, the counts and the class weights N/N_l; the
trainer never lists a folder or a bucket.
"""

from __future__ import annotations

import logging
import math

from cxrpipe import labels, layout
from cxrpipe.manifest import Manifest

log = logging.getLogger(__name__)

TRAIN, VAL, TEST = "train", "val", "test"


def shard_entries(manifest: Manifest, split: str, partition: str | None = None) -> list[dict]:
    """The manifest's entries of the non-empty shards of ``split`` (of one partition if given).

    Args:
        manifest: a dataset's manifest (``cxrpipe.dataset.open_dataset``).
        split: ``train``, ``val`` or ``test``.
        partition: a class name as the manifest spells it, or None for every partition.

    Returns:
        The entries, sorted by path so that runs repeat.
    """
    return sorted((f for f in manifest.files_under(layout.TFRECORDS)
                   if f["split"] == split and f["records"] > 0
                   and (partition is None or f["partition"] == partition)),
                  key=lambda f: f["path"])


def shard_paths(manifest: Manifest, split: str, partition: str | None = None) -> list[str]:
    """Relative paths of the non-empty shards of ``split`` (see ``shard_entries``)."""
    return [f["path"] for f in shard_entries(manifest, split, partition)]


def record_count(manifest: Manifest, split: str, partition: str | None = None) -> int:
    """Records in the shards of ``split`` (one partition's, or all copies in every partition)."""
    return sum(f["records"] for f in shard_entries(manifest, split, partition))


def primary_count(manifest: Manifest, split: str) -> int:
    """Records marked primary in ``split``: each image once per version (original and flips).

    Every image of a split carries the same versions, so this is the split's image count
    times the number of augmentations its shards hold.
    """
    augmentations = {aug for per_aug in manifest.shard_records.get(split, {}).values()
                     for aug, n in per_aug.items() if n}
    return manifest.images.get(split, 0) * len(augmentations)


def select_classes(manifest: Manifest, text: str | None = None) -> tuple[str, ...]:
    """The classes to train, as the manifest spells them, in its order.

    Args:
        manifest: a dataset manifest.
        text: a ``--classes`` comma list, names as the manifest spells them; None
            means every class that has training shards (so a class filter at shard time
            carries over to the trainer).

    Raises:
        ValueError: an unknown class, or no class with training shards.
    """
    classes = manifest.classes
    if text:
        return labels.resolve_classes(text, classes, allow_unlabeled=False)
    present = {f["partition"] for f in shard_entries(manifest, TRAIN)}
    chosen = tuple(c for c in classes if c in present)
    if not chosen:
        raise ValueError("the dataset has no training shards: make them with "
                         "`cxrpipe shards` or `cxrpipe run`")
    return chosen


def class_index(manifest: Manifest, classes) -> tuple[int, ...]:
    """Positions of ``classes`` in the manifest's class list (the order of the multi-hot)."""
    order = {name: i for i, name in enumerate(manifest.classes)}
    missing = [c for c in classes if c not in order]
    if missing:
        raise ValueError(f"classes {missing} are not in this dataset; it has "
                         f"{', '.join(manifest.classes)}")
    return tuple(order[c] for c in classes)


def positive_weights(manifest: Manifest, classes, split: str = TRAIN) -> tuple[float, ...]:
    """The manifest's class weights N/N_l of ``split`` for ``classes``.

    A class without positives in the split has no weight in the manifest (N_l = 0); its
    positive term never occurs in the loss, so it gets 1.0 and a warning.
    """
    per_class = manifest.class_weights.get(split, {})
    weights = []
    for name in classes:
        weight = per_class.get(name)
        if weight is None:
            log.warning("class %r has no positive image in the %s split: weight 1.0", name, split)
        weights.append(float(weight) if weight is not None else 1.0)
    return tuple(weights)


def uncertain_policy(manifest: Manifest) -> str:
    """The dataset's ``--uncertain`` policy (``ignore``: the loss skips uncertain labels)."""
    return manifest.preprocessing_option("uncertain")


def steps(count: int, batch_size: int) -> int:
    """Batches in one pass over ``count`` records (at least one)."""
    return max(1, math.ceil(count / batch_size))
