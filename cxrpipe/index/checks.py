"""Checks every reader applies to its records, and the output stem of an image id."""

from __future__ import annotations

import csv
import io
import posixpath
import re

from cxrpipe.index.record import DatasetIndex, IndexReject, Record

# The dataset's own root folder (CheXpert-v1.0-small, CheXpert-v1.0) and the split folder
# under it are dropped from output stems: the output layout has its own split folders.
_CHEXPERT_ROOT = "CheXpert-v1.0"
_CHEXPERT_SPLITS = frozenset({"train", "valid", "test"})
_DRIVE = re.compile(r"^[A-Za-z]:")


def _chexpert_parts(parts: list[str]) -> list[str]:
    if parts and parts[0].startswith(_CHEXPERT_ROOT):
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in _CHEXPERT_SPLITS:
        parts = parts[1:]
    return parts


def _folders_parts(parts: list[str]) -> list[str]:
    return parts[1:] if len(parts) > 1 else parts


_STEM_PARTS = {
    "nih": lambda parts: parts,
    "chexpert": _chexpert_parts,
    "folders": _folders_parts,
}


def stem(image_id: str, name: str) -> str:
    """Return the output file stem of an image id.

    Args:
        image_id: the id as the dataset's index spells it.
        name: the dataset layout, a key of ``READERS`` (``nih``, ``chexpert``, ``folders``).

    Returns:
        The id without its extension, ``/`` replaced by ``_``, with the dataset's own root and
        split folders dropped: ``00000001_000``, ``patient00001_study1_view1_frontal``,
        ``NORMAL_IM-0001``.

    Raises:
        ValueError: unknown dataset name.
    """
    if name not in _STEM_PARTS:
        raise ValueError(f"dataset: expected one of {', '.join(_STEM_PARTS)}, got {name!r}")
    parts = _STEM_PARTS[name](image_id.split("/"))
    return posixpath.splitext("_".join(parts))[0]


def path_problem(path: str) -> str:
    """Say why a path could leave the images root, or return "" when it cannot.

    Rejected: empty, absolute (``/x``, ``C:x``), with backslashes, or with ``..`` components.
    """
    if not path:
        return "the path is empty"
    if "\\" in path:
        return f"the path {path!r} contains a backslash"
    if path.startswith("/") or _DRIVE.match(path):
        return f"the path {path!r} is absolute"
    if ".." in path.split("/"):
        return f"the path {path!r} has a '..' component"
    return ""


def finish(name: str, classes, records) -> DatasetIndex:
    """Apply the shared checks to a reader's records, in index order.

    A bad path becomes a ``path_escape`` reject; an id seen before, or an id whose output stem
    another kept id already has, becomes a ``duplicate_id`` reject (the first row is kept).

    Args:
        name: the dataset layout (for ``stem``).
        classes: the dataset's class names, in order.
        records: the reader's records, in index order.

    Returns:
        The dataset index with the kept records and the rejects.
    """
    kept, rejects, ids, stems = [], [], set(), {}
    for record in records:
        problem = _problem(record, name, ids, stems)
        if problem:
            rejects.append(IndexReject(record.image_id, record.path, *problem))
            continue
        kept.append(record)
        ids.add(record.image_id)
        stems[stem(record.image_id, name)] = record.image_id
    return DatasetIndex(name, tuple(classes), tuple(kept), tuple(rejects))


def _problem(record: Record, name: str, ids, stems) -> tuple[str, str] | None:
    escape = path_problem(record.path)
    if escape:
        return "path_escape", escape
    if record.image_id in ids:
        return "duplicate_id", f"the index names {record.image_id!r} more than once"
    clash = stems.get(stem(record.image_id, name))
    if clash is not None:
        return "duplicate_id", (f"{record.image_id!r} and {clash!r} would both be written as "
                                f"{stem(record.image_id, name)!r}")
    return None


# What each layout's index is called, and the first header field that gives it away: used
# for a one-line hint when an index is handed to the wrong reader.
_INDEX_NAMES = {
    "nih": "the NIH ChestX-ray14 index (Data_Entry_2017.csv)",
    "chexpert": "a CheXpert train.csv/valid.csv",
}
_LAYOUT_BY_FIRST_FIELD = {"Image Index": "nih", "Path": "chexpert"}


def csv_rows(text: str):
    """Split CSV text into (line number, fields) pairs, skipping blank lines.

    A leading byte-order mark is dropped (spreadsheet exports add one).
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    for fields in reader:
        if any(field.strip() for field in fields):
            yield reader.line_num, fields


def wrong_layout(name: str, header: list[str]) -> ValueError:
    """Build the error for an index whose header is not the layout ``name``'s."""
    guess = _LAYOUT_BY_FIRST_FIELD.get(header[0].strip() if header else "")
    hint = (f"; it looks like {_INDEX_NAMES[guess]}: use --dataset {guess}"
            if guess and guess != name else "")
    return ValueError(f"--index: this is not {_INDEX_NAMES[name]}{hint}; "
                      f"got header {','.join(header)!r}")


def row_error(row: int, line: int, field: str, expected: str, got, note: str = "") -> ValueError:
    """Build the error for one bad field of one index row (1-based data row and file line)."""
    return ValueError(f"index row {row} (line {line}), field {field!r}: expected {expected}, "
                      f"got {got!r}{note}")
