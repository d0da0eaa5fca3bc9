"""Any CSV with a path column, a patient column and labels (hospital exports, small sets)."""

from __future__ import annotations

from dataclasses import dataclass

from cxrpipe.index.checks import (column_positions, csv_rows, field_of, finish, header_of,
                                  label_value, row_error)
from cxrpipe.index.record import NEGATIVE, POSITIVE, DatasetIndex, Record

NAME = "table"

# Spellings of the official split in a split column; blank leaves the image to the splitter.
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validate": "val",
               "validation": "val", "test": "test", "": None}


@dataclass(frozen=True)
class TableColumns:
    """Which columns of the user's CSV hold what (the ``--*-column`` flags).

    Labels come either one column per class (``label_columns``, values 1/0/-1/blank as
    CheXpert writes them) or as one column of class names joined by ``separator``
    (``labels_column``; blank: no positive class), never both.
    """

    path: str = "path"
    patient: str = "patient"
    view: str | None = None
    split: str | None = None
    label_columns: tuple[str, ...] = ()
    labels_column: str | None = None
    separator: str = "|"

    def check(self) -> None:
        """Raises ValueError unless exactly one way of giving labels is chosen."""
        if bool(self.label_columns) == bool(self.labels_column):
            raise ValueError("--dataset table: expected either --label-columns A,B,... (one column "
                             "per class) or --labels-column NAME (names joined by "
                             f"--label-separator), got {'both' if self.label_columns else 'neither'}")
        if self.labels_column and not self.separator:
            raise ValueError("--label-separator: expected a non-empty separator, got ''")


def read_table(text: str, columns: TableColumns = TableColumns()) -> DatasetIndex:
    """Read a user's CSV index.

    Args:
        text: the CSV; its first row names the columns.
        columns: which columns hold the path, patient, view, split and labels.

    Returns:
        The index: classes = ``label_columns`` in the order given, or the sorted names seen in
        ``labels_column``; per record image id = path = the path column (relative to
        ``--images``), patient = the patient column, view = the view column (or none: every
        image counts as frontal), split = the split column's (train, val/valid/validate/
        validation, test; blank: split by patient).

    Raises:
        ValueError: a named column is missing, a row is malformed (row, column, expected, got),
            or ``columns`` is inconsistent.
    """
    columns.check()
    rows = csv_rows(text)
    header = header_of(rows)
    wanted = (columns.path, columns.patient, *columns.label_columns,
              *(c for c in (columns.view, columns.split, columns.labels_column) if c))
    positions = column_positions(NAME, header, wanted)
    parsed = [_fields(row, line, fields, positions) for row, (line, fields) in enumerate(rows, start=1)]
    classes = columns.label_columns or _names_seen(parsed, columns)
    records = [_record(row, line, value, columns, classes) for row, line, value in parsed]
    return finish(NAME, classes, records, has_views=columns.view is not None)


def _fields(row: int, line: int, fields: list[str], positions: dict) -> tuple[int, int, dict]:
    return row, line, {c: field_of(fields, p, row, line, c) for c, p in positions.items()}


def _names_seen(parsed, columns: TableColumns) -> tuple[str, ...]:
    return tuple(sorted({name for _, _, value in parsed
                         for name in _split_names(value[columns.labels_column], columns.separator)}))


def _split_names(text: str, separator: str) -> list[str]:
    return [name.strip() for name in text.split(separator) if name.strip()]


def _record(row: int, line: int, value: dict, columns: TableColumns, classes) -> Record:
    patient = value[columns.patient]
    if not patient:
        raise row_error(row, line, columns.patient, "a patient id", patient)
    return Record(image_id=value[columns.path], path=value[columns.path], patient_id=patient,
                  values=_values(row, line, value, columns, classes),
                  view=value[columns.view] if columns.view else "",
                  split=_split(row, line, value, columns))


def _values(row: int, line: int, value: dict, columns: TableColumns, classes) -> tuple[int, ...]:
    if columns.label_columns:
        return tuple(label_value(row, line, c, value[c]) for c in columns.label_columns)
    names = set(_split_names(value[columns.labels_column], columns.separator))
    return tuple(POSITIVE if c in names else NEGATIVE for c in classes)


def _split(row: int, line: int, value: dict, columns: TableColumns) -> str | None:
    if not columns.split:
        return None
    text = value[columns.split]
    if text.lower() not in SPLIT_NAMES:
        raise row_error(row, line, columns.split,
                        f"one of {', '.join(n for n in SPLIT_NAMES if n)} or blank", text)
    return SPLIT_NAMES[text.lower()]
