"""NIH ChestX-ray14: ``Data_Entry_2017.csv`` (every copy and revision) to records."""

from __future__ import annotations

import logging
from dataclasses import replace

from cxrpipe.index.checks import (column_positions, csv_rows, field_of, finish, header_of,
                                  integer_id, row_error)
from cxrpipe.index.record import NEGATIVE, POSITIVE, DatasetIndex, Record
from cxrpipe.labels import NIH_CLASSES, NO_FINDING

log = logging.getLogger(__name__)

NAME = "nih"

# Found by name, wherever they are: NIH's Box file (2017), its 2020 revision (which says
# `Patient Sex` for `Patient Gender`), Kaggle's copy (CRLF) and `sample_labels.csv` (which
# renames the pixel columns) differ in the columns cxrpipe does not read.
IMAGE, LABELS, PATIENT, VIEW = "Image Index", "Finding Labels", "Patient ID", "View Position"
COLUMNS = (IMAGE, LABELS, PATIENT, VIEW)


def read_nih(text: str, test_list: str | None = None) -> DatasetIndex:
    """Read the NIH ChestX-ray14 index.

    Args:
        text: the contents of ``Data_Entry_2017.csv``: NIH's 2017 file or its 2020 revision
            (``Data_Entry_2017_v2020.csv``), Kaggle's copy or its ``sample_labels.csv``.
        test_list: the contents of the official ``test_list.txt`` (one file name a line), or
            None. Records it names get split ``test``; the others split None, for the
            splitter to divide into train and val (the list is by patient, so a patient on
            both sides is an error there).

    Returns:
        The index: classes ``NIH_CLASSES``; per record path = image id = ``Image Index``,
        patient = ``Patient ID`` as an integer (Box writes ``00000001``, the other copies
        ``1``), view = ``View Position``; ``No Finding`` rows are positive for it only.

    Raises:
        ValueError: a needed column is missing (named), or a row is malformed (naming the
            row, the field, what was expected and what came).
    """
    rows = csv_rows(text)
    positions = column_positions(NAME, header_of(rows), COLUMNS)
    tests = _names(test_list)
    records = [_record(row, line, fields, positions, tests)
               for row, (line, fields) in enumerate(rows, start=1)]
    _warn_unmatched(tests, records)
    return finish(NAME, NIH_CLASSES, records)


def _record(row: int, line: int, fields: list[str], positions: dict, tests: frozenset) -> Record:
    value = {column: field_of(fields, positions[column], row, line, column) for column in COLUMNS}
    image_id = value[IMAGE]
    return Record(image_id=image_id, path=image_id,
                  patient_id=integer_id(row, line, PATIENT, value[PATIENT]),
                  values=_values(row, line, value[LABELS]), view=value[VIEW],
                  split="test" if image_id in tests else None)


def _values(row: int, line: int, labels: str) -> tuple[int, ...]:
    names = [name.strip() for name in labels.split("|")]
    unknown = [name for name in names if name not in NIH_CLASSES]
    if unknown:
        raise row_error(row, line, LABELS,
                        f"names from {', '.join(NIH_CLASSES)} joined by '|'", labels,
                        f" (unknown: {', '.join(map(repr, unknown))})")
    if NO_FINDING in names and len(set(names)) > 1:
        raise row_error(row, line, LABELS, f"{NO_FINDING!r} alone or findings without it", labels)
    return tuple(POSITIVE if name in names else NEGATIVE for name in NIH_CLASSES)


def _names(test_list: str | None) -> frozenset:
    if test_list is None:
        return frozenset()
    return frozenset(line.strip() for line in test_list.splitlines() if line.strip())


def _warn_unmatched(tests: frozenset, records: list[Record]) -> None:
    matched = sum(1 for record in records if record.split == "test")
    if tests and matched < len(tests):
        log.warning("test list: %d of its %d names are not in the index (ignored)",
                    len(tests) - matched, len(tests))


def locate_nested(index: DatasetIndex, keys) -> tuple[DatasetIndex, int]:
    """Point records at their images one or more folders down, where the index names only the
    file: Kaggle's copy of ChestX-ray14 spreads the PNGs over ``images_001/images/`` to
    ``images_012/images/``.

    Args:
        index: the index read from ``Data_Entry_2017.csv``.
        keys: the object keys under ``--images``, relative to it.

    Returns:
        The index with the path of every record not found at the root replaced by the one key
        with its file name (records whose name is nowhere, or in two places, keep theirs and
        end as ``missing`` rejects), and the number of records moved.
    """
    keys = list(keys)
    present = set(keys)
    by_name: dict[str, list[str]] = {}
    for key in keys:
        by_name.setdefault(key.rsplit("/", 1)[-1], []).append(key)
    records, moved = [], 0
    for record in index.records:
        found = by_name.get(record.path, [])
        if record.path not in present and len(found) == 1:
            record = replace(record, path=found[0])
            moved += 1
        records.append(record)
    return replace(index, records=tuple(records)), moved
