"""The records every dataset reader produces: one per source image, labels included."""

from __future__ import annotations

import sys
from dataclasses import dataclass

POSITIVE, NEGATIVE, UNCERTAIN = 1, 0, -1

# A million-row index repeats a few hundred label vectors, views and splits: rows share one
# object of each (the driver holds every row while it plans).
_SHARED: dict = {}


def shared(value):
    """One object for every equal ``value`` (strings, or tuples of strings and ints)."""
    if isinstance(value, str):
        return sys.intern(value)
    return _SHARED.setdefault(value, value)


def share_fields(obj, names: tuple[str, ...]) -> None:
    """Replace the named fields of a frozen dataclass instance by their shared copies."""
    for name in names:
        value = getattr(obj, name)
        if value is not None:
            object.__setattr__(obj, name, shared(value))


@dataclass(frozen=True, slots=True)
class Record:
    """One source image as its dataset's index describes it.

    Attributes:
        image_id: the id as the index spells it (NIH ``Image Index``, CheXpert ``Path``,
            folders: the path relative to the root).
        path: the object's path relative to the images root, with ``/`` separators.
        patient_id: the patient, for patient-level splits.
        values: one per class of the dataset, in class order: 1 positive, 0 negative or not
            mentioned, -1 uncertain (as the source said, before any uncertainty policy).
        view: the view as the source spells it (``PA``, ``AP``, ``Frontal``, ``Lateral``) or "".
        split: the split fixed by the layout (folders, official lists), or None.
    """

    image_id: str
    path: str
    patient_id: str
    values: tuple[int, ...]
    view: str = ""
    split: str | None = None

    def __post_init__(self):
        share_fields(self, ("patient_id", "values", "view", "split"))


@dataclass(frozen=True)
class IndexReject:
    """An index row that names an input that cannot be used (reason codes as in ``errors``)."""

    image_id: str
    path: str
    reason: str
    detail: str


@dataclass(frozen=True)
class DatasetIndex:
    """What a reader makes of a dataset's index: its classes, records and rejected rows.

    ``has_views`` says whether the layout records each image's view: where it does, a blank
    view is unknown (not frontal); where it does not (folders), every image counts as frontal.
    """

    name: str
    classes: tuple[str, ...]
    records: tuple[Record, ...]
    rejects: tuple[IndexReject, ...] = ()
    has_views: bool = True
