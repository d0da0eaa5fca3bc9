"""Synthetic datasets in the exact file layouts and index formats of the real ones.

Each layout has a plan (a lazy stream of index rows, no pixels) and a ``synth_*`` function
that renders a phantom per row and hands every file to ``put(relative_path, data)`` as soon as
it is encoded, so no more than one image is ever held. The index files are put last.

Everything follows from (seed, n): image ``i`` draws its pixels from
``default_rng([seed, i])``; patients, studies and label slots draw from streams keyed by
(seed, their number, a tag), so a plan never depends on the order anything is consumed in.
Labels come in blocks in which every class is the primary finding of exactly one image, so
every class is present as soon as ``n`` covers a block (28 images for NIH, about 35 for
CheXpert).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from itertools import count, islice
from typing import Callable, Iterator

import cv2
import numpy as np

from cxrpipe.labels import CHEXPERT_CLASSES, NIH_CLASSES, NO_FINDING
from cxrpipe.synth.phantom import render_phantom

Put = Callable[[str, bytes], None]

# Stream tags: (seed, number, tag) keys never collide with the images' (seed, index) keys.
_PATIENT, _BLOCK, _LABELS, _VALID_BLOCK, _VALID_LABELS = 1, 2, 3, 4, 5

NIH_FINDINGS = tuple(c for c in NIH_CLASSES if c != NO_FINDING)
NIH_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
              "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],")
# How often each finding comes along as a second label: ChestX-ray14's own label counts.
_NIH_COUNTS = np.array([11559, 2776, 13317, 19894, 5782, 6331, 1431, 5302, 4667, 2303, 2516,
                        1686, 3385, 227], float)

CHEXPERT_ROOT = "CheXpert-v1.0-small"
CHEXPERT_HEADER = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA") + CHEXPERT_CLASSES
CHEXPERT_FINDINGS = tuple(c for c in CHEXPERT_CLASSES if c != NO_FINDING)
_ALL_ZERO_CYCLE = 26

FOLDERS_ROOT = "chest_xray"


def _encode(image: np.ndarray, extension: str) -> bytes:
    ok, buffer = cv2.imencode(extension, image)
    if not ok:
        raise ValueError(f"cv2.imencode could not write a {extension} of shape {image.shape}")
    return buffer.tobytes()


def _csv(header: str, rows) -> bytes:
    text = io.StringIO()
    text.write(header + "\n")
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()


def _lines(names) -> bytes:
    return "".join(f"{name}\n" for name in names).encode()


def _check(n: int, seed: int, image_size: int) -> None:
    for field, value, least in (("n", n, 0), ("seed", seed, 0), ("image_size", image_size, 32)):
        if int(value) != value or value < least:
            raise ValueError(f"{field}: expected an integer of at least {least}, got {value!r}")


def _slot(seed: int, number: int, size: int, tag: int) -> int:
    """Number's place in its block of ``size``: a seeded permutation of the block."""
    return int(np.random.default_rng([seed, number // size, tag]).permutation(size)[number % size])


# --- NIH ChestX-ray14 --------------------------------------------------------------------


@dataclass(frozen=True)
class NihRow:
    """One row of ``Data_Entry_2017.csv``, with the official split it belongs to."""

    index: int
    patient: int
    followup: int
    labels: tuple[str, ...]
    age: int
    sex: str
    view: str
    original: tuple[int, int]
    spacing: str
    test: bool

    @property
    def name(self) -> str:
        return f"{self.patient:08d}_{self.followup:03d}.png"

    def fields(self) -> list[str]:
        return [self.name, "|".join(self.labels) or NO_FINDING, str(self.followup),
                str(self.patient), f"{self.age:03d}Y", self.sex, self.view,
                str(self.original[0]), str(self.original[1]), self.spacing, self.spacing]


def nih_plan(n: int, seed: int) -> Iterator[NihRow]:
    """The rows of a synthetic ``Data_Entry_2017.csv``: 1-4 images a patient, in file order."""
    people = (image for patient in count(1) for image in _nih_patient(seed, patient))
    for index, image in enumerate(islice(people, n)):
        yield NihRow(index=index, labels=_nih_labels(seed, index), **image)


def _nih_patient(seed: int, patient: int) -> Iterator[dict]:
    rng = np.random.default_rng([seed, patient, _PATIENT])
    images = 1 + int(rng.choice(4, p=[0.45, 0.3, 0.15, 0.1]))
    age, sex = int(rng.integers(18, 86)), str(rng.choice(["M", "F"], p=[0.56, 0.44]))
    original = (int(rng.integers(2000, 3057)), int(rng.integers(2000, 3057)))
    spacing = str(rng.choice(["0.143", "0.139", "0.168"], p=[0.8, 0.12, 0.08]))
    test = bool(rng.random() < 0.2)
    for followup in range(images):
        view = "PA" if rng.random() < (0.75 if followup == 0 else 0.45) else "AP"
        yield dict(patient=patient, followup=followup, age=age + followup // 2, sex=sex,
                   view=view, original=original, spacing=spacing, test=test)


def _nih_labels(seed: int, index: int) -> tuple[str, ...]:
    slot = _slot(seed, index, 2 * len(NIH_FINDINGS), _BLOCK)
    if slot >= len(NIH_FINDINGS):
        return ()
    rng = np.random.default_rng([seed, index, _LABELS])
    labels = {NIH_FINDINGS[slot]}
    if rng.random() < 0.35:
        labels.update(rng.choice(NIH_FINDINGS, size=int(rng.integers(1, 3)), replace=False,
                                 p=_NIH_COUNTS / _NIH_COUNTS.sum()))
    return tuple(c for c in NIH_FINDINGS if c in labels)


def synth_nih(n: int, seed: int, put: Put, image_size: int = 1024) -> None:
    """Write a synthetic NIH ChestX-ray14: ``images/*.png``, ``Data_Entry_2017.csv`` (2017
    format: ages as ``058Y``, trailing comma on the header) and the official split lists
    ``train_val_list.txt`` / ``test_list.txt`` (by patient, about 20% test).

    Args:
        n: number of images.
        seed: the dataset's seed.
        put: stores ``data`` at a path relative to the dataset root.
        image_size: side of the square 8-bit gray PNGs.

    Raises:
        ValueError: n or seed negative, image_size below 32.
    """
    _check(n, seed, image_size)
    rows, test, train_val = [], [], []
    for row in nih_plan(n, seed):
        image = render_phantom(np.random.default_rng([seed, row.index]),
                               (image_size, image_size), row.labels)
        put(f"images/{row.name}", _encode(image, ".png"))
        rows.append(row.fields())
        (test if row.test else train_val).append(row.name)
    put("train_val_list.txt", _lines(train_val))
    put("test_list.txt", _lines(test))
    put("Data_Entry_2017.csv", _csv(NIH_HEADER, rows))


# --- CheXpert ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChexpertRow:
    """One row of CheXpert's ``train.csv`` or ``valid.csv``; ``values`` as the file spells them."""

    index: int
    split: str
    patient: int
    study: int
    view: int
    lateral: bool
    sex: str
    age: int
    ap_pa: str
    values: tuple[str, ...]

    @property
    def path(self) -> str:
        kind = "lateral" if self.lateral else "frontal"
        return (f"{CHEXPERT_ROOT}/{self.split}/patient{self.patient:05d}/study{self.study}/"
                f"view{self.view}_{kind}.jpg")

    def fields(self) -> list[str]:
        return [self.path, self.sex, str(self.age), "Lateral" if self.lateral else "Frontal",
                "" if self.lateral else self.ap_pa, *self.values]


def chexpert_plan(n: int, seed: int) -> Iterator[ChexpertRow]:
    """The rows of a synthetic CheXpert: ``train`` first, then ``valid`` (a tenth of the
    images, one study a patient, patients numbered after train's, as in the real set)."""
    valid, last = n // 10, 0
    for row in islice(_chexpert_images(seed, "train", 1, 0), n - valid):
        last = row.patient
        yield row
    yield from islice(_chexpert_images(seed, "valid", last + 1, n - valid), valid)


def _chexpert_images(seed: int, split: str, first_patient: int, first_index: int):
    index, ordinal = count(first_index), count()
    for patient in count(first_patient):
        rng = np.random.default_rng([seed, patient, _PATIENT])
        sex, age = str(rng.choice(["Male", "Female"])), int(rng.integers(18, 91))
        studies = 1 if split == "valid" else 1 + int(rng.choice(3, p=[0.5, 0.3, 0.2]))
        for study in range(1, studies + 1):
            values = _chexpert_values(seed, split, next(ordinal))
            ap_pa = "AP" if rng.random() < 0.75 else "PA"
            for view in range(1, 3 if rng.random() < 0.3 else 2):
                yield ChexpertRow(next(index), split, patient, study, view, view == 2, sex,
                                  age + study // 3, ap_pa, values)


def _chexpert_values(seed: int, split: str, ordinal: int) -> tuple[str, ...]:
    """One study's 14 values. Train mixes positive, negative, uncertain and blank (mostly
    blank, Support Devices common); valid, like the radiologists' set, only 1.0 and 0.0, with
    one study in 26 all 0.0, No Finding included (9 of the real valid.csv's 234 rows are)."""
    if split == "valid" and ordinal % _ALL_ZERO_CYCLE == 3:
        return ("0.0",) * len(CHEXPERT_CLASSES)
    block, labels = (_BLOCK, _LABELS) if split == "train" else (_VALID_BLOCK, _VALID_LABELS)
    slot = _slot(seed, ordinal, 2 * len(CHEXPERT_FINDINGS), block)
    rng = np.random.default_rng([seed, ordinal, labels])
    odds = [0.8, 0.1, 0.06, 0.04] if slot < len(CHEXPERT_FINDINGS) else [0.85, 0.11, 0.0, 0.04]
    values = drawn_values(rng, slot, len(CHEXPERT_FINDINGS), odds, [0.35, 0.55, 0.07, 0.03])
    if split == "valid":
        values = [_definite(v, rng) for v in values]
    sick = any(v in ("1.0", "-1.0") for v in values[:-1])  # devices are not a finding
    return ("" if split == "train" else "0.0") if sick else "1.0", *values


def drawn_values(rng: np.random.Generator, slot: int, findings: int, odds, device_odds) -> list[str]:
    """A study's finding values as a report labeler writes them, Support Devices last: each
    blank, 0.0, 1.0 or -1.0 with ``odds``, the devices with ``device_odds`` (1.0, blank, 0.0,
    -1.0), and 1.0 for the block's finding ``slot`` when it is one of the ``findings``."""
    values = [str(rng.choice(["", "0.0", "1.0", "-1.0"], p=odds)) for _ in range(findings)]
    values[-1] = str(rng.choice(["1.0", "", "0.0", "-1.0"], p=device_odds))
    if slot < findings:
        values[slot] = "1.0"
    return values


def _definite(value: str, rng: np.random.Generator) -> str:
    if value == "-1.0":
        return "1.0" if rng.random() < 0.5 else "0.0"
    return value or "0.0"


def _chexpert_image(row: ChexpertRow, seed: int, image_size: int) -> np.ndarray:
    rng = np.random.default_rng([seed, row.index])
    height = int(rng.integers(round(0.8 * image_size), image_size + 1))
    width = int(rng.integers(round(270 / 350 * image_size), round(320 / 350 * image_size) + 1))
    # Uncertain findings are there half the time: the report hedged for a reason.
    findings = [name for name, value in zip(CHEXPERT_CLASSES, row.values)
                if value == "1.0" or (value == "-1.0" and rng.random() < 0.5)]
    return render_phantom(rng, (height, width), tuple(findings), lateral=row.lateral)


def synth_chexpert(n: int, seed: int, put: Put, image_size: int = 350) -> None:
    """Write a synthetic CheXpert-v1.0-small: ``CheXpert-v1.0-small/{train,valid}.csv`` and
    the JPEGs they name (frontal views, some laterals), heights 0.8-1 x ``image_size`` and
    widths 0.77-0.91 x it (280-350 by 270-320 at the default, as in the real small set).

    Args:
        n: number of images (a tenth of them, rounded down, in valid).
        seed: the dataset's seed.
        put: stores ``data`` at a path relative to the folder that holds the dataset root.
        image_size: the largest height.

    Raises:
        ValueError: n or seed negative, image_size below 32.
    """
    _check(n, seed, image_size)
    rows = {"train": [], "valid": []}
    for row in chexpert_plan(n, seed):
        put(row.path, _encode(_chexpert_image(row, seed, image_size), ".jpg"))
        rows[row.split].append(row.fields())
    for split, split_rows in rows.items():
        put(f"{CHEXPERT_ROOT}/{split}.csv", _csv(",".join(CHEXPERT_HEADER), split_rows))


# --- Folder per class (chest-xray-pneumonia) ----------------------------------------------


@dataclass(frozen=True)
class FolderImage:
    """One image of a folder-per-class layout and the findings drawn on it."""

    index: int
    split: str
    label: str
    name: str
    findings: tuple[str, ...]

    @property
    def path(self) -> str:
        return f"{FOLDERS_ROOT}/{self.split}/{self.label}/{self.name}"


def folders_plan(n: int, seed: int) -> Iterator[FolderImage]:
    """The images of a synthetic chest-xray-pneumonia: 1-3 a patient, about a quarter NORMAL,
    each patient in one split (train, then about 15% test and 5% val)."""
    return islice(_folder_images(seed), n)


def _folder_split(ordinal: int) -> str:
    # A fixed cycle rather than a coin, so that even a small sample has a val patient.
    return {7: "val", 2: "test", 11: "test", 16: "test"}.get(ordinal % 20, "train")


def _folder_images(seed: int) -> Iterator[FolderImage]:
    index, pneumonias, normals, persons = count(), count(1), count(1), count(1)
    for ordinal in count():
        rng = np.random.default_rng([seed, ordinal, _PATIENT])
        split, images = _folder_split(ordinal), 1 + int(rng.choice(3, p=[0.5, 0.3, 0.2]))
        if rng.random() < 0.27:
            prefix, patient = ("NORMAL2-IM" if rng.random() < 0.5 else "IM"), next(normals)
            for k in range(1, images + 1):
                name = f"{prefix}-{patient:04d}-{k:04d}.jpeg"
                yield FolderImage(next(index), split, "NORMAL", name, ())
        else:
            person, kind = next(persons), ("bacteria" if rng.random() < 0.65 else "virus")
            # Bacterial pneumonia is lobar; viral is diffuse and interstitial.
            findings = ("PNEUMONIA",) if kind == "bacteria" else ("PNEUMONIA", "Infiltration")
            for _ in range(images):
                name = f"person{person}_{kind}_{next(pneumonias)}.jpeg"
                yield FolderImage(next(index), split, "PNEUMONIA", name, findings)


def synth_folders(n: int, seed: int, put: Put, image_size: int = 2000) -> None:
    """Write a synthetic chest-xray-pneumonia: ``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/
    *.jpeg``, heights 0.3-1 x ``image_size``, widths 0.9-1.5 x the height up to ``image_size``.

    Args:
        n: number of images.
        seed: the dataset's seed.
        put: stores ``data`` at a path relative to the folder that holds ``chest_xray``.
        image_size: the largest side.

    Raises:
        ValueError: n or seed negative, image_size below 32.
    """
    _check(n, seed, image_size)
    for image in folders_plan(n, seed):
        rng = np.random.default_rng([seed, image.index])
        height = int(rng.integers(round(0.3 * image_size), image_size + 1))
        width = min(image_size, round(height * rng.uniform(0.9, 1.5)))
        put(image.path, _encode(render_phantom(rng, (height, width), image.findings), ".jpeg"))
