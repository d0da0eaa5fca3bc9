"""The artifacts a cluster runs: the project's wheel and a venv-pack archive of its environment.

The archive is what Spark's Python package management documentation describes: a virtual
environment with the wheel and its dependencies installed, packed by venv-pack, shipped with
``--archives env.tar.gz#environment`` and run as ``./environment/bin/python``. venv-pack does not
copy the interpreter: ``bin/python`` links to ``PYTHON_PREFIX/bin/python3.11``, so the nodes need
Python 3.11 there (EMR 7.x: ``/usr/bin/python3.11``; ``emr/bootstrap.sh`` makes sure of it).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from . import elfcheck

log = logging.getLogger(__name__)

# What the cluster installs with the wheel; the same extras as docker/ and emr/bootstrap.sh.
EXTRAS = "aws"
PYTHON_VERSION = (3, 11)  # EMR 7.x's python3.11
# EMR's instance architectures (aarch64: Graviton), each with its build container's platform.
MACHINES = set(elfcheck.DOCKER_PLATFORMS)
# Files a wheel build needs from the checkout (copied, so a stale build/ never leaks into it).
SOURCES = ("setup.py", "README.md", "cxrpipe")
WHEEL_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can hold
# Exit 0 if this Python's setuptools can load bdist_wheel (its own, or the wheel package's).
_BDIST_WHEEL_PROBE = "from setuptools.dist import Distribution; Distribution().get_command_class('bdist_wheel')"
# pip's lines around a build's failure that say nothing about its cause.
PIP_WRAPPERS = {"error: subprocess-exited-with-error", "error: metadata-generation-failed"}
ISOLATED_BUILD_HINT = ("this environment's setuptools cannot build wheels, so pip had to fetch one from the package "
                       "index; install the emr extra (pip install -e \".[emr]\": setuptools >= 70.1) to build without it")


@dataclass(frozen=True)
class Package:
    """A built wheel and, unless only the wheel was asked for, the packed environment."""

    wheel: Path
    archive: Path | None


def wheel_command(python: str, source: Path, out_dir: Path, isolated: bool) -> list[str]:
    """``pip wheel`` of the project alone (its dependencies are installed where it runs)."""
    command = [python, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out_dir)]
    return command + ([] if isolated else ["--no-build-isolation"]) + [str(source)]


def env_commands(base_python: str, venv: Path, wheel: Path, archive: Path,
                 pip_options: tuple[str, ...] = ()) -> tuple[list[list[str]], list[str]]:
    """The commands that make the environment archive: (a venv and the wheel in it), then venv-pack.

    ``relink_python`` runs between the two.
    """
    build = [
        [base_python, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-cache-dir", *pip_options,
         f"{wheel}[{EXTRAS}]"],
    ]
    pack = [sys.executable, "-m", "venv_pack", "--prefix", str(venv), "--output", str(archive), "--force", "--quiet"]
    return build, pack


def relink_python(venv: Path, python_prefix: str) -> None:
    """Point the venv's interpreter at ``PREFIX/bin/python3.11``, where the nodes have it.

    venv-pack's own ``--python-prefix`` turns a ``python3.11`` link into ``python3.113.11``
    (jcrist/venv-pack#14), so the links and ``pyvenv.cfg`` are rewritten here instead.
    """
    name = "python{}.{}".format(*PYTHON_VERSION)
    target = f"{python_prefix.rstrip('/')}/bin/{name}"
    bin_dir = venv / "bin"
    for link in ("python", "python3", name):
        (bin_dir / link).unlink(missing_ok=True)
    (bin_dir / name).symlink_to(target)
    (bin_dir / "python3").symlink_to(name)
    (bin_dir / "python").symlink_to(name)
    cfg = venv / "pyvenv.cfg"
    lines = [_cfg_line(line, python_prefix.rstrip("/"), target) for line in cfg.read_text().splitlines()]
    cfg.write_text("\n".join(lines) + "\n")


def _cfg_line(line: str, prefix: str, target: str) -> str:
    key = line.partition("=")[0].strip()
    if key == "home":
        return f"home = {prefix}/bin"
    if key == "executable":
        return f"executable = {target}"
    return line


def check_interpreter(facts: dict, machine: str | None = None) -> str:
    """Refuse an interpreter whose environment could not run on EMR 7.x nodes.

    Args:
        facts: ``{"version": [3, 11], "system": "Linux", "machine": "x86_64"}`` of the base Python.
        machine: the nodes' architecture (``--arch``); None: the interpreter's own.

    Returns:
        The architecture the environment is for.

    Raises:
        UserError: not Python 3.11, not Linux on x86_64/aarch64 (the wheels would not load there),
            or another architecture than ``machine`` (pip installs wheels for the machine it runs on).
    """
    if tuple(facts["version"]) != PYTHON_VERSION:
        found = ".".join(map(str, facts["version"]))
        raise UserError(f"the packed environment must be Python 3.11 like EMR 7's nodes, but --python is {found}: "
                        "pass --python python3.11")
    if facts["system"] != "Linux" or facts["machine"] not in MACHINES:
        raise UserError(f"binary wheels packed on {facts['system']} {facts['machine']} will not load on EMR: "
                        "pack on Linux x86_64 (aarch64 for Graviton instances), e.g. in an amazonlinux:2023 container")
    if machine is not None and facts["machine"] != machine:
        raise UserError(f"--arch {machine}, but --python runs on {facts['machine']} and pip installs wheels for that: "
                        f"pack on {machine}, e.g. in the amazonlinux:2023 container with --platform "
                        f"{elfcheck.DOCKER_PLATFORMS[machine]} (docs/emr.md)")
    return facts["machine"]


def _interpreter_facts(python: str) -> dict:
    probe = "import json, platform, sys; print(json.dumps({'version': sys.version_info[:2], " \
            "'system': platform.system(), 'machine': platform.machine()}))"
    try:
        out = subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UserError(f"cannot run --python {python}: {exc}") from None
    return json.loads(out)


def _run(command: list[str], env: dict | None = None, hint: str = "") -> None:
    log.info("running %s", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise UserError(f"`{' '.join(command[:5])} ...` failed (exit {done.returncode}): "
                        + " | ".join(failure_lines(done.stdout, done.stderr)) + (f"; {hint}" if hint else ""))


def failure_lines(stdout: str, stderr: str) -> list[str]:
    """What a failed command said about why: pip prints the cause (``error: ...``) far above its last lines."""
    lines = dict.fromkeys(line.strip() for line in (stdout + "\n" + stderr).splitlines())
    causes = [line for line in lines if line.lower().startswith("error:") and line not in PIP_WRAPPERS]
    return causes[-5:] or (stderr or stdout).strip().splitlines()[-5:]


def builds_wheels_here(python: str) -> bool:
    """Can ``python``'s own setuptools load a ``bdist_wheel`` command?

    setuptools has its own from 70.1; older ones take it from the ``wheel`` package. Without either
    (a fresh Python 3.11 venv: setuptools 65.5, no wheel), pip's ``--no-build-isolation`` build fails
    with "invalid command 'bdist_wheel'", so the wheel must be built in an isolated environment.
    """
    done = subprocess.run([python, "-c", _BDIST_WHEEL_PROBE], capture_output=True, text=True)
    return done.returncode == 0


def build_wheel(root: Path, out_dir: Path) -> Path:
    """Build the project's wheel from a clean copy of its sources into ``out_dir``.

    With this environment's setuptools when it can build wheels (no network, and the same setuptools
    gives the same wheel bytes); otherwise pip builds it in an isolated environment, fetching
    setuptools and wheel from the package index.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    isolated = not builds_wheels_here(sys.executable)
    with tempfile.TemporaryDirectory(prefix="cxrpipe-src-") as tmp:
        source = _copy_sources(root, Path(tmp) / "cxrpipe-src")
        # Zip entries carry timestamps: fixing them makes the same sources give the same wheel bytes,
        # so staging (named by content) reuses an upload instead of making a new prefix per build.
        _run(wheel_command(sys.executable, source, out_dir, isolated), env={**os.environ, "SOURCE_DATE_EPOCH": WHEEL_EPOCH},
             hint=ISOLATED_BUILD_HINT if isolated else "")
    wheel = out_dir / wheel_name(root)
    if not wheel.is_file():
        raise UserError(f"pip built no {wheel.name} in {out_dir}")
    return wheel


def _copy_sources(root: Path, source: Path) -> Path:
    source.mkdir()
    for name in SOURCES:
        path = root / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.is_file():
            shutil.copy2(path, source / name)
    return source


def wheel_name(root: Path) -> str:
    """The file name of the checkout's wheel (pure Python, any platform)."""
    version = re.search(r'__version__ = "([^"]+)"', (root / "cxrpipe" / "__init__.py").read_text()).group(1)
    return f"cxrpipe-{version}-py3-none-any.whl"


def build_env(wheel: Path, out_dir: Path, base_python: str = "python3.11", python_prefix: str = "/usr",
              pip_options: tuple[str, ...] = (), machine: str | None = None) -> Path:
    """Pack a fresh venv holding ``wheel[aws]`` into ``out_dir/env.tar.gz`` and check it loads on EMR 7.

    Args:
        machine: the nodes' architecture (x86_64, aarch64); None: ``base_python``'s own.

    Raises:
        UserError: venv-pack or pyelftools missing, an unsuitable interpreter, a failed install, or a
            compiled file in the archive that EMR 7's glibc or architecture cannot load.
    """
    if importlib.util.find_spec("venv_pack") is None:
        raise UserError("venv-pack is not installed: pip install venv-pack (it packs the environment)")
    elfcheck.require_pyelftools()
    machine = check_interpreter(_interpreter_facts(base_python), machine)
    archive = out_dir / "env.tar.gz"
    with tempfile.TemporaryDirectory(prefix="cxrpipe-env-") as tmp:
        venv = Path(tmp) / "env"
        build, pack = env_commands(base_python, venv, wheel, archive, pip_options)
        for command in build:
            _run(command)
        relink_python(venv, python_prefix)
        _run(pack)
    # The packed bytes are what the nodes unpack, so they are what is checked.
    elfcheck.check_archive_runs_on_emr(archive, machine)
    return archive


def package(root: Path, out_dir: Path, base_python: str = "python3.11", python_prefix: str = "/usr",
            pip_options: tuple[str, ...] = (), wheel_only: bool = False, machine: str | None = None) -> Package:
    """The wheel and (unless ``wheel_only``) the environment archive for ``machine`` nodes, in ``out_dir``."""
    wheel = build_wheel(root, out_dir)
    if wheel_only:
        return Package(wheel, None)
    return Package(wheel, build_env(wheel, out_dir, base_python, python_prefix, pip_options, machine))
