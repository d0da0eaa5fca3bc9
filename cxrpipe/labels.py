"""Class lists and the label policy: declared once, used by readers, shards, manifest and trainer.

The label contract (as torchxrayvision writes it down): a record's ``values`` hold, per class
in the dataset's order, 1 positive, 0 negative or not mentioned, -1 uncertain. An uncertainty
policy turns them into 0/1 labels; the uncertainty itself is kept separately by
``uncertain_mask`` so the shards can carry it whatever the policy.
"""

from __future__ import annotations

NO_FINDING = "No Finding"

# The partition of images with no positive class (after the uncertainty policy). Not a class:
# not in a manifest's class list or multi-hot, no class weight, no autoencoder.
UNLABELED = "Unlabeled"

NIH_CLASSES = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
    "Hernia",
    NO_FINDING,
)

# CheXpert's 14 observation columns in file order (No Finding is a column of its own there).
CHEXPERT_CLASSES = (
    NO_FINDING, "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
    "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices",
)

# MIMIC-CXR-JPG's label files (CheXpert and NegBio labelers) name the same 14 observations, in
# alphabetical order: that is its class order.
MIMIC_CLASSES = tuple(sorted(CHEXPERT_CLASSES))

# What an uncertain (-1) value becomes. "ignore" labels it 0 like "zeros"; it differs only in
# the trainer, which masks uncertain entries out of the loss (the mask travels in the shards).
_UNCERTAIN_AS = {"ones": 1, "zeros": 0, "ignore": 0}
UNCERTAIN_POLICIES = tuple(_UNCERTAIN_AS)

MEMBERSHIPS = ("any", "exclusive")

_VALID_VALUES = (1, 0, -1)


def resolve(values, policy: str) -> tuple[int, ...]:
    """Turn source values into 0/1 labels under an uncertainty policy.

    Args:
        values: one value per class: 1 positive, 0 negative, -1 uncertain.
        policy: one of ``UNCERTAIN_POLICIES``: ``ones`` makes -1 a 1; ``zeros`` and ``ignore``
            make it a 0 (``ignore`` differs only in the trainer's loss mask).

    Returns:
        One 0/1 label per class, in the same order.

    Raises:
        ValueError: unknown policy, or a value other than 1, 0, -1.
    """
    if policy not in _UNCERTAIN_AS:
        raise ValueError(f"--uncertain: expected one of {', '.join(UNCERTAIN_POLICIES)}, "
                         f"got {policy!r}")
    uncertain_as = _UNCERTAIN_AS[policy]
    return tuple(uncertain_as if v == -1 else _checked(v, i) for i, v in enumerate(values))


def _checked(value, position: int) -> int:
    if value not in _VALID_VALUES:
        raise ValueError(f"label value at class position {position}: expected 1, 0 or -1, "
                         f"got {value!r}")
    return int(value)


def uncertain_mask(values) -> tuple[int, ...]:
    """Return 1 where the source said uncertain (-1), else 0, one per class."""
    return tuple(1 if v == -1 else 0 for v in values)


def positives(values, classes, policy: str) -> tuple[str, ...]:
    """Name the positive classes of one image, in class order: exactly what the source says,
    changed only by ``policy`` for -1. An image with none gets ``()``: no label is invented.

    Args:
        values: one source value per class (1, 0, -1).
        classes: the dataset's class names, same order and length as ``values``.
        policy: the uncertainty policy (see ``resolve``).

    Raises:
        ValueError: lengths differ, unknown policy or bad value.
    """
    labels = resolve(_same_length(values, classes), policy)
    return tuple(name for name, label in zip(classes, labels) if label == 1)


def multi_hot(values, classes, policy: str) -> tuple[int, ...]:
    """Return the 0/1 label vector of one image: ``resolve`` checked against the class list.

    Raises:
        ValueError: as ``positives``.
    """
    return resolve(_same_length(values, classes), policy)


def partitions(values, classes, policy: str, membership: str, selected=None) -> tuple[str, ...]:
    """Name the partitions one image joins, in partition order (classes, then ``Unlabeled``).

    Args:
        values: one source value per class (1, 0, -1).
        classes: the dataset's class names.
        policy: the uncertainty policy (see ``resolve``).
        membership: ``any``: every positive class, or ``Unlabeled`` when none is positive;
            ``exclusive``: only the pure sets, i.e. the image has exactly one positive class
            and no other class is positive or uncertain (``Unlabeled``: no class positive or
            uncertain). Under ``ones`` a -1 counts as positive, so it can be the one.
        selected: partition names to keep (from ``resolve_classes``), or None for all.

    Returns:
        The partitions, in order. The first one holds the image's primary copy.

    Raises:
        ValueError: unknown membership or selected name, or as ``positives``.
    """
    if membership not in MEMBERSHIPS:
        raise ValueError(f"--membership: expected one of {', '.join(MEMBERSHIPS)}, "
                         f"got {membership!r}")
    found = positives(values, classes, policy) or (UNLABELED,)
    if membership == "exclusive" and not _is_pure(values, classes, found):
        found = ()
    if selected is None:
        return found
    keep = set(_known(selected, classes))
    return tuple(name for name in found if name in keep)


def _is_pure(values, classes, found) -> bool:
    if len(found) != 1:
        return False
    return all(v != -1 for name, v in zip(classes, values) if name != found[0])


def _known(names, classes):
    unknown = [n for n in names if n not in classes and n != UNLABELED]
    if unknown:
        raise ValueError(f"--classes: expected names from {', '.join(classes)}; "
                         f"got unknown {', '.join(unknown)}")
    return names


def _same_length(values, classes):
    if len(values) != len(classes):
        raise ValueError(f"label values: expected {len(classes)} (one per class), "
                         f"got {len(values)}")
    return values


def _key(name: str) -> str:
    return name.strip().replace("_", " ").casefold()


def partition_names(classes) -> tuple[str, ...]:
    """Every partition a dataset can have, in order: its classes, then ``Unlabeled``."""
    return (*classes, UNLABELED)


def resolve_classes(text, classes, *, allow_unlabeled: bool = True) -> tuple[str, ...] | None:
    """The one resolver of ``--classes`` (preprocess, run, shards, train): a comma list of
    names exactly as the manifest spells them.

    Args:
        text: e.g. ``"Effusion,No Finding"``, or the names as a sequence; None means every
            class.
        classes: the dataset's class names, in order.
        allow_unlabeled: whether ``Unlabeled`` (the images with no positive class) may be
            selected; it is a partition, not a class, so the trainer refuses it.

    Returns:
        The selected names in partition order (``partition_names``) without repeats; None
        when ``text`` is None.

    Raises:
        ValueError: an empty list or an unknown name, naming the valid ones, and the intended
            class when only case or ``_``/space differ (``No_Finding`` -> ``No Finding``).
    """
    if text is None:
        return None
    known = partition_names(classes) if allow_unlabeled else tuple(classes)
    names = text.split(",") if isinstance(text, str) else list(text)
    asked = [part.strip() for part in names if part.strip()]
    unknown = [part for part in asked if part not in known]
    if unknown or not asked:
        raise ValueError(f"--classes: expected comma-separated names from {', '.join(known)}; "
                         f"got {','.join(names)!r}" + _unknown_note(unknown, known))
    return tuple(name for name in known if name in asked)


def _unknown_note(unknown, known) -> str:
    if not unknown:
        return ""
    by_key = {_key(name): name for name in known}
    notes = []
    for name in unknown:
        if name == UNLABELED:
            notes.append(f"{UNLABELED!r} is not a class (it holds the images without one)")
        elif _key(name) in by_key:
            notes.append(f"{name!r}: did you mean {by_key[_key(name)]!r}?")
        else:
            notes.append(f"{name!r} is unknown")
    return " (" + "; ".join(notes) + ")"


def check_class_names(classes) -> None:
    """Refuse a class list whose partitions could not be told apart on disk.

    Raises:
        ValueError: a class named ``Unlabeled`` (the partition of images without a class), or
            two classes whose folder names (``class_dirname``) are equal.
    """
    folders: dict[str, str] = {}
    for name in classes:
        if class_dirname(name) == UNLABELED:
            raise ValueError(f"class {name!r}: expected any name but {UNLABELED!r}, which cxrpipe "
                             "uses for images without a positive class; rename it")
        other = folders.setdefault(class_dirname(name), name)
        if other != name:
            raise ValueError(f"classes {other!r} and {name!r}: expected distinct folder names, both "
                             f"would be written to {class_dirname(name)!r}; rename one")


def class_dirname(name: str) -> str:
    """Return the class name as used in output paths: spaces become ``_`` (``No_Finding``)."""
    return name.replace(" ", "_")
