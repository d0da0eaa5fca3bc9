"""Names in a dataset root that depend on the data: the augmentations and the JPEG paths. Pure.

Output names must be unique by construction over every image id, class and augmentation: the
index readers refuse an id whose stem is another's stem or another's augmented name
(``output_stems``), so two inputs can never write one file.
"""

from __future__ import annotations

from .labels import class_dirname

# The canonical order of the versions of an image: the original, then the flips.
AUGMENTATIONS = ("none", "hflip", "vflip", "hvflip")


def suffix(augmentation: str) -> str:
    """What a version adds to the image's stem: nothing for the original, ``_hflip`` etc."""
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation: expected one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}")
    return "" if augmentation == "none" else f"_{augmentation}"


def output_stems(stem: str) -> tuple[str, ...]:
    """Every file stem an image with this stem may write (one per augmentation)."""
    return tuple(stem + suffix(a) for a in AUGMENTATIONS)


def image_path(split: str, partition: str, stem: str, augmentation: str) -> str:
    """``images/{split}/{class folder}/{stem}{suffix}.jpg``, relative to the dataset root."""
    return f"images/{split}/{class_dirname(partition)}/{stem}{suffix(augmentation)}.jpg"
