"""Every name in a dataset root: the folders, the files a job writes and their names, built here
and parsed back here (as TFDS's ``ShardedFileTemplate`` does for its shards). Pure.

Output names must be unique by construction over every image id, class and augmentation: the
index readers refuse an id whose stem is another's stem or another's augmented name
(``output_stems``), so two inputs can never write one file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .labels import class_dirname

# The top folders of a dataset root, and the files of its commit.
IMAGES, INDEX, REJECTS, TFRECORDS = "images", "index", "rejects", "tfrecords"
TABLES = (INDEX, REJECTS)
MANIFEST = "_MANIFEST.json"
LEASE = "_LEASE.json"
PIECES = "_pieces"  # the shard writers' inputs, deleted once the shards are written
# Written by a running job, never listed by a manifest.
TRANSIENT = (MANIFEST, LEASE, PIECES + "/")

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
    return f"{IMAGES}/{split}/{class_dirname(partition)}/{stem}{suffix(augmentation)}.jpg"


def table_part(table: str, task: int) -> str:
    """``index/part-00007.parquet`` (or ``rejects/``): one part per preprocessing task."""
    if table not in TABLES:
        raise ValueError(f"table: expected one of {', '.join(TABLES)}, got {table!r}")
    return f"{table}/part-{task:05d}.parquet"


def piece_path(task: int) -> str:
    """``_pieces/part-00007.bin``: one framing task's records for the shard writers."""
    return f"{PIECES}/part-{task:05d}.bin"


def shard_path(split: str, partition: str, index: int, count: int) -> str:
    """``tfrecords/{split}/{class folder}/{class folder}-{split}-00003-of-00008.tfrecord``."""
    folder = class_dirname(partition)
    return f"{TFRECORDS}/{split}/{folder}/{folder}-{split}-{index:05d}-of-{count:05d}.tfrecord"


def top_folder(path: str) -> str:
    """The top folder of a path relative to the root (``index``, ``tfrecords``...)."""
    return path.split("/", 1)[0]


@dataclass(frozen=True)
class ImageName:
    """What an image path says: split, class folder, the image's stem and the version."""

    split: str
    class_dir: str
    stem: str
    augmentation: str


@dataclass(frozen=True)
class ShardName:
    """What a shard path says: split, class folder, its number and how many its partition has."""

    split: str
    class_dir: str
    index: int
    count: int


_IMAGE = re.compile(rf"^{IMAGES}/([^/]+)/([^/]+)/([^/]+)\.jpg$")
_SHARD = re.compile(rf"^{TFRECORDS}/([^/]+)/([^/]+)/\2-\1-(\d{{5}})-of-(\d{{5}})\.tfrecord$")
_TABLE_PART = re.compile(rf"^({'|'.join(TABLES)})/part-(\d{{5}})\.parquet$")


def parse_image_path(path: str) -> ImageName:
    """The parts of an ``image_path``.

    Raises:
        ValueError: not a path ``image_path`` makes.
    """
    found = _IMAGE.match(path)
    if not found:
        raise ValueError(f"expected images/SPLIT/CLASS/STEM.jpg, got {path!r}")
    split, class_dir, name = found.groups()
    for augmentation in sorted(AUGMENTATIONS[1:], key=len, reverse=True):
        if name.endswith(suffix(augmentation)):
            return ImageName(split, class_dir, name[: -len(suffix(augmentation))], augmentation)
    return ImageName(split, class_dir, name, "none")


def parse_shard_path(path: str) -> ShardName:
    """The parts of a ``shard_path``.

    Raises:
        ValueError: not a path ``shard_path`` makes.
    """
    found = _SHARD.match(path)
    if not found:
        raise ValueError(f"expected tfrecords/SPLIT/CLASS/CLASS-SPLIT-NNNNN-of-NNNNN.tfrecord, got {path!r}")
    split, class_dir, index, count = found.groups()
    return ShardName(split, class_dir, int(index), int(count))


def parse_table_part(path: str) -> tuple[str, int]:
    """(table, task) of a ``table_part`` path.

    Raises:
        ValueError: not a path ``table_part`` makes.
    """
    found = _TABLE_PART.match(path)
    if not found:
        raise ValueError(f"expected index/part-NNNNN.parquet or rejects/part-NNNNN.parquet, got {path!r}")
    return found.group(1), int(found.group(2))
