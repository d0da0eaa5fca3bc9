"""Folder-per-class layouts (``{split}/{CLASS}/{file}``, e.g. chest-xray-pneumonia) to records."""

from __future__ import annotations

import posixpath
import re

from cxrpipe.index.checks import finish
from cxrpipe.index.record import NEGATIVE, POSITIVE, DatasetIndex, Record

NAME = "folders"

SPLIT_FOLDERS = {
    "train": "train",
    "val": "val", "valid": "val", "validation": "val",
    "test": "test",
}

# Patient ids hidden in file names, tried in order; the first match wins, else the file stem.
# chest-xray-pneumonia: person1_bacteria_1 -> person1; IM-0001-0001, IM-0001-0001-0002,
# NORMAL2-IM-0001-0001 and NORMAL2-IM-0001-0001-0002 -> the IM-NNNN group with its prefix.
_PATIENT_PATTERNS = (
    re.compile(r"^(person\d+)_"),
    re.compile(r"^((?:[A-Za-z0-9]+-)?IM-\d+)(?:-\d+)+$"),
)
# Archive clutter that is never an input: macOS resource forks.
_IGNORED_FOLDERS = frozenset({"__MACOSX"})


def read_folders(keys) -> DatasetIndex:
    """Read a folder-per-class layout from a listing.

    Args:
        keys: object paths relative to the dataset root, e.g. ``train/NORMAL/IM-0001.jpeg``.
            Hidden entries (any component starting with ``.``, such as ``.DS_Store`` or
            macOS ``._*`` files) and directory markers (ending in ``/``) are ignored. Every
            other key is an input, images or not (the decoder rejects non-images).

    Returns:
        The index: classes = sorted class folder names; per record image id = path = key,
        split from the split folder, values one-hot of the class folder. Records come in
        sorted key order, so the listing's order does not matter.

    Raises:
        ValueError: a key is not ``{split}/{class}/{file}`` or its split folder is not one of
            ``SPLIT_FOLDERS``, naming the key; or no inputs at all.
    """
    keys = [key for key in sorted(keys) if not _ignored(key)]
    _check_root(keys)
    parsed = [_parse(key) for key in keys]
    if not parsed:
        raise ValueError("--images: expected {split}/{class}/{file} objects under the root, "
                         "got none")
    classes = tuple(sorted({label for _, _, label in parsed}))
    records = [_record(key, split, label, classes) for key, split, label in parsed]
    return finish(NAME, classes, records)


def _ignored(key: str) -> bool:
    return key.endswith("/") or any(part.startswith(".") or part in _IGNORED_FOLDERS
                                    for part in key.split("/"))


def _check_root(keys: list[str]) -> None:
    """Say in one line where the split folders are when --images is not their parent (the
    Kaggle pneumonia archive nests ``chest_xray/chest_xray/``)."""
    tops = {key.split("/")[0] for key in keys}
    others = sorted(top for top in tops if top.lower() not in SPLIT_FOLDERS and _holds_splits(keys, top))
    if others and not tops & set(SPLIT_FOLDERS):
        raise ValueError(f"--images: expected split folders ({', '.join(sorted(set(SPLIT_FOLDERS.values())))})"
                         f" under the root, got them one level down, in {others[0]}/: add "
                         f"/{others[0]} to --images")
    if others:
        raise ValueError(f"--images: {others[0]}/ under the root holds another copy of the split folders "
                         f"(the Kaggle archive nests chest_xray/chest_xray/): point --images at one "
                         f"copy (add /{others[0]} to it) or remove the other")


def _holds_splits(keys: list[str], top: str) -> bool:
    return any(len(parts) > 2 and parts[0] == top and parts[1].lower() in SPLIT_FOLDERS
               for parts in (key.split("/") for key in keys))


def _parse(key: str) -> tuple[str, str, str]:
    parts = key.split("/")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"--images object {key!r}: expected a {{split}}/{{class}}/{{file}} "
                         f"path, got {len(parts)} component(s)")
    split = SPLIT_FOLDERS.get(parts[0].lower())
    if split is None:
        raise ValueError(f"--images object {key!r}: expected a split folder from "
                         f"{', '.join(SPLIT_FOLDERS)}, got {parts[0]!r}")
    return key, split, parts[1]


def _record(key: str, split: str, label: str, classes) -> Record:
    values = tuple(POSITIVE if name == label else NEGATIVE for name in classes)
    return Record(image_id=key, path=key, patient_id=patient_of(key), values=values,
                  split=split)


def patient_of(key: str) -> str:
    """Guess the patient from a file name (see ``_PATIENT_PATTERNS``), else the file stem."""
    file_stem = posixpath.splitext(posixpath.basename(key))[0]
    for pattern in _PATIENT_PATTERNS:
        match = pattern.match(file_stem)
        if match:
            return match.group(1)
    return file_stem
