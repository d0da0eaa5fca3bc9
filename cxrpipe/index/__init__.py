"""Dataset index readers, one per layout, and the ``READERS`` table that picks one by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cxrpipe.index.checks import index_text, stem
from cxrpipe.labels import CHEXPERT_CLASSES, MIMIC_CLASSES, NIH_CLASSES
from cxrpipe.index.chexpert import read_chexpert
from cxrpipe.index.folders import read_folders
from cxrpipe.index.mimic import read_mimic
from cxrpipe.index.nih import locate_nested, read_nih
from cxrpipe.index.record import DatasetIndex, IndexReject, Record
from cxrpipe.index.table import TableColumns, read_table


@dataclass(frozen=True)
class Companion:
    """A file read beside the index and handed to the reader as a keyword argument.

    Attributes:
        argument: the reader's keyword (and the ``PreprocessJob.companions`` key).
        flag: the CLI flag that names it.
        beside: (old, new): when the flag is not given, the file whose name is the index's
            with ``old`` replaced by ``new`` is read (PhysioNet's file names).
        split_only: it only fixes splits, so ``--resplit`` does not read it.
    """

    argument: str
    flag: str
    beside: tuple[str, str] | None = None
    split_only: bool = False

    @property
    def dest(self) -> str:
        """The flag's name in parsed arguments (``--split-file`` -> ``split_file``)."""
        return self.flag.removeprefix("--").replace("-", "_")

    def default_uri(self, index_uri: str | None) -> str | None:
        """The file beside the index this companion defaults to, or None."""
        if self.beside is None or not index_uri:
            return None
        folder, slash, name = index_uri.rpartition("/")
        old, new = self.beside
        return folder + slash + name.replace(old, new) if old in name else None


@dataclass(frozen=True)
class Reader:
    """How to read one layout.

    Attributes:
        kind: ``text``: ``read`` takes the index file's text (``--index``); ``listing``: it
            takes the object keys under the dataset root, relative to it (no ``--index``).
        read: the reader, returning a ``DatasetIndex``.
        classes: the layout's fixed class list, or None when the data defines it.
        companions: files read beside the index (official splits, label files).
        locate: for layouts whose index names files without their folders: given the index
            and the keys under ``--images``, returns it with paths found further down, and
            how many moved. Used only when the first record is not at the root.
    """

    kind: str
    read: Callable[..., DatasetIndex]
    classes: tuple[str, ...] | None = None
    companions: tuple[Companion, ...] = ()
    locate: Callable[..., tuple[DatasetIndex, int]] | None = None

    def companion_flag(self, argument: str) -> str:
        """The flag of the companion read as ``argument``."""
        return next(c.flag for c in self.companions if c.argument == argument)


READERS = {
    "nih": Reader(kind="text", read=read_nih, classes=NIH_CLASSES,
                  companions=(Companion("test_list", "--test-list", split_only=True),),
                  locate=locate_nested),
    "chexpert": Reader(kind="text", read=read_chexpert, classes=CHEXPERT_CLASSES,
                       companions=(Companion("valid", "--valid-index"),)),
    "mimic": Reader(kind="text", read=read_mimic, classes=MIMIC_CLASSES, companions=(
        Companion("labels", "--labels", ("-metadata.", "-chexpert.")),
        Companion("split", "--split-file", ("-metadata.", "-split."), split_only=True),
    )),
    "folders": Reader(kind="listing", read=read_folders),
    "table": Reader(kind="text", read=read_table),
}

def companion_uris(options: dict) -> dict:
    """The companion files a job reads: reader argument -> URI.

    Args:
        options: the parsed flags (``vars(namespace)``): ``dataset``, ``index``, ``resplit``
            and each companion's ``dest``.

    Returns:
        The files named by their flags, else the defaults beside the index; split-only ones
        are left out under ``--resplit``.

    Raises:
        ValueError: a companion flag given for a layout that does not read it.
    """
    reader = READERS[options["dataset"]]
    own = {c.dest for c in reader.companions}
    for companion in {c for r in READERS.values() for c in r.companions}:
        if options.get(companion.dest) and companion.dest not in own:
            users = [name for name, r in READERS.items() if companion in r.companions]
            raise ValueError(f"{companion.flag} is for --dataset {users[0]}, not {options['dataset']}")
    uris = {}
    for companion in reader.companions:
        if options.get("resplit") and companion.split_only:
            continue
        uri = options.get(companion.dest) or companion.default_uri(options.get("index"))
        if uri:
            uris[companion.argument] = uri
    return uris


__all__ = ["companion_uris", "READERS", "Companion", "DatasetIndex", "IndexReject", "Reader", "Record",
           "TableColumns", "index_text", "read_chexpert", "read_folders", "read_mimic",
           "read_nih", "read_table", "stem"]
