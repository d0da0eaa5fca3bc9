"""Dataset index readers, one per layout, and the ``READERS`` table that picks one by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cxrpipe.index.checks import stem
from cxrpipe.labels import CHEXPERT_CLASSES, NIH_CLASSES
from cxrpipe.index.chexpert import read_chexpert
from cxrpipe.index.folders import read_folders
from cxrpipe.index.nih import read_nih
from cxrpipe.index.record import DatasetIndex, IndexReject, Record


@dataclass(frozen=True)
class Reader:
    """How to read one layout.

    Attributes:
        kind: ``text``: ``read`` takes the index file's text (``--index``); ``listing``: it
            takes the object keys under the dataset root, relative to it (no ``--index``).
        read: the reader, returning a ``DatasetIndex``.
        classes: the layout's fixed class list, or None when the data defines it (folders).
    """

    kind: str
    read: Callable[..., DatasetIndex]
    classes: tuple[str, ...] | None = None


READERS = {
    "nih": Reader(kind="text", read=read_nih, classes=NIH_CLASSES),
    "chexpert": Reader(kind="text", read=read_chexpert, classes=CHEXPERT_CLASSES),
    "folders": Reader(kind="listing", read=read_folders),
}

__all__ = ["READERS", "DatasetIndex", "IndexReject", "Reader", "Record", "read_chexpert",
           "read_folders", "read_nih", "stem"]
