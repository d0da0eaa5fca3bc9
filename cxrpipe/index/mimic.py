"""MIMIC-CXR-JPG (PhysioNet): metadata, per-study labels and the official split to records."""

from __future__ import annotations

import logging

from cxrpipe.index.checks import (column_positions, csv_rows, field_of, finish, header_of,
                                  integer_id, label_value, row_error)
from cxrpipe.index.record import NEGATIVE, DatasetIndex, Record
from cxrpipe.labels import MIMIC_CLASSES

log = logging.getLogger(__name__)

NAME = "mimic"

DICOM_ID, SUBJECT, STUDY, VIEW_POSITION, SPLIT = "dicom_id", "subject_id", "study_id", "ViewPosition", "split"
# The split file says ``validate`` where cxrpipe says ``val``.
SPLITS = {"train": "train", "validate": "val", "test": "test"}
# The JPG release stores ``.jpg`` files; MIMIC-CXR's DICOM release the same tree of ``.dcm``.
EXTENSIONS = ("jpg", "dcm")


def read_mimic(text: str, labels: str | None = None, split: str | None = None,
               extension: str = "jpg") -> DatasetIndex:
    """Read MIMIC-CXR-JPG's index files as PhysioNet ships them (gzip already undone).

    Args:
        text: ``mimic-cxr-2.0.0-metadata.csv``: one row per image (``dicom_id``, ``subject_id``,
            ``study_id``, ``ViewPosition``, ...).
        labels: ``mimic-cxr-2.0.0-chexpert.csv`` or ``-negbio.csv``: one row per study
            (``subject_id``, ``study_id``, then the 14 observations, 1.0/0.0/-1.0/blank).
            They apply to every image of the study; a study without a row has no label (its
            images go to ``Unlabeled``).
        split: ``mimic-cxr-2.0.0-split.csv``: ``dicom_id`` -> ``train``/``validate``/``test``,
            kept as train/val/test; None splits by patient instead.
        extension: ``jpg`` (MIMIC-CXR-JPG) or ``dcm`` (MIMIC-CXR's DICOM files, same tree).

    Returns:
        The index: classes ``MIMIC_CLASSES``; per record image id = ``dicom_id``, path =
        ``files/p{first two digits}/p{subject}/s{study}/{dicom_id}.{extension}``, patient =
        ``subject_id``, view = ``ViewPosition`` (``PA``, ``AP``, ``LATERAL``, ... or blank).

    Raises:
        ValueError: no label file, a missing column (named), a malformed row (naming file,
            row, field, expected and got), an unknown split or extension.
    """
    if labels is None:
        raise ValueError("--labels: expected MIMIC-CXR-JPG's mimic-cxr-2.0.0-chexpert.csv.gz "
                         "(or -negbio), got none")
    if extension not in EXTENSIONS:
        raise ValueError(f"--mimic-files: expected one of {', '.join(EXTENSIONS)}, got {extension!r}")
    by_study = _in_file("--labels", _labels, labels)
    split_of = _in_file("--split-file", _splits, split) if split is not None else {}
    rows = csv_rows(text)
    positions = column_positions(NAME, header_of(rows), (DICOM_ID, SUBJECT, STUDY, VIEW_POSITION))
    records, unlabeled = [], 0
    for row, (line, fields) in enumerate(rows, start=1):
        record, labeled = _record(row, line, fields, positions, by_study, split_of, extension)
        records.append(record)
        unlabeled += not labeled
    if unlabeled:
        log.warning("label file: %d of %d images belong to studies it has no row for; they have "
                    "no label and go to the Unlabeled partition", unlabeled, len(records))
    unsplit = sum(1 for r in records if r.split is None) if split_of else 0
    if unsplit:
        log.warning("split file: %d of %d images are not in it; they are split by patient",
                    unsplit, len(records))
    return finish(NAME, MIMIC_CLASSES, records)


def _record(row, line, fields, positions, by_study, split_of, extension) -> tuple[Record, bool]:
    value = {c: field_of(fields, p, row, line, c) for c, p in positions.items()}
    subject = integer_id(row, line, SUBJECT, value[SUBJECT])
    study = integer_id(row, line, STUDY, value[STUDY])
    dicom_id = value[DICOM_ID]
    path = f"files/p{subject[:2]}/p{subject}/s{study}/{dicom_id}.{extension}"
    values = by_study.get((subject, study))
    record = Record(image_id=dicom_id, path=path, patient_id=subject,
                    values=values or (NEGATIVE,) * len(MIMIC_CLASSES),
                    view=value[VIEW_POSITION], split=split_of.get(dicom_id))
    return record, values is not None


def _in_file(flag: str, read, text: str):
    # The three files share row numbers: say which one a row error is in.
    try:
        return read(text)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def _labels(text: str) -> dict[tuple[str, str], tuple[int, ...]]:
    rows = csv_rows(text)
    positions = column_positions("mimic labels", header_of(rows), (SUBJECT, STUDY) + MIMIC_CLASSES)
    by_study = {}
    for row, (line, fields) in enumerate(rows, start=1):
        value = {c: field_of(fields, p, row, line, c) for c, p in positions.items()}
        key = (integer_id(row, line, SUBJECT, value[SUBJECT]), integer_id(row, line, STUDY, value[STUDY]))
        if key in by_study:
            raise row_error(row, line, STUDY, "one row per study in the label file",
                            value[STUDY], " (seen before)")
        by_study[key] = tuple(label_value(row, line, c, value[c]) for c in MIMIC_CLASSES)
    return by_study


def _splits(text: str) -> dict[str, str]:
    rows = csv_rows(text)
    positions = column_positions("mimic split", header_of(rows), (DICOM_ID, SPLIT))
    split_of = {}
    for row, (line, fields) in enumerate(rows, start=1):
        name = field_of(fields, positions[SPLIT], row, line, SPLIT)
        if name not in SPLITS:
            raise row_error(row, line, SPLIT, f"one of {', '.join(SPLITS)} in the split file", name)
        split_of[field_of(fields, positions[DICOM_ID], row, line, DICOM_ID)] = SPLITS[name]
    return split_of
