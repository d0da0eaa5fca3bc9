"""`cxrpipe emr package` where the README sets it up: a fresh `python3.11 -m venv` (pip 23, setuptools
65.5, no `wheel`), the project installed with the README's own command, then the README's own
`cxrpipe emr package` line. The test suite's venv hides what breaks there: its `wheel` comes in
through TensorFlow. Also the fallback for an environment that cannot build wheels itself: an
isolated build, and what it says without a package index. The first two need PyPI, as the README's
install does; about a minute and a half here, most of it pip downloading the packed environment's
dependencies (which `emr package` asks it not to cache).

The checkout is copied first, so that the editable install and `dist/` land in the copy, never in
the shared working tree.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from cxrpipe.emr import package
from cxrpipe.emr.envcheck import check_archive_matches

ROOT = Path(__file__).resolve().parents[2]
# What a user's clone does not have: other venvs, build output, caches.
NOT_IN_A_CLONE = (".venv", ".git", "dist", "build", "*.egg-info", "__pycache__", ".pytest_cache", "demo-out",
                  "spark-warehouse", "metastore_db")
VENV_SECONDS, INSTALL_SECONDS, PACKAGE_SECONDS = 120, 900, 1200


@pytest.fixture(scope="module")
def pypi() -> None:
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15).close()
    except OSError as exc:
        pytest.fail(f"needs PyPI, as the README's install does (CI and this machine reach it): {exc}")


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A copy of the checkout as a clone has it."""
    root = tmp_path_factory.mktemp("fresh") / "cxrpipe"
    shutil.copytree(ROOT, root, ignore=shutil.ignore_patterns(*NOT_IN_A_CLONE), symlinks=True)
    return root


def user_env() -> dict[str, str]:
    """The environment of a shell without the test suite's venv or settings in it."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYSPARK_PYTHON", "PIP_REQUIRE_VIRTUALENV"}
    return {key: value for key, value in os.environ.items() if key not in drop}


def run(command: list[str], cwd: Path, timeout: float, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env={**user_env(), **env}, capture_output=True, text=True, timeout=timeout)


def fresh_venv(where: Path) -> Path:
    """``python3.11 -m venv WHERE``, nothing upgraded; returns its python."""
    done = run(["python3.11", "-m", "venv", str(where)], where.parent, VENV_SECONDS)
    assert done.returncode == 0, done.stderr
    python = where / "bin" / "python"
    # The environment of the bug report: setuptools older than 70.1 (no bdist_wheel of its own), no wheel.
    probe = "import importlib.util as u, setuptools; print(setuptools.__version__, u.find_spec('wheel') is not None)"
    version, has_wheel = run([str(python), "-c", probe], where, 60).stdout.split()
    assert has_wheel == "False" and tuple(map(int, version.split(".")[:2])) < (70, 1), (version, has_wheel)
    return python


def readme_emr_commands(root: Path) -> list[str]:
    """The shell lines of the README's "Running on EMR" block that set up and package, comments dropped."""
    section = (root / "README.md").read_text().split("## Running on EMR", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [line for line in lines if line.startswith((".venv/bin/pip install", ".venv/bin/cxrpipe emr package"))]


def archive_names(archive: Path) -> set[str]:
    with tarfile.open(archive) as tar:
        return {name[2:] if name.startswith("./") else name for name in tar.getnames()}


def test_the_readme_emr_setup_packages_in_a_fresh_venv(pypi, clone):
    install, pack = readme_emr_commands(clone)
    assert install == '.venv/bin/pip install -e ".[emr]"'
    assert re.fullmatch(r"\.venv/bin/cxrpipe emr package --out (\S+)", pack), pack
    out = clone / pack.split("--out ")[1]
    fresh_venv(clone / ".venv")
    started = time.monotonic()
    done = run(shlex.split(install), clone, INSTALL_SECONDS)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    installed = time.monotonic()
    # The emr extra lets the venv build the wheel itself: packaging needs no isolated build.
    probe = "import sys; from cxrpipe.emr.package import builds_wheels_here; print(builds_wheels_here(sys.executable))"
    assert run([".venv/bin/python", "-c", probe], clone, 60).stdout.strip() == "True"
    done = run(shlex.split(pack), clone, PACKAGE_SECONDS)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    print(f"install {installed - started:.0f} s, package {time.monotonic() - installed:.0f} s")
    wheel, archive = out / package.wheel_name(clone), out / "env.tar.gz"
    assert wheel.is_file() and archive.is_file(), sorted(p.name for p in out.iterdir())
    names = archive_names(archive)
    assert "bin/python" in names
    assert {"lib/python3.11/site-packages/cxrpipe/__init__.py", "lib/python3.11/site-packages/cxrpipe/cli/__init__.py",
            "lib/python3.11/site-packages/cxrpipe/emr/package.py"} <= names
    check_archive_matches(archive, wheel)  # the archive's cxrpipe is this clone's build


BUILD_WHEEL = ("import sys; from pathlib import Path; from cxrpipe.emr.package import build_wheel; "
               "print(build_wheel(Path(sys.argv[1]), Path(sys.argv[2])))")


def test_an_environment_that_cannot_build_wheels_builds_in_isolation(pypi, clone, tmp_path):
    """Without the emr extra (setuptools 65.5 and no wheel), pip builds the wheel in an isolated environment."""
    python = fresh_venv(tmp_path / "venv")
    done = run([str(python), "-c", BUILD_WHEEL, str(clone), str(tmp_path / "dist")], clone, INSTALL_SECONDS)
    assert done.returncode == 0, done.stderr[-3000:]
    wheel = Path(done.stdout.strip().splitlines()[-1])
    assert wheel == tmp_path / "dist" / package.wheel_name(clone)
    with zipfile.ZipFile(wheel) as built:
        assert {"cxrpipe/cli/__init__.py", "cxrpipe/emr/package.py"} <= set(built.namelist())


def test_without_the_package_index_the_isolated_build_says_what_to_install(clone, tmp_path):
    python = fresh_venv(tmp_path / "venv")
    # No index and no pip configuration: the isolated build cannot get setuptools.
    done = run([str(python), "-c", BUILD_WHEEL, str(clone), str(tmp_path / "dist")], clone, INSTALL_SECONDS,
               PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("cxrpipe.errors.UserError: `") and "pip wheel --no-deps" in last
    assert "ERROR: No matching distribution found for setuptools" in last  # pip's cause, not its wrapper lines
    assert last.endswith(package.ISOLATED_BUILD_HINT)
