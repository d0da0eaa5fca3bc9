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
_SPLIT_NAMES = ("train", "val", "test")
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
    roots = sorted({_split_root(key) for key in keys} - {None}, key=lambda r: (r.count("/"), r))
    deeper = [root for root in roots if root]
    if not deeper:
        return
    if "" not in roots:
        levels = deeper[0].count("/")
        where = "one level" if levels == 1 else f"{levels} levels"
        raise ValueError(f"--images: expected split folders ({', '.join(_SPLIT_NAMES)}) under the "
                         f"root, got them {where} down, in {deeper[0]}: add /{deeper[0].rstrip('/')} "
                         "to --images")
    raise ValueError(f"--images: {deeper[0]} under the root holds another copy of the split folders "
                     f"(the Kaggle archive nests chest_xray/chest_xray/): point --images at one copy "
                     f"(add /{deeper[0].rstrip('/')} to it) or remove the other")


def _split_root(key: str) -> str | None:
    """The folder (``""``: the root, else ``a/b/``) whose child is a split folder holding this
    ``{split}/{class}/{file}``, or None."""
    parts = key.split("/")
    if len(parts) >= 3 and parts[-3].lower() in SPLIT_FOLDERS:
        return "".join(part + "/" for part in parts[:-3])
    return None


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
