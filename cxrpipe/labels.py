"""Class lists and the label policy: declared once, used by readers, shards, manifest and trainer.

The label contract (as torchxrayvision writes it down): a record's ``values`` hold, per class
in the dataset's order, 1 positive, 0 negative or not mentioned, -1 uncertain. An uncertainty
policy turns them into 0/1 labels; the uncertainty itself is kept separately by
``uncertain_mask`` so the shards can carry it whatever the policy.
"""

from __future__ import annotations

NO_FINDING = "No Finding"

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
    """Name the positive classes of one image, in class order.

    Args:
        values: one source value per class (1, 0, -1).
        classes: the dataset's class names, same order and length as ``values``.
        policy: the uncertainty policy (see ``resolve``).

    Returns:
        The positive class names; ``("No Finding",)`` when none is positive and the dataset
        has that class; ``()`` when none is positive and it has not.

    Raises:
        ValueError: lengths differ, unknown policy or bad value.
    """
    labels = resolve(_same_length(values, classes), policy)
    found = tuple(name for name, label in zip(classes, labels) if label == 1)
    if not found and NO_FINDING in classes:
        return (NO_FINDING,)
    return found


def multi_hot(values, classes, policy: str) -> tuple[int, ...]:
    """Return the 0/1 label vector of one image, consistent with ``positives``.

    It equals ``resolve`` except that an image with no positive class is 1 for ``No Finding``
    when the dataset has that class.

    Raises:
        ValueError: as ``positives``.
    """
    found = set(positives(values, classes, policy))
    return tuple(1 if name in found else 0 for name in classes)


def partitions(values, classes, policy: str, membership: str, selected=None) -> tuple[str, ...]:
    """Name the class partitions one image joins, in class order.

    Args:
        values: one source value per class (1, 0, -1).
        classes: the dataset's class names.
        policy: the uncertainty policy (see ``resolve``).
        membership: ``any``: every positive class (``No Finding`` when none is positive);
            ``exclusive``: only the pure sets, i.e. the image has exactly one positive class
            and no other class is positive or uncertain (``No Finding``: no positive and no
            uncertain class). Under ``ones`` a -1 counts as positive, so it can be the one.
        selected: class names to keep (from ``parse_classes``), or None for all.

    Returns:
        The partitions, in class order. The first one holds the image's primary copy.

    Raises:
        ValueError: unknown membership or selected class, or as ``positives``.
    """
    if membership not in MEMBERSHIPS:
        raise ValueError(f"--membership: expected one of {', '.join(MEMBERSHIPS)}, "
                         f"got {membership!r}")
    found = positives(values, classes, policy)
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
    unknown = [n for n in names if n not in classes]
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


def parse_classes(text: str | None, classes) -> tuple[str, ...] | None:
    """Parse a ``--classes`` comma list into dataset class names.

    Names are matched as the dataset spells them, with ``_`` for spaces (``No_Finding``), and
    without regard to case.

    Args:
        text: e.g. ``"Effusion,No_Finding"``; None means every class.
        classes: the dataset's class names, in order.

    Returns:
        The selected names as the dataset spells them, in the dataset's class order and
        without repeats; None when ``text`` is None.

    Raises:
        ValueError: an unknown name, or a list with no names, listing the valid names.
    """
    if text is None:
        return None
    by_key = {_key(name): name for name in classes}
    asked = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in asked if _key(part) not in by_key]
    if unknown or not asked:
        raise ValueError(f"--classes: expected comma-separated names from "
                         f"{', '.join(classes)}; got {text!r}"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    chosen = {by_key[_key(part)] for part in asked}
    return tuple(name for name in classes if name in chosen)


def class_dirname(name: str) -> str:
    """Return the class name as used in output paths: spaces become ``_`` (``No_Finding``)."""
    return name.replace(" ", "_")
