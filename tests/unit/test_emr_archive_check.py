"""`cxrpipe emr package` refuses an environment archive whose compiled files EMR 7's nodes cannot load.

The judgement (pure) is checked on facts; the reading on real ELF files of this machine: a
manylinux library from the test venv (built for old glibc: passes), this process's own libc
(Debian 12's glibc 2.36 libc needs GLIBC_2.35 from its loader: refused), and, as no aarch64 ELF
exists here, a copy of the manylinux library with its e_machine bytes patched to EM_AARCH64.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import tarfile
from pathlib import Path

import pytest

from cxrpipe.emr import elfcheck, package
from cxrpipe.emr.elfcheck import ElfFacts
from cxrpipe.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
SITE = "lib/python3.11/site-packages"
EM_AARCH64 = 183  # the ELF specification's number for AArch64
E_MACHINE_OFFSET = 18  # e_machine: a 2-byte field after e_ident (16) and e_type (2)


def facts(path="lib/x.so", machine="EM_X86_64", *versions):
    return ElfFacts(path, machine, frozenset(versions))


# ---------------------------------------------------------------- the judgement


def test_glibc_versions_compare_as_numbers_and_other_version_names_are_not_glibc():
    assert elfcheck.glibc_needed({"GLIBC_2.4", "GLIBC_2.17", "GLIBC_2.2.5", "GLIBC_PRIVATE"}) == (2, 17)
    assert elfcheck.glibc_needed({"GLIBCXX_3.4.30", "CXXABI_1.3.13", "GCC_3.0"}) is None


@pytest.mark.parametrize("versions", [(), ("GLIBC_2.2.5", "GLIBC_2.17"), ("GLIBC_2.34", "GLIBC_PRIVATE"),
                                      ("GLIBC_2.4", "GLIBCXX_3.4.30")])
def test_a_file_within_emr_7s_glibc_loads(versions):
    assert elfcheck.file_problem(facts("lib/ok.so", "EM_X86_64", *versions), "x86_64") is None


def test_a_file_needing_a_newer_glibc_is_named_with_the_version_it_needs():
    problem = elfcheck.file_problem(facts("lib/new.so", "EM_X86_64", "GLIBC_2.17", "GLIBC_2.35"), "x86_64")
    assert problem == "lib/new.so: needs GLIBC_2.35, EMR 7 has glibc 2.34"
    assert elfcheck.file_problem(facts("a.so", "EM_AARCH64", "GLIBC_2.34.1"), "aarch64") == \
        "a.so: needs GLIBC_2.34.1, EMR 7 has glibc 2.34"


@pytest.mark.parametrize("machine, nodes, said", [
    ("EM_AARCH64", "x86_64", "built for aarch64, the nodes are x86_64"),
    ("EM_X86_64", "aarch64", "built for x86_64, the nodes are aarch64"),
    ("EM_386", "x86_64", "built for i386, the nodes are x86_64"),
    ("EM_RISCV", "x86_64", "built for EM_RISCV, the nodes are x86_64"),
])
def test_a_file_for_another_architecture_is_named_with_both(machine, nodes, said):
    assert elfcheck.file_problem(facts("lib/a.so", machine, "GLIBC_2.17"), nodes) == f"lib/a.so: {said}"


def test_the_refusal_lists_each_file_and_says_how_to_build_one_that_loads():
    files = [facts("ok.so", "EM_X86_64", "GLIBC_2.17"), facts("new.so", "EM_X86_64", "GLIBC_2.36"),
             facts("arm.so", "EM_AARCH64")]
    message = elfcheck.verdict(files, "x86_64", "env.tar.gz")
    lines = message.splitlines()
    assert lines[:3] == ["env.tar.gz cannot run on EMR 7 nodes (x86_64, glibc 2.34): 2 compiled files would not load:",
                         "  new.so: needs GLIBC_2.36, EMR 7 has glibc 2.34",
                         "  arm.so: built for aarch64, the nodes are x86_64"]
    assert "amazonlinux:2023 container" in lines[3]
    assert message.endswith(elfcheck.container_command("x86_64"))
    assert "--platform linux/amd64" in message and "ok.so" not in message
    assert elfcheck.verdict(files[:1], "x86_64", "env.tar.gz") is None


def test_a_long_list_names_the_first_few_and_counts_the_rest():
    files = [facts(f"lib/m{i}.so", "EM_X86_64", "GLIBC_2.38") for i in range(13)]
    lines = elfcheck.verdict(files, "x86_64", "env.tar.gz").splitlines()
    assert "13 compiled files" in lines[0]
    assert lines[1:elfcheck.MAX_LISTED + 2] == [f"  lib/m{i}.so: needs GLIBC_2.38, EMR 7 has glibc 2.34"
                                                for i in range(elfcheck.MAX_LISTED)] + ["  ... and 3 more"]


def test_the_container_command_uses_the_nodes_platform_and_the_docs_give_it():
    assert "--platform linux/arm64" in elfcheck.container_command("aarch64")
    assert set(elfcheck.DOCKER_PLATFORMS) == package.MACHINES
    assert elfcheck.container_command("x86_64") in (ROOT / "docs" / "emr.md").read_text()


def test_packing_on_another_machine_than_arch_is_refused_before_any_work():
    linux = {"version": [3, 11], "system": "Linux"}
    with pytest.raises(UserError, match=r"--arch aarch64, but --python runs on x86_64.*--platform linux/arm64"):
        package.check_interpreter({**linux, "machine": "x86_64"}, "aarch64")
    assert package.check_interpreter({**linux, "machine": "aarch64"}) == "aarch64"
    assert package.check_interpreter({**linux, "machine": "x86_64"}, "x86_64") == "x86_64"


# ---------------------------------------------------------------- real ELF files, in real archives


def manylinux_library() -> Path:
    """A compiled module from a manylinux wheel in the test venv (numpy's core)."""
    from numpy._core import _multiarray_umath

    return Path(_multiarray_umath.__file__)


def this_process_libc() -> Path:
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if re.search(r"/libc[.-][\w.]*so", line)}
    (path,) = paths
    return Path(path)


def newer_glibc_libc() -> Path:
    """This machine's libc, when it is newer than EMR 7's: it needs its own loader's newer versions."""
    version = tuple(int(p) for p in os.confstr("CS_GNU_LIBC_VERSION").split()[1].split("."))
    if version <= elfcheck.EMR_GLIBC:
        pytest.skip(f"this machine's glibc {version} is not newer than EMR 7's: its libc needs nothing newer")
    return this_process_libc()


def patched_machine(source: Path, target: Path, machine: int) -> Path:
    data = bytearray(source.read_bytes())
    data[E_MACHINE_OFFSET:E_MACHINE_OFFSET + 2] = machine.to_bytes(2, "little")
    target.write_bytes(bytes(data))
    return target


def venv_archive(path: Path, files: dict[str, Path]) -> Path:
    """A tar.gz laid out as venv-pack lays one out, with ``files`` under site-packages."""
    with tarfile.open(path, "w:gz") as tar:
        for name, source in files.items():
            tar.add(source, arcname=f"{SITE}/{name}")
        link = tarfile.TarInfo("bin/python")
        link.type, link.linkname = tarfile.SYMTYPE, "python3.11"
        tar.addfile(link)
        script = b"#!/bin/sh\necho not an ELF file\n"
        info = tarfile.TarInfo("bin/activate")
        info.size = len(script)
        tar.addfile(info, io.BytesIO(script))
    return path


def test_a_real_manylinux_library_is_read_as_built_for_old_glibc():
    with manylinux_library().open("rb") as stream:
        read = elfcheck.elf_facts(stream, "numpy.so")
    assert read.machine == elfcheck.ELF_MACHINES_BY_NAME[os.uname().machine]
    assert (2, 2) < elfcheck.glibc_needed(read.versions) <= elfcheck.EMR_GLIBC


def test_an_archive_of_manylinux_libraries_passes(tmp_path):
    archive = venv_archive(tmp_path / "env.tar.gz", {"numpy/_core/_umath.so": manylinux_library()})
    assert [f.path for f in elfcheck.archive_elves(archive)] == [f"{SITE}/numpy/_core/_umath.so"]  # scripts, links skipped
    elfcheck.check_archive_runs_on_emr(archive, os.uname().machine)


def test_an_archive_holding_a_library_built_for_a_newer_glibc_is_refused(tmp_path):
    libc = newer_glibc_libc()
    archive = venv_archive(tmp_path / "env.tar.gz", {"numpy/_core/_umath.so": manylinux_library(),
                                                     "built_here/_ext.so": libc})
    with pytest.raises(UserError) as refused:
        elfcheck.check_archive_runs_on_emr(archive, os.uname().machine)
    lines = str(refused.value).splitlines()
    assert "1 compiled file would not load" in lines[0]
    assert re.fullmatch(rf"  {SITE}/built_here/_ext\.so: needs GLIBC_2\.(3[5-9]|[4-9]\d), EMR 7 has glibc 2\.34", lines[1])
    assert "amazonlinux:2023" in lines[2] and "_umath" not in str(refused.value)


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="patches an x86_64 library into an aarch64 one")
def test_an_archive_for_the_other_architecture_is_refused(tmp_path):
    arm = patched_machine(manylinux_library(), tmp_path / "arm.so", EM_AARCH64)
    archive = venv_archive(tmp_path / "env.tar.gz", {"numpy/_core/_umath.so": manylinux_library(), "arm/_ext.so": arm})
    with pytest.raises(UserError, match=rf"\n  {SITE}/arm/_ext\.so: built for aarch64, the nodes are x86_64\n"):
        elfcheck.check_archive_runs_on_emr(archive, "x86_64")
    # Packed for Graviton nodes, the x86_64 library is the one named.
    with pytest.raises(UserError, match=rf"(?s)\n  {SITE}/numpy/_core/_umath\.so: built for x86_64, the nodes are aarch64\n"
                                        r"pack .*--platform linux/arm64"):
        elfcheck.check_archive_runs_on_emr(archive, "aarch64")


def test_an_unreadable_elf_file_is_reported_and_not_judged(tmp_path, caplog):
    broken = tmp_path / "broken.so"
    broken.write_bytes(b"\x7fELF")  # the magic and nothing else: no class, no header
    archive = venv_archive(tmp_path / "env.tar.gz", {"broken.so": broken, "ok.so": manylinux_library()})
    with caplog.at_level(logging.WARNING, logger="cxrpipe.emr.elfcheck"):
        assert [f.path for f in elfcheck.archive_elves(archive)] == [f"{SITE}/ok.so"]
    assert "broken.so" in caplog.text and "not checked" in caplog.text


def test_without_pyelftools_packing_stops_before_building(monkeypatch):
    monkeypatch.setitem(sys.modules, "elftools", None)  # find_spec answers None, as without the package
    with pytest.raises(UserError, match=r"pyelftools is not installed: pip install -e \"\.\[emr\]\""):
        package.build_env(Path("no.whl"), Path("no-dir"), base_python="no-such-python")  # refused before running it
