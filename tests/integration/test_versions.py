"""Versions of a growing dataset root: every commit is a version, readers go back to any kept
one, `diff` says what changed, `gc` deletes only what no kept version lists, and a job killed
before its commit leaves the previous version current."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time

import pytest

from cxrpipe import history, layout, versions
from cxrpipe.cli import main
from cxrpipe.errors import JobFailed
from cxrpipe.lease import Lease
from cxrpipe.storage import StorageConfig

CONFIG = StorageConfig()
RELABELLED = 3  # the CSV row whose labels version 2 changes


def write_index(path, header, rows):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def run(raw, index, out, *extra):
    return main(["run", "--dataset", "nih", "--index", str(index), "--images", str(raw / "images"),
                 "--output", str(out), "--num-shards", "1", *extra])


@pytest.fixture(scope="module")
def grown(spark, tmp_path_factory):
    """Version 1 over the first 24 rows; version 2 adds 6, drops row 1 and relabels one row."""
    root = tmp_path_factory.mktemp("versions")
    raw, out = root / "raw", root / "out"
    assert main(["synth", "--layout", "nih", "--out", str(raw), "--n", "30", "--image-size", "64"]) == 0
    header, *rows = (raw / "Data_Entry_2017.csv").read_text().splitlines()
    first = write_index(root / "a.csv", header, rows[:24])
    cells = rows[RELABELLED].split(",")
    cells[1] = "Hernia" if cells[1] != "Hernia" else "Mass"
    second_rows = [r for i, r in enumerate(rows) if i != 1]
    second_rows[RELABELLED - 1] = ",".join(cells)
    second = write_index(root / "b.csv", header, second_rows)
    assert run(raw, first, out) == 0
    v1_manifest = (out / "_MANIFEST.json").read_bytes()
    assert run(raw, second, out) == 0
    ids = lambda rs: {r.split(",")[0] for r in rs}  # noqa: E731
    return {"root": root, "raw": raw, "out": out, "second": second, "v1": v1_manifest, "header": header,
            "rows": rows, "added": ids(rows[24:]), "removed": ids([rows[1]]), "relabelled": cells[0]}


def test_each_commit_writes_its_version_then_the_current_manifest(grown):
    out = grown["out"]
    v1, v2 = (out / layout.manifest_version_path(n) for n in (1, 2))
    assert v1.read_bytes() == grown["v1"]          # version 1 is what was current before
    assert v2.read_bytes() == (out / "_MANIFEST.json").read_bytes()
    assert json.loads(v2.read_bytes())["version"] == 2
    assert history.version_numbers(str(out), CONFIG) == [1, 2]
    current = history.current_manifest(str(out), CONFIG)
    # Version 2's tables and shards are its own: version 1's stay where they were, unchanged.
    assert all("/v000002/" in f["path"] for f in current.files)
    assert current.inputs == 29 and current.rejects["total"] == 0


def test_every_kept_version_verifies_and_nothing_counts_as_unlisted(grown, capsys):
    for flags in ([], ["--version", "1"], ["--version", "2"]):
        assert main(["verify", str(grown["out"]), "--strict", *flags]) == 0
        out = capsys.readouterr().out
        assert "UNLISTED" not in out and out.strip().endswith("OK")


def test_readers_take_a_version(grown, capsys):
    assert main(["inspect", str(grown["out"]), "--version", "1"]) == 0
    out = capsys.readouterr().out
    assert "version 1," in out and "24 inputs" in out
    assert main(["inspect", str(grown["out"]), "--version", "7"]) == 2
    assert "no version 7" in capsys.readouterr().err


def test_shards_of_an_older_version(grown, tmp_path, capsys):
    assert main(["shards", "--input", str(grown["out"]), "--output", str(tmp_path / "s"), "--version", "1",
                 "--num-shards", "1"]) == 0
    built = history.current_manifest(str(tmp_path / "s"), CONFIG)
    assert built.inputs == 24 and built.parameters["input_version"] == 1


def test_versions_lists_counts_and_changes(grown, capsys):
    assert main(["versions", str(grown["out"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    v1 = next(line.split() for line in lines if line.strip().startswith("1 "))
    v2 = next(line.split() for line in lines if line.strip().startswith("2 *"))
    # The commit dates are the version files' own (manifests hold no timestamps).
    written = {n: time.strftime("%Y-%m-%d %H:%M", time.gmtime((grown["out"] / layout.manifest_version_path(n))
                                                              .stat().st_mtime)) for n in (1, 2)}
    assert " ".join(v1[1:3]) == written[1] and " ".join(v2[2:4]) == written[2]
    assert v1[3:6] == ["run", "24", "24"] and v1[7:9] == ["-", "-"] and v1[9:] == ["a", "full", "job"]
    assert v2[4:7] == ["run", "29", "29"] and v2[8:10] == ["6", "1"] and v2[10:] == ["a", "full", "job"]


def test_diff_names_added_removed_and_relabelled_images(grown, capsys):
    out = str(grown["out"])
    old, new = (history.read_version(out, CONFIG, n) for n in (1, 2))
    rows = [versions.image_rows(history.index_rows(out, b, CONFIG), b.classes) for b in (old, new)]
    ids = set  # the index keeps NIH's Image Index as the id
    assert set(rows[1]) - set(rows[0]) == ids(grown["added"])
    assert set(rows[0]) - set(rows[1]) == ids(grown["removed"])
    relabelled = grown["relabelled"]
    assert rows[0][relabelled].labels != rows[1][relabelled].labels
    assert main(["diff", out, "--from", "1", "--to", "2"]) == 0
    text = capsys.readouterr().out
    assert "6 images added, 1 images removed, 1 images relabelled" in text
    assert text.count("\n") >= 3


def test_a_rerun_that_changes_nothing_is_no_new_version(grown, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(grown["out"], copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert run(grown["raw"], grown["second"], copy) == 0
    after = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert after == before


def test_a_job_killed_before_its_commit_leaves_the_previous_version_and_a_rerun_completes(
        grown, tmp_path, monkeypatch, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(grown["out"], copy)
    current = (copy / "_MANIFEST.json").read_bytes()
    third = write_index(tmp_path / "c.csv", grown["header"], grown["rows"])  # row 1 back, label back

    calls = []

    def taken_over(self):  # the lease is taken (first check), then lost before the commit
        calls.append(1)
        if len(calls) > 1:
            raise JobFailed("another job took over this output while this one ran")

    from cxrpipe.spark import lease
    with monkeypatch.context() as patched:
        patched.setattr(lease.Held, "check", taken_over)
        assert run(grown["raw"], third, copy) == 1
    assert "took over" in capsys.readouterr().err
    assert (copy / "_MANIFEST.json").read_bytes() == current
    assert history.version_numbers(str(copy), CONFIG) == [1, 2]
    capsys.readouterr()
    assert main(["verify", str(copy)]) == 0
    assert run(grown["raw"], third, copy) == 0
    assert history.current_manifest(str(copy), CONFIG).version == 3
    assert history.version_numbers(str(copy), CONFIG) == [1, 2, 3]
    assert main(["verify", str(copy), "--strict"]) == 0


def test_gc_deletes_only_what_no_kept_version_lists(grown, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(grown["out"], copy)
    v1 = history.read_version(str(copy), CONFIG, 1)
    only_v1 = history.listed_files(str(copy), v1, CONFIG) - history.listed_files(
        str(copy), history.read_version(str(copy), CONFIG, 2), CONFIG)
    # Version 1's tables and shards, and the removed image's JPEGs (an image per version).
    assert len(only_v1) > len(v1.files) and all((copy / p).exists() for p in only_v1)
    before = sorted(p for p in copy.rglob("*") if p.is_file())
    assert main(["gc", str(copy), "--keep", "1", "--dry-run"]) == 0
    printed = {line.split(" ", 2)[2] for line in capsys.readouterr().out.splitlines() if line.startswith("would")}
    assert sorted(p for p in copy.rglob("*") if p.is_file()) == before
    assert printed == only_v1 | {layout.manifest_version_path(1)}
    assert main(["gc", str(copy), "--keep", "1"]) == 0
    assert not any((copy / p).exists() for p in printed)
    assert history.version_numbers(str(copy), CONFIG) == [2]
    assert main(["verify", str(copy), "--strict"]) == 0


def test_gc_refuses_while_a_job_holds_the_lease(grown, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(grown["out"], copy)
    now = time.time()
    live = Lease("someone", socket.gethostname(), os.getpid(), "run", now, now)
    (copy / layout.LEASE).write_bytes(live.dumps())
    assert main(["gc", str(copy), "--keep", "1"]) == 2
    assert "is being written by" in capsys.readouterr().err
    assert history.version_numbers(str(copy), CONFIG) == [1, 2]


def test_report_of_an_older_version(grown, tmp_path):
    pages = {}
    for version in ("1", "2"):
        assert main(["report", str(grown["out"]), "--out", str(tmp_path / version), "--version", version]) == 0
        pages[version] = (tmp_path / version / "index.html").read_text()
    assert pages["1"] != pages["2"]  # version 1's counts, not the current one's


def test_versions_exits_zero_as_a_process(grown):
    """Its own process, as users run it: reading Parquet must not abort the interpreter at exit
    (pyarrow 26's reader threads did, exit 134, which an in-process main() cannot see)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "cxrpipe.cli", "versions", str(grown["out"])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "terminate called" not in done.stderr, done.stderr
    assert "* the current version" in done.stdout
