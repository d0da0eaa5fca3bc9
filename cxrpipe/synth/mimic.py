"""A synthetic MIMIC-CXR-JPG 2.0.0 in PhysioNet's layout: ``files/p10/p10000032/s5.../*.jpg``
and the gzip-compressed metadata, CheXpert and NegBio label and split files beside them.

As in ``layouts``, everything follows from (seed, n): image ``i`` draws its size and pixels
from ``default_rng([seed, i])``; a subject's studies, dates and views from
``default_rng([seed, subject number, _PATIENT])``; a study's labels from streams keyed by its
number among the labelled studies, in blocks of 26 in which every finding is the primary one
of exactly one study. Splits and unlabelled studies follow fixed cycles rather than coins,
so even 40 images have a ``validate`` and a ``test`` subject, a study with no label row and
one whose row is all blank or 0.0.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import count, islice
from typing import Iterator

import numpy as np

from cxrpipe.labels import MIMIC_CLASSES, NO_FINDING
from cxrpipe.synth.layouts import _BLOCK, _LABELS, _PATIENT, Put, _check, _csv, _encode, _slot, drawn_values
from cxrpipe.synth.phantom import render_phantom

METADATA = "mimic-cxr-2.0.0-metadata.csv.gz"
CHEXPERT = "mimic-cxr-2.0.0-chexpert.csv.gz"
NEGBIO = "mimic-cxr-2.0.0-negbio.csv.gz"
SPLIT = "mimic-cxr-2.0.0-split.csv.gz"

METADATA_HEADER = ("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,"
                   "Rows,Columns,StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,"
                   "ViewCodeSequence_CodeMeaning,PatientOrientationCodeSequence_CodeMeaning")
LABELS_HEADER = "subject_id,study_id," + ",".join(MIMIC_CLASSES)
SPLIT_HEADER = "dicom_id,study_id,subject_id,split"

MIMIC_FINDINGS = tuple(c for c in MIMIC_CLASSES if c != NO_FINDING)   # Support Devices last
_NO_FINDING = MIMIC_CLASSES.index(NO_FINDING)
VIEW_MEANINGS = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral",
                 "LL": "left lateral"}
PORTABLE = "CHEST (PORTABLE AP)"


@dataclass(frozen=True)
class MimicRow:
    """One image: its metadata row (but Rows/Columns, which depend on the image size), its
    study's label values as the label files spell them (None: the study has no row there) and
    its subject's official split."""

    index: int
    subject: int
    study: int
    dicom_id: str
    procedure: str
    view: str
    lateral: bool
    orientation: str
    date: str
    time: str
    split: str
    values: tuple[str, ...] | None

    @property
    def path(self) -> str:
        return f"files/p{str(self.subject)[:2]}/p{self.subject}/s{self.study}/{self.dicom_id}.jpg"

    def fields(self, rows: int, columns: int) -> list[str]:
        meaning = VIEW_MEANINGS.get(self.view, "")
        return [self.dicom_id, str(self.subject), str(self.study), self.procedure, self.view,
                str(rows), str(columns), self.date, self.time, self.procedure, meaning,
                self.orientation]


def mimic_plan(n: int, seed: int) -> Iterator[MimicRow]:
    """The images of a synthetic MIMIC-CXR-JPG, subject by subject: 1-3 studies each, 1-3
    images a study (a PA or AP, often a lateral), about 98% of subjects ``train``."""
    return islice(_mimic_images(seed), n)


def _mimic_split(ordinal: int) -> str:
    # A fixed cycle rather than a coin, so that even a small sample has both held-out splits.
    return {1: "validate", 2: "test"}.get(ordinal % 100, "train")


def _mimic_images(seed: int) -> Iterator[MimicRow]:
    index, studies, labelled = count(), count(), count()
    for ordinal in count():
        rng = np.random.default_rng([seed, ordinal, _PATIENT])
        subject = 10_000_000 + 100 * ordinal + int(rng.integers(100))   # 1xxxxxxx: 10**5 subjects
        day = date(2110, 1, 1) + timedelta(days=int(rng.integers(80 * 365)))
        for _ in range(1 + int(rng.choice(3, p=[0.5, 0.3, 0.2]))):
            number = next(studies)
            day += timedelta(days=int(rng.integers(1, 400)))
            procedure, views, orientation = _study_views(rng)
            study = dict(subject=subject, study=_study_id(seed, number),
                         procedure=procedure, orientation=orientation,
                         date=day.strftime("%Y%m%d"), time=_study_time(rng),
                         split=_mimic_split(ordinal), values=_study_values(seed, number, labelled))
            for view in views:
                blank = rng.random() < 0.03                 # a few DICOMs lack ViewPosition
                yield MimicRow(next(index), dicom_id=_dicom_id(rng), view="" if blank else view,
                               lateral=view in ("LATERAL", "LL"), **study)


def _study_id(seed: int, number: int) -> int:
    """A 5xxxxxxx id, distinct for each of the first 2**23 studies: a seeded bijection of
    23-bit numbers (odd multipliers and xor-shifts), so the ids look unordered."""
    mask = (1 << 23) - 1
    x = (number * 0x5BD1E995 + seed * 0x9E3779B9 + 0x2545F49) & mask
    for multiplier in (0x27D4EB2F, 0x165667B1):
        x ^= x >> 12
        x = (x * multiplier) & mask
    return 50_000_000 + (x ^ (x >> 12))


def _study_time(rng: np.random.Generator) -> str:
    hhmmss = 10_000 * int(rng.integers(24)) + 100 * int(rng.integers(60)) + int(rng.integers(60))
    return str(round(hhmmss + int(rng.integers(1000)) / 1000, 3))  # a float: 80556.875


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(f"{int(part):08x}" for part in rng.integers(2**32, size=5))


def _study_views(rng: np.random.Generator) -> tuple[str, list[str], str]:
    """A study's procedure, its images' ViewPositions and the patient's orientation."""
    if rng.random() < 0.4:
        images = 1 + int(rng.choice(3, p=[0.8, 0.15, 0.05]))
        orientation = str(rng.choice(["Recumbent", "Erect", ""], p=[0.5, 0.3, 0.2]))
        return PORTABLE, ["AP"] * images, orientation
    procedure = str(rng.choice(["CHEST (PA AND LAT)", "CHEST (PRE-OP PA AND LAT)"], p=[0.9, 0.1]))
    images = 1 + int(rng.choice(3, p=[0.2, 0.7, 0.1]))
    lateral = "LL" if rng.random() < 0.1 else "LATERAL"
    return procedure, ["PA", lateral, "PA"][:images], "Erect" if rng.random() < 0.95 else ""


def _study_values(seed: int, number: int, labelled) -> tuple[str, ...] | None:
    """A study's 14 values, None for no label row (2% of studies), all blank or 0.0 for
    another 2%; the others from ``_labelled_values`` by their number among labelled ones."""
    kind = number % 50
    if kind == 5:
        return None
    if kind == 11:
        rng = np.random.default_rng([seed, number, _LABELS])
        return tuple(str(rng.choice(["", "0.0"])) for _ in MIMIC_CLASSES)
    return _labelled_values(seed, next(labelled))


def _labelled_values(seed: int, ordinal: int) -> tuple[str, ...]:
    """Mostly blank; an abnormal study has its block's finding 1.0; ``No Finding`` is 1.0 when
    no finding but Support Devices is 1.0 or -1.0, blank otherwise (the labeler's rule)."""
    slot = _slot(seed, ordinal, 2 * len(MIMIC_FINDINGS), _BLOCK)
    rng = np.random.default_rng([seed, ordinal, _LABELS])
    odds = [0.84, 0.07, 0.05, 0.04] if slot < len(MIMIC_FINDINGS) else [0.9, 0.1, 0.0, 0.0]
    values = drawn_values(rng, slot, len(MIMIC_FINDINGS), odds, [0.3, 0.65, 0.03, 0.02])
    sick = any(v in ("1.0", "-1.0") for v in values[:-1])   # devices are not a finding
    values.insert(_NO_FINDING, "" if sick else "1.0")
    return tuple(values)


def _mimic_image(row: MimicRow, seed: int, image_size: int) -> np.ndarray:
    rng = np.random.default_rng([seed, row.index])
    height = int(rng.integers(round(0.8 * image_size), image_size + 1))
    width = int(rng.integers(round(0.75 * image_size), round(0.9 * image_size) + 1))
    if row.procedure == PORTABLE and rng.random() < 0.3:   # portable plates lie either way
        height, width = width, height
    # Uncertain findings are there half the time: the report hedged for a reason.
    findings = [name for name, value in zip(MIMIC_CLASSES, row.values or ())
                if value == "1.0" or (value == "-1.0" and rng.random() < 0.5)]
    return render_phantom(rng, (height, width), tuple(findings), lateral=row.lateral)


def _gzip_csv(header: str, rows) -> bytes:
    return gzip.compress(_csv(header, rows), mtime=0)   # no timestamp: the same bytes each run


def synth_mimic(n: int, seed: int, put: Put, image_size: int = 3000) -> None:
    """Write a synthetic MIMIC-CXR-JPG 2.0.0: ``files/p{2 digits}/p{subject}/s{study}/
    {dicom_id}.jpg`` (8-bit gray, heights 0.8-1 x ``image_size``, widths 0.75-0.9 x it, some
    portable APs landscape) and, gzip-compressed, ``mimic-cxr-2.0.0-metadata.csv.gz`` (one row
    per image), ``-chexpert.csv.gz`` and ``-negbio.csv.gz`` (one row per labelled study, the
    same values in both) and ``-split.csv.gz`` (by subject: train, validate, test).

    Args:
        n: number of images.
        seed: the dataset's seed.
        put: stores ``data`` at a path relative to the folder that holds ``files``.
        image_size: the largest side (real MIMIC-CXR-JPG images are about 3000 x 2500).

    Raises:
        ValueError: n or seed negative, image_size below 32.
    """
    _check(n, seed, image_size)
    metadata, labels, splits, seen = [], [], [], set()
    for row in mimic_plan(n, seed):
        image = _mimic_image(row, seed, image_size)
        put(row.path, _encode(image, ".jpg"))
        metadata.append(row.fields(*image.shape))
        splits.append([row.dicom_id, str(row.study), str(row.subject), row.split])
        if row.values is not None and row.study not in seen:
            seen.add(row.study)
            labels.append([str(row.subject), str(row.study), *row.values])
    put(METADATA, _gzip_csv(METADATA_HEADER, metadata))
    put(CHEXPERT, _gzip_csv(LABELS_HEADER, labels))
    put(NEGBIO, _gzip_csv(LABELS_HEADER, labels))
    put(SPLIT, _gzip_csv(SPLIT_HEADER, splits))
