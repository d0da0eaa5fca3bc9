"""CheXpert: ``train.csv`` and ``valid.csv`` to records, ``valid.csv`` as a split of its own."""

from __future__ import annotations

import re

from cxrpipe.index.checks import (column_positions, csv_rows, field_of, finish, header_of,
                                  label_value, path_problem, row_error)
from cxrpipe.index.record import DatasetIndex, Record
from cxrpipe.labels import CHEXPERT_CLASSES

NAME = "chexpert"

PATH, FRONTAL_LATERAL, AP_PA = "Path", "Frontal/Lateral", "AP/PA"
# Found by name: the small and the full release, CheXbert's relabelled train files and trimmed
# copies order or extend the columns differently.
REQUIRED = (PATH,) + CHEXPERT_CLASSES
OPTIONAL = (FRONTAL_LATERAL, AP_PA)
VALID_AS = ("val", "test")
_PATIENT = re.compile(r"^patient\d+$")


def read_chexpert(text: str, valid: str | None = None, valid_as: str = "val") -> DatasetIndex:
    """Read a CheXpert index, and its radiologist-labelled validation set as an official split.

    Args:
        text: the contents of ``train.csv`` (or of any file in its format: ``valid.csv``
            alone is split like any index).
        valid: the contents of ``valid.csv`` to keep as a split of its own, or None.
        valid_as: the split ``valid``'s images form, ``val`` or ``test``; ``text``'s images
            are divided among the other splits (a patient in both files is an error).

    Returns:
        The index: classes ``CHEXPERT_CLASSES``; per record image id = path = ``Path`` (relative
        to the folder holding ``CheXpert-v1.0-small/``), patient = its ``patientNNNNN``
        component, view = ``AP/PA`` for a frontal image (``Frontal`` when that is not AP or
        PA), else ``Frontal/Lateral`` (``Lateral``); values as the file says them (blank: 0).

    Raises:
        ValueError: a needed column is missing (named), or a row is malformed (naming the row,
            the column, what was expected and what came), or ``valid_as`` is unknown.
    """
    if valid_as not in VALID_AS:
        raise ValueError(f"--valid-as: expected one of {', '.join(VALID_AS)}, got {valid_as!r}")
    records = _records(text, None)
    if valid is not None:
        records += _records(valid, valid_as)
    return finish(NAME, CHEXPERT_CLASSES, records)


def _records(text: str, split: str | None) -> list[Record]:
    rows = csv_rows(text)
    positions = column_positions(NAME, header_of(rows), REQUIRED, OPTIONAL)
    return [_record(row, line, fields, positions, split)
            for row, (line, fields) in enumerate(rows, start=1)]


def _record(row: int, line: int, fields: list[str], positions: dict, split) -> Record:
    value = {column: field_of(fields, position, row, line, column)
             for column, position in positions.items()}
    path = value[PATH]
    return Record(image_id=path, path=path, patient_id=_patient(row, line, path),
                  values=tuple(label_value(row, line, name, value[name]) for name in CHEXPERT_CLASSES),
                  view=_view(value), split=split)


def _patient(row: int, line: int, path: str) -> str:
    # Paths the shared checks will reject (empty, backslashes) still get a patient if they
    # show one, and are rejected there rather than failing the whole index here.
    found = [part for part in re.split(r"[/\\]", path) if _PATIENT.match(part)]
    if not found and not path_problem(path):
        raise row_error(row, line, PATH, "a path with a patientNNNNN folder", path)
    return found[0] if found else ""


def _view(value: dict) -> str:
    # Frontal/Lateral decides; AP/PA only refines a frontal view (some frontal rows say LL/RL).
    frontal_lateral = value.get(FRONTAL_LATERAL, "")
    if frontal_lateral == "Frontal" and value.get(AP_PA, "") in ("AP", "PA"):
        return value[AP_PA]
    return frontal_lateral
