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
MANIFESTS = "_manifests"  # one manifest per committed version, vNNNNNN.json
# The folders a job writes a version's files to (what gc may delete).
DATA = (IMAGES, INDEX, REJECTS, TFRECORDS)
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


def version_folder(version: int) -> str:
    """``v000003``: where a version after the first keeps its tables and shards, so a newer
    version never overwrites an older one's (the first keeps them where they always were)."""
    if version < 1:
        raise ValueError(f"version: expected a number from 1, got {version}")
    return f"v{version:06d}"


def _in_version(top: str, rest: str, version: int) -> str:
    return f"{top}/{rest}" if version == 1 else f"{top}/{version_folder(version)}/{rest}"


def table_part(table: str, task: int, version: int = 1) -> str:
    """``index/part-00007.parquet`` (or ``rejects/``; ``index/v000002/...`` for version 2 on):
    one part per preprocessing task."""
    if table not in TABLES:
        raise ValueError(f"table: expected one of {', '.join(TABLES)}, got {table!r}")
    return _in_version(table, f"part-{task:05d}.parquet", version)


def manifest_version_path(version: int) -> str:
    """``_manifests/v000003.json``: the manifest a commit of that version wrote."""
    return f"{MANIFESTS}/{version_folder(version)}.json"


def parse_manifest_version(path: str) -> int:
    """The version number of a ``manifest_version_path``.

    Raises:
        ValueError: not a path ``manifest_version_path`` makes.
    """
    found = _MANIFEST_VERSION.match(path)
    if not found:
        raise ValueError(f"expected {MANIFESTS}/vNNNNNN.json, got {path!r}")
    return int(found.group(1))


def piece_path(task: int) -> str:
    """``_pieces/part-00007.bin``: one framing task's records for the shard writers."""
    return f"{PIECES}/part-{task:05d}.bin"


def shard_path(split: str, partition: str, index: int, count: int, version: int = 1) -> str:
    """``tfrecords/{split}/{class folder}/{class folder}-{split}-00003-of-00008.tfrecord``
    (``tfrecords/v000002/{split}/...`` for version 2 on)."""
    folder = class_dirname(partition)
    return _in_version(TFRECORDS, f"{split}/{folder}/{folder}-{split}-{index:05d}-of-{count:05d}.tfrecord", version)


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
_VERSION = r"(?:v\d{6}/)?"
_SHARD = re.compile(rf"^{TFRECORDS}/{_VERSION}([^/]+)/([^/]+)/\2-\1-(\d{{5}})-of-(\d{{5}})\.tfrecord$")
_TABLE_PART = re.compile(rf"^({'|'.join(TABLES)})/{_VERSION}part-(\d{{5}})\.parquet$")
_MANIFEST_VERSION = re.compile(rf"^{MANIFESTS}/v(\d{{6}})\.json$")


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
