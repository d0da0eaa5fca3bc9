"""NIH ChestX-ray14: ``Data_Entry_2017.csv`` (and its 2020 revision) to records."""

from __future__ import annotations

import logging

from cxrpipe.index.checks import csv_rows, finish, row_error, wrong_layout
from cxrpipe.index.record import NEGATIVE, POSITIVE, DatasetIndex, Record
from cxrpipe.labels import NIH_CLASSES, NO_FINDING

log = logging.getLogger(__name__)

NAME = "nih"

# The columns we read, by position. The rest of the header (``OriginalImage[Width,Height]``
# and ``OriginalImagePixelSpacing[x,y]``, which split into four CSV fields at their commas, and
# the 2017 file's trailing comma) is not used, so the 2020 revision and trimmed copies pass.
COLUMNS = ("Image Index", "Finding Labels", "Follow-up #", "Patient ID", "Patient Age",
           "Patient Gender", "View Position")
_ID, _LABELS, _PATIENT, _VIEW = 0, 1, 3, 6


def read_nih(text: str, test_list: str | None = None) -> DatasetIndex:
    """Read the NIH ChestX-ray14 index.

    Args:
        text: the contents of ``Data_Entry_2017.csv`` (2017 or 2020 revision).
        test_list: the contents of the official ``test_list.txt`` (one file name a line), or
            None. Records it names get split ``test``; the others split None, for the
            splitter to divide into train and val.

    Returns:
        The index: classes ``NIH_CLASSES``; per record path = image id = ``Image Index``,
        patient = ``Patient ID``, view = ``View Position``; ``No Finding`` rows are positive
        for ``No Finding`` only.

    Raises:
        ValueError: the header is not this layout's, or a row is malformed (naming the row,
            the field, what was expected and what came).
    """
    rows = csv_rows(text)
    header = next(rows, (0, []))[1]
    if tuple(field.strip() for field in header[:len(COLUMNS)]) != COLUMNS:
        raise wrong_layout(NAME, header)
    tests = _names(test_list)
    records = [_record(row, line, fields, tests)
               for row, (line, fields) in enumerate(rows, start=1)]
    _warn_unmatched(tests, records)
    return finish(NAME, NIH_CLASSES, records)


def _record(row: int, line: int, fields: list[str], tests: frozenset) -> Record:
    if len(fields) < len(COLUMNS):
        raise row_error(row, line, "View Position",
                        f"at least {len(COLUMNS)} fields ({','.join(COLUMNS)})", ",".join(fields))
    image_id, patient = fields[_ID], fields[_PATIENT].strip()
    if not patient:
        raise row_error(row, line, "Patient ID", "a patient id", fields[_PATIENT])
    return Record(image_id=image_id, path=image_id, patient_id=patient,
                  values=_values(row, line, fields[_LABELS]), view=fields[_VIEW].strip(),
                  split="test" if image_id in tests else None)


def _values(row: int, line: int, labels: str) -> tuple[int, ...]:
    names = [name.strip() for name in labels.split("|")]
    unknown = [name for name in names if name not in NIH_CLASSES]
    if unknown:
        raise row_error(row, line, "Finding Labels",
                        f"names from {', '.join(NIH_CLASSES)} joined by '|'", labels,
                        f" (unknown: {', '.join(map(repr, unknown))})")
    if NO_FINDING in names and len(set(names)) > 1:
        raise row_error(row, line, "Finding Labels",
                        f"{NO_FINDING!r} alone or findings without it", labels)
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
