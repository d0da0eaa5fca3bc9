"""Patient-level, deterministic train/val/test split.

A patient's split comes from a SHA-256 of the seed and the patient id alone (never Python's
salted ``hash()``), so it does not depend on row order, on the other rows, or on the process.
"""

from __future__ import annotations

import hashlib
import math

SPLITS = ("train", "val", "test")

_TOLERANCE = 1e-6
_FLAG = "--split"


def parse_fractions(text: str) -> tuple[float, float, float]:
    """Parse ``--split``, e.g. ``"0.7,0.1,0.2"``.

    Returns:
        The train, val and test fractions.

    Raises:
        ValueError: not three finite non-negative numbers summing to 1 (within 1e-6).
    """
    try:
        fractions = tuple(float(part) for part in text.split(","))
    except ValueError:
        fractions = ()
    valid = (len(fractions) == len(SPLITS)
             and all(math.isfinite(f) and f >= 0 for f in fractions)
             and abs(sum(fractions) - 1) <= _TOLERANCE)
    if not valid:
        raise ValueError(f"{_FLAG}: expected three non-negative fractions for "
                         f"{','.join(SPLITS)} summing to 1 (e.g. 0.7,0.1,0.2), got {text!r}")
    return fractions


def _unit(patient_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def assign_split(patient_id: str, fractions, seed: int) -> str:
    """Return the split of one patient.

    Args:
        patient_id: the patient.
        fractions: train, val and test fractions summing to 1.
        seed: the run's seed.

    Returns:
        ``train``, ``val`` or ``test``: the bucket that a stable hash of (seed, patient) in
        [0, 1) falls into, buckets laid out in ``SPLITS`` order with the given widths.
    """
    point, edge = _unit(patient_id, seed), 0.0
    for split, fraction in zip(SPLITS, fractions):
        edge += fraction
        if point < edge:
            return split
    # Rounding can leave the sum a hair under 1: the point goes to the last non-empty bucket.
    return [split for split, fraction in zip(SPLITS, fractions) if fraction > 0][-1]


def split_records(records, fractions, seed: int) -> dict[str, str]:
    """Give every record a split, patient by patient.

    A record's fixed ``split`` (from the layout or an official split file) is kept. The other
    patients are hashed into the splits no record is fixed to, with the fractions renormalised
    over those: when only ``test`` is fixed (NIH's ``test_list.txt``) the rest is divided
    between train and val in the ratio train:val.

    Args:
        records: ``Record``s (``image_id``, ``patient_id``, ``split``).
        fractions: train, val and test fractions (from ``parse_fractions``).
        seed: the run's seed.

    Returns:
        image id -> split.

    Raises:
        ValueError: a patient is on both sides of the official split: records fixed to
            different splits, or some fixed and some left free (naming the patient and an
            image of each side; never a silent move), or the fractions give no room to the
            splits left free.
    """
    records = list(records)
    fixed = _fixed_by_patient(records)
    free = _free_fractions(fractions, set(fixed.values()), records, fixed)
    return {record.image_id: fixed.get(record.patient_id)
            or assign_split(record.patient_id, free, seed) for record in records}


def _fixed_by_patient(records) -> dict[str, str]:
    fixed, first = {}, {}
    for record in records:
        if record.split is None:
            continue
        if record.split not in SPLITS:
            raise ValueError(f"image {record.image_id!r}, field 'split': expected one of "
                             f"{', '.join(SPLITS)} or None, got {record.split!r}")
        seen = fixed.setdefault(record.patient_id, record.split)
        first.setdefault(record.patient_id, record.image_id)
        if seen != record.split:
            raise _both_sides(record.patient_id, first[record.patient_id], seen,
                              record.image_id, record.split)
    for record in records:
        if record.split is None and record.patient_id in fixed:
            raise _both_sides(record.patient_id, first[record.patient_id],
                              fixed[record.patient_id], record.image_id, None)
    return fixed


def _both_sides(patient: str, one: str, one_split: str, other: str, other_split) -> ValueError:
    where = f"fixed to {other_split}" if other_split else "outside that official split"
    return ValueError(
        f"patient {patient!r}: expected all of a patient's images on one side of the official "
        f"split (patient-level split), got {one!r} fixed to {one_split} and {other!r} {where}; "
        f"fix the index or split files, or drop their splits")


def _free_fractions(fractions, fixed_splits, records, fixed) -> tuple[float, ...]:
    kept = tuple(0.0 if split in fixed_splits else f for split, f in zip(SPLITS, fractions))
    if sum(kept) > 0:
        return tuple(f / sum(kept) for f in kept)
    if all(record.patient_id in fixed for record in records):
        return tuple(fractions)
    raise ValueError(f"{_FLAG}: expected a non-zero fraction for a split the index leaves free "
                     f"(it fixes {', '.join(sorted(fixed_splits))}), got {tuple(fractions)}")
