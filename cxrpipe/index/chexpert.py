"""CheXpert: ``train.csv`` / ``valid.csv`` to records."""

from __future__ import annotations

import re

from cxrpipe.index.checks import csv_rows, finish, path_problem, row_error, wrong_layout
from cxrpipe.index.record import NEGATIVE, POSITIVE, UNCERTAIN, DatasetIndex, Record
from cxrpipe.labels import CHEXPERT_CLASSES

NAME = "chexpert"

COLUMNS = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA") + CHEXPERT_CLASSES
_PATH, _FRONTAL_LATERAL, _AP_PA, _FIRST_CLASS = 0, 3, 4, 5

# Blank means "not mentioned in the report", which CheXpert's own labeler treats as negative.
_VALUES = {
    "1.0": POSITIVE, "1": POSITIVE,
    "0.0": NEGATIVE, "0": NEGATIVE, "": NEGATIVE,
    "-1.0": UNCERTAIN, "-1": UNCERTAIN,
}
_PATIENT = re.compile(r"^patient\d+$")


def read_chexpert(text: str) -> DatasetIndex:
    """Read a CheXpert index.

    Args:
        text: the contents of ``train.csv`` or ``valid.csv``.

    Returns:
        The index: classes ``CHEXPERT_CLASSES``; per record image id = path = ``Path`` (relative
        to the folder holding ``CheXpert-v1.0-small/``), patient = its ``patientNNNNN``
        component, view = ``AP/PA`` for a frontal image (``Frontal`` when that is blank), else
        ``Frontal/Lateral`` (``Lateral``).

    Raises:
        ValueError: the header is not this layout's, or a row is malformed (naming the row,
            the column, what was expected and what came).
    """
    rows = csv_rows(text)
    header = next(rows, (0, []))[1]
    if tuple(field.strip() for field in header) != COLUMNS:
        raise wrong_layout(NAME, header)
    records = [_record(row, line, fields) for row, (line, fields) in enumerate(rows, start=1)]
    return finish(NAME, CHEXPERT_CLASSES, records)


def _record(row: int, line: int, fields: list[str]) -> Record:
    if len(fields) != len(COLUMNS):
        raise row_error(row, line, "Path", f"{len(COLUMNS)} fields", ",".join(fields))
    path = fields[_PATH]
    return Record(image_id=path, path=path, patient_id=_patient(row, line, path),
                  values=tuple(_value(row, line, name, field) for name, field
                               in zip(CHEXPERT_CLASSES, fields[_FIRST_CLASS:])),
                  view=_view(fields))


def _patient(row: int, line: int, path: str) -> str:
    # Paths the shared checks will reject (empty, backslashes) still get a patient if they
    # show one, and are rejected there rather than failing the whole index here.
    found = [part for part in re.split(r"[/\\]", path) if _PATIENT.match(part)]
    if not found and not path_problem(path):
        raise row_error(row, line, "Path", "a path with a patientNNNNN folder", path)
    return found[0] if found else ""


def _value(row: int, line: int, column: str, field: str) -> int:
    value = _VALUES.get(field.strip())
    if value is None:
        raise row_error(row, line, column, "1.0, 0.0, -1.0 or blank", field)
    return value


def _view(fields: list[str]) -> str:
    frontal_lateral = fields[_FRONTAL_LATERAL].strip()
    if frontal_lateral == "Frontal":
        return fields[_AP_PA].strip() or frontal_lateral
    return frontal_lateral
