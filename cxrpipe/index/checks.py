"""Checks every reader applies to its records, and the output stem of an image id."""

from __future__ import annotations

import csv
import difflib
import gzip
import io
import posixpath
import re
import zlib

from cxrpipe.labels import check_class_names
from cxrpipe.layout import output_stems
from cxrpipe.index.record import NEGATIVE, POSITIVE, UNCERTAIN, DatasetIndex, IndexReject, Record

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
    "mimic": lambda parts: parts,
    "table": lambda parts: parts,
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


def finish(name: str, classes, records, has_views: bool = True) -> DatasetIndex:
    """Apply the shared checks to a reader's records, in index order.

    A bad path becomes a ``path_escape`` reject; an id seen before, or an id that would write a
    file another kept id writes (same stem, or its stem is another's flip name, such as
    ``00000001_000_hflip.png`` beside ``00000001_000.png``), becomes a ``duplicate_id`` reject
    naming both (the first row is kept). So output names are unique by construction.

    Args:
        name: the dataset layout (for ``stem``).
        classes: the dataset's class names, in order.
        records: the reader's records, in index order.
        has_views: whether the layout says each image's view (see ``DatasetIndex``).

    Returns:
        The dataset index with the kept records and the rejects.

    Raises:
        ValueError: class names whose partitions could not be told apart (``check_class_names``).
    """
    check_class_names(classes)
    kept, rejects, ids, owners = [], [], set(), {}
    for record in records:
        outputs = output_stems(stem(record.image_id, name))
        problem = _problem(record, outputs, ids, owners)
        if problem:
            rejects.append(IndexReject(record.image_id, record.path, *problem))
            continue
        kept.append(record)
        ids.add(record.image_id)
        owners.update(dict.fromkeys(outputs, record.image_id))
    return DatasetIndex(name, tuple(classes), tuple(kept), tuple(rejects), has_views)


def _problem(record: Record, outputs, ids, owners) -> tuple[str, str] | None:
    escape = path_problem(record.path)
    if escape:
        return "path_escape", escape
    if record.image_id in ids:
        return "duplicate_id", f"the index names {record.image_id!r} more than once"
    for output in outputs:
        if output in owners:
            return "duplicate_id", (f"{record.image_id!r} and {owners[output]!r} would both write "
                                    f"{output!r}")
    return None


# What each layout's index is called, and the header fields that give it away: used for a
# one-line hint when an index is handed to the wrong reader.
_INDEX_NAMES = {
    "nih": "the NIH ChestX-ray14 index (Data_Entry_2017.csv or its 2020 revision)",
    "chexpert": "a CheXpert train.csv/valid.csv",
    "mimic": "MIMIC-CXR-JPG's mimic-cxr-2.0.0-metadata.csv(.gz)",
    "mimic labels": "MIMIC-CXR-JPG's mimic-cxr-2.0.0-chexpert.csv(.gz) or -negbio.csv(.gz)",
    "mimic split": "MIMIC-CXR-JPG's mimic-cxr-2.0.0-split.csv(.gz)",
    "table": "a CSV with the columns you named",
}
_GIVEAWAYS = (
    ("nih", {"Image Index", "Finding Labels"}),
    ("chexpert", {"Path", "No Finding"}),
    ("mimic", {"dicom_id", "ViewPosition"}),
    ("mimic split", {"dicom_id", "split"}),
    ("mimic labels", {"subject_id", "study_id", "No Finding"}),
)
_HINT_FLAGS = {"nih": "--dataset nih", "chexpert": "--dataset chexpert", "mimic": "--dataset mimic",
               "mimic labels": "it as --labels of --dataset mimic",
               "mimic split": "it as --split-file of --dataset mimic"}
_GZIP_MAGIC = b"\x1f\x8b"


def index_text(data: bytes, what: str) -> str:
    """The text of an index file as it comes: gzip-compressed or not (by its bytes, not its
    name), with or without a UTF-8 byte-order mark.

    Args:
        data: the file's bytes.
        what: how to name the file in an error (``--index s3://...``).

    Raises:
        ValueError: a damaged gzip stream, or text that is not UTF-8.
    """
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{what}: expected a complete gzip file, got a damaged one ({exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what}: expected UTF-8 text, got byte {data[exc.start]:#04x} at "
                         f"offset {exc.start}; save the file as UTF-8") from None


def csv_rows(text: str):
    """Split CSV text into (line number, fields) pairs, skipping blank lines.

    Quoted fields, CRLF or CR line ends and a leading byte-order mark (spreadsheet exports
    add one) are read as the CSV standard says.

    Raises:
        ValueError: the text is not CSV (a field over 131,072 characters, a NUL byte).
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                yield reader.line_num, fields
    except csv.Error as exc:
        raise ValueError(f"index line {reader.line_num}: expected CSV fields, got {exc} "
                         "(is this the index file?)") from None


def header_of(rows) -> list[str]:
    """The first row of ``csv_rows``, stripped field by field (empty for an empty file)."""
    return [field.strip() for field in next(rows, (0, []))[1]]


def column_positions(name: str, header: list[str], required, optional=()) -> dict[str, int]:
    """Find columns by name, wherever they are; other columns (extra, renamed, trailing) are
    left alone, so revisions and trimmed copies of an index pass.

    Args:
        name: the layout (a key of ``_INDEX_NAMES``), for the error.
        header: the stripped header fields.
        required: column names that must be there.
        optional: column names that may be missing.

    Returns:
        column name -> position, for every required column and every optional one present.

    Raises:
        ValueError: a required column is missing: names it, the closest header field when one
            looks misspelled, and the layout the header looks like when it is another's.
    """
    missing = next((column for column in required if column not in header), None)
    if missing is not None:
        raise _missing_column(name, header, missing)
    return {column: header.index(column) for column in (*required, *optional) if column in header}


def _missing_column(name: str, header: list[str], column: str) -> ValueError:
    close = difflib.get_close_matches(column, header, n=1, cutoff=0.75)
    return ValueError(f"--index: expected {_INDEX_NAMES[name]}, with a column {column!r}; "
                      + (f"got {close[0]!r} (misspelled?)" if close else "it is missing")
                      + _layout_hint(name, header) + f"; header {','.join(header)[:300]!r}")


def _layout_hint(name: str, header: list[str]) -> str:
    fields = set(header)
    guess = next((layout for layout, giveaway in _GIVEAWAYS if giveaway <= fields), None)
    if guess is None or guess == name:
        return ""
    return f"; it looks like {_INDEX_NAMES[guess]}: use {_HINT_FLAGS[guess]}"


def row_error(row: int, line: int, field: str, expected: str, got, note: str = "") -> ValueError:
    """Build the error for one bad field of one index row (1-based data row and file line)."""
    return ValueError(f"index row {row} (line {line}), field {field!r}: expected {expected}, "
                      f"got {got!r}{note}")


def field_of(fields: list[str], position: int, row: int, line: int, column: str) -> str:
    """One field of a row, stripped; a row too short to have it is an error naming the row."""
    if position >= len(fields):
        raise row_error(row, line, column, f"a value in column {position + 1}",
                        ",".join(fields), f" (the row has {len(fields)} fields)")
    return fields[position].strip()


# 1 positive, 0 negative, -1 uncertain, blank not mentioned (which the CheXpert labeler and
# torchxrayvision treat as negative), as CheXpert and MIMIC write them.
_VALUES = {
    "1.0": POSITIVE, "1": POSITIVE,
    "0.0": NEGATIVE, "0": NEGATIVE, "": NEGATIVE,
    "-1.0": UNCERTAIN, "-1": UNCERTAIN,
}


def label_value(row: int, line: int, column: str, field: str) -> int:
    """One label column's value: 1, 0, -1 from ``1.0``/``1``, ``0.0``/``0``/blank, ``-1.0``/``-1``."""
    value = _VALUES.get(field.strip())
    if value is None:
        raise row_error(row, line, column, "1.0, 0.0, -1.0 or blank (or 1, 0, -1)", field)
    return value


def integer_id(row: int, line: int, column: str, field: str) -> str:
    """A numeric id as its integer (``00000001`` and ``1`` are one patient in every copy)."""
    text = field.strip()
    if not text.isdigit():
        raise row_error(row, line, column, "a whole number", field)
    return str(int(text))
