"""Does a packed environment hold the same cxrpipe as the wheel built from this checkout?

The archive's cxrpipe is the code the cluster runs, so reusing an archive packed before the
code changed would run old code. Both the wheel and pip's installed copy list every file with
its SHA-256 in ``RECORD``; the ``cxrpipe/`` lines must agree.
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from pathlib import Path

from ..errors import UserError

_INSTALLED_RECORD = re.compile(r"^(\./)?lib/python3\.\d+/site-packages/cxrpipe-[^/]+\.dist-info/RECORD$")


def code_hashes(record: str) -> set[str]:
    """The ``path,sha256=...`` entries of the package's own files in a RECORD file's text."""
    entries = set()
    for line in record.splitlines():
        path, _, rest = line.partition(",")
        digest = rest.rpartition(",")[0]
        if path.startswith("cxrpipe/") and digest.startswith("sha256="):
            entries.add(f"{path},{digest}")
    return entries


def wheel_record(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        return archive.read(name).decode()


def archive_record(archive: Path) -> str | None:
    """The installed cxrpipe's RECORD inside a venv-pack archive, or None if it has no cxrpipe."""
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            if _INSTALLED_RECORD.match(member.name):
                return tar.extractfile(member).read().decode()
    return None


def check_archive_matches(archive: Path, wheel: Path) -> None:
    """Refuse an environment archive whose cxrpipe differs from ``wheel``'s.

    Raises:
        UserError: no cxrpipe in the archive, or a different build of it.
    """
    installed = archive_record(archive)
    if installed is None:
        raise UserError(f"{archive} has no cxrpipe installed: build it with `cxrpipe emr package`")
    if code_hashes(installed) != code_hashes(wheel_record(wheel)):
        raise UserError(f"{archive} holds another build of cxrpipe than this checkout, and the cluster would run "
                        f"that one: repack with `cxrpipe emr package --out {archive.parent}`")
