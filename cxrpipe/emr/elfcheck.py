"""Will every compiled file in an environment archive load on EMR 7's nodes?

A wheel built against a newer glibc than the nodes' fails there only when a task imports it
("version `GLIBC_2.35' not found"), and one built for another CPU fails with "wrong ELF class" or
"cannot open shared object file": minutes into a job, on every executor. EMR 7.x runs Amazon Linux
2023 (glibc 2.34) on x86_64 or, on Graviton instances, aarch64. manylinux wheels are built for old
glibc and pass; what fails is a package built from source on a newer system (pip falls back to
an sdist when no wheel fits), or an archive packed on the wrong machine. The judgement is a pure
function of each file's ELF header and version needs, which pyelftools reads.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

log = logging.getLogger(__name__)

EMR_GLIBC = (2, 34)  # Amazon Linux 2023, the OS of EMR 7.x nodes and of AWS's build container
BUILD_IMAGE = "amazonlinux:2023"
# e_machine as pyelftools names it -> the name `uname -m` (and MACHINES in package.py) uses.
ELF_MACHINES = {"EM_X86_64": "x86_64", "EM_AARCH64": "aarch64", "EM_386": "i386", "EM_ARM": "arm"}
ELF_MACHINES_BY_NAME = {name: em for em, name in ELF_MACHINES.items()}
DOCKER_PLATFORMS = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}
MAX_LISTED = 10  # a source-built package can hold dozens of .so files: name the first few
_GLIBC = re.compile(r"GLIBC_(\d+(?:\.\d+)+)")
_ELF_MAGIC = b"\x7fELF"
_SPOOL_BYTES = 32 << 20  # larger libraries (libarrow, OpenCV's) go to a temporary file, not memory


@dataclass(frozen=True)
class ElfFacts:
    """What decides whether one ELF file loads on a node.

    Attributes:
        path: the file's name inside the archive.
        machine: ``e_machine`` as pyelftools names it, e.g. ``"EM_X86_64"``.
        versions: the symbol versions it needs from other libraries (``.gnu.version_r``),
            e.g. ``{"GLIBC_2.17", "GLIBCXX_3.4"}``.
    """

    path: str
    machine: str
    versions: frozenset[str]


def glibc_needed(versions: Iterable[str]) -> tuple[int, ...] | None:
    """The newest ``GLIBC_x.y`` among ``versions`` as a tuple, or None (``GLIBC_PRIVATE`` is not one)."""
    found = [tuple(int(part) for part in m.group(1).split(".")) for m in map(_GLIBC.fullmatch, versions) if m]
    return max(found, default=None)


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def file_problem(elf: ElfFacts, machine: str, glibc: tuple[int, ...] = EMR_GLIBC) -> str | None:
    """Why ``elf`` would not load on a ``machine`` node with ``glibc``, or None if it would.

    Args:
        elf: the file's facts.
        machine: the nodes' architecture, ``"x86_64"`` or ``"aarch64"``.
        glibc: the nodes' glibc version.
    """
    if elf.machine != ELF_MACHINES_BY_NAME[machine]:
        built_for = ELF_MACHINES.get(elf.machine, elf.machine)
        return f"{elf.path}: built for {built_for}, the nodes are {machine}"
    needed = glibc_needed(elf.versions)
    if needed is not None and needed > glibc:
        return f"{elf.path}: needs GLIBC_{_dotted(needed)}, EMR 7 has glibc {_dotted(glibc)}"
    return None


def container_command(machine: str) -> str:
    """The shell command that packs the environment in AWS's build image for ``machine`` nodes.

    The venv lives inside the container (the checkout's own .venv is the host's); the files pip and
    the packager write into the mounted checkout are given back to its owner.
    """
    return (f"docker run --rm --platform {DOCKER_PLATFORMS[machine]} -v \"$PWD\":/src -w /src {BUILD_IMAGE} bash -c '\n"
            "  dnf install -y python3.11 python3.11-pip && python3.11 -m venv /opt/cxrpipe &&\n"
            "  /opt/cxrpipe/bin/pip install -e \".[emr]\" && /opt/cxrpipe/bin/cxrpipe emr package --out dist &&\n"
            "  chown -R \"$(stat -c %u:%g .)\" dist cxrpipe.egg-info'")


def verdict(files: Iterable[ElfFacts], machine: str, archive: str, glibc: tuple[int, ...] = EMR_GLIBC) -> str | None:
    """The refusal for an archive holding ``files``, or None if every one loads on the nodes.

    Args:
        files: the facts of every ELF file in the archive.
        machine: the nodes' architecture (``"x86_64"`` or ``"aarch64"``).
        archive: the archive's name, for the message.
        glibc: the nodes' glibc version.

    Returns:
        A message naming the files and what each needs, and how to build one that loads; or None.
    """
    problems = [p for p in (file_problem(elf, machine, glibc) for elf in files) if p]
    if not problems:
        return None
    listed = problems[:MAX_LISTED] + ([f"... and {len(problems) - MAX_LISTED} more"] if len(problems) > MAX_LISTED else [])
    return (f"{archive} cannot run on EMR 7 nodes ({machine}, glibc {_dotted(glibc)}): "
            f"{len(problems)} compiled file{'s' if len(problems) > 1 else ''} would not load:\n  "
            + "\n  ".join(listed)
            + f"\npack the environment where EMR's libraries are, in an {BUILD_IMAGE} container "
              f"(docs/emr.md, \"The environment archive\"), from the checkout:\n" + container_command(machine))


# ---------------------------------------------------------------- reading the archive (I/O)


def elf_facts(stream, path: str) -> ElfFacts:
    """Read ``path``'s facts from a seekable binary ``stream`` holding an ELF file.

    Raises:
        elftools.common.exceptions.ELFError: not a well-formed ELF file.
    """
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(stream)
    versions = {aux.name for section in elf.iter_sections(type="SHT_GNU_verneed")
                for _, auxiliaries in section.iter_versions() for aux in auxiliaries}
    return ElfFacts(path, elf["e_machine"], frozenset(versions))


def archive_elves(archive: Path) -> Iterator[ElfFacts]:
    """The facts of every regular ELF file in a ``.tar.gz``, read in one pass over the stream."""
    from elftools.common.exceptions import ELFError

    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            if not member.isfile():
                continue  # bin/python is a link to the nodes' interpreter, not a file in the archive
            source = tar.extractfile(member)
            head = source.read(len(_ELF_MAGIC))
            if head != _ELF_MAGIC:
                continue
            # pyelftools seeks; a tar stream cannot.
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as copy:
                copy.write(head)
                shutil.copyfileobj(source, copy)
                copy.seek(0)
                try:
                    yield elf_facts(copy, member.name.removeprefix("./"))
                except ELFError as exc:
                    log.warning("%s in %s starts like an ELF file but pyelftools cannot read it (%s): not checked",
                                member.name, archive, exc)


def require_pyelftools() -> None:
    """Raise UserError unless pyelftools can be imported (checked before minutes of packing)."""
    if importlib.util.find_spec("elftools") is None:
        raise UserError("pyelftools is not installed: pip install -e \".[emr]\" (it checks the archive's "
                        "compiled libraries against EMR's glibc and architecture)")


def check_archive_runs_on_emr(archive: Path, machine: str) -> None:
    """Refuse an environment archive holding a compiled file that EMR 7's ``machine`` nodes cannot load.

    Raises:
        UserError: pyelftools is missing, or a file needs a newer glibc than 2.34 or another architecture.
    """
    require_pyelftools()
    message = verdict(archive_elves(archive), machine, archive.name)
    if message:
        raise UserError(message)
