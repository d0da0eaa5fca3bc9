"""`cxrpipe predict --output URI` as a Spark job: the parts hold the rows a local predict
gives, the manifest lists them with their checksums, and a rerun writes the same bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cxrpipe.cli import main
from cxrpipe.predict import batch
from tests.train.test_predict import primary_rows, source_of


@pytest.fixture(scope="module")
def sources(shards, tmp_path_factory) -> list[str]:
    """Five good radiographs and two inputs preprocessing rejects, as paths."""
    bad = tmp_path_factory.mktemp("bad")
    (bad / "empty.png").write_bytes(b"")
    (bad / "notes.txt").write_text("not a radiograph")
    good = [str(source_of(shards.root, r)) for r in primary_rows(shards.root, 5)]
    return good + [str(bad / "empty.png"), str(bad / "notes.txt")]


def run_job(model: str, sources: list[str], output: Path) -> dict:
    assert main(["predict", "--model", model, *sources, "--output", str(output),
                 "--images-per-task", "3", "--batch-size", "2"]) == 0
    return json.loads((output / batch.MANIFEST).read_text())


def test_the_job_writes_the_local_rows_in_parts(spark, trained, shards, sources, tmp_path):
    manifest = run_job(trained.out, sources, tmp_path / "job")
    assert [f["path"] for f in manifest["files"]] == [batch.part_name(i) for i in range(3)]
    assert [f["rows"] for f in manifest["files"]] == [3, 3, 1] and manifest["inputs"] == 7
    assert manifest["rejects"] == {"empty": 1, "not_an_image": 1}
    for f in manifest["files"]:
        assert hashlib.sha256((tmp_path / "job" / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    got = [row for f in manifest["files"] for row in pq.read_table(tmp_path / "job" / f["path"]).to_pylist()]
    local = tmp_path / "local.json"
    assert main(["predict", "--model", trained.out, *sorted(sources), "--format", "json", "--out", str(local)]) == 0
    expected = json.loads(local.read_text())
    assert [(r["input"], r["status"], r["reason"]) for r in got] == \
        [(r["input"], r["status"], r["reason"]) for r in expected]
    for mine, theirs in zip(got, expected):
        for c in shards.classes:
            assert mine[f"probability:{c}"] == pytest.approx(theirs[f"probability:{c}"], abs=1e-6, nan_ok=True) \
                if theirs[f"probability:{c}"] is not None else mine[f"probability:{c}"] is None


def test_a_rerun_writes_the_same_bytes(spark, trained, sources, tmp_path):
    first, second = (run_job(trained.out, sources, tmp_path / name) for name in ("a", "b"))
    assert first["files"] == second["files"]


def test_master_without_output_is_a_user_error(trained, capsys):
    assert main(["predict", "--model", trained.out, "x.png", "--master", "local[1]"]) == 2
    assert "give --output" in capsys.readouterr().err
