"""`cxrpipe predict`: the pixels it feeds the model are the training pixels, rejects are rows
with preprocessing's reasons, and CSV, JSON and Parquet carry the same rows."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cxrpipe.cli import main
from cxrpipe.predict import inputs
from cxrpipe.storage import StorageConfig
from cxrpipe.train import data, infer, modeldir

CONFIG = StorageConfig()


@pytest.fixture(scope="module")
def predictor(trained):
    return infer.load(Path(trained.out))


def primary_rows(root: str, n: int) -> list[dict]:
    """``n`` index rows of original (unflipped) primary JPEGs, one per split where possible."""
    table = pq.read_table(Path(root) / "index").to_pylist()
    rows = sorted((r for r in table if r["primary"] and r["augmentation"] == "none"),
                  key=lambda r: (r["split"], r["image_id"]))
    by_split = {}
    for row in rows:
        by_split.setdefault(row["split"], []).append(row)
    return [r for split in sorted(by_split) for r in by_split[split][: -(-n // len(by_split))]][:n]


def source_of(root: str, row: dict) -> Path:
    return Path(root).parent / "raw" / "images" / row["image_id"]


def test_predict_feeds_the_model_the_decoded_training_jpeg(predictor, shards):
    """Tolerance 0: predict JPEG-codes the rendered image as `run` did (same bytes), then
    decodes it with the training stream's own function, so the arrays are equal bit for bit."""
    params = inputs.primary_params(predictor.card.render)
    for row in primary_rows(shards.root, 6):
        stored = (Path(shards.root) / row["path"]).read_bytes()
        made = inputs.prepare(str(source_of(shards.root, row)), params, CONFIG)
        assert made == stored, row["image_id"]
        fed = predictor.pixels([made]).numpy()[0]
        trained_on = data.decode_image(stored, predictor.card.image_size).numpy()
        assert fed.shape == (48, 48, 3) and np.array_equal(fed, trained_on), row["image_id"]


def test_predictions_are_the_models_scores_on_the_training_pixels(predictor, shards):
    rows = primary_rows(shards.root, 4)
    got = infer.predict(predictor, [str(source_of(shards.root, r)) for r in rows], CONFIG, batch_size=3)
    stored = [(Path(shards.root) / r["path"]).read_bytes() for r in rows]
    images = np.stack([data.decode_image(j, predictor.card.image_size).numpy() for j in stored])
    expected = predictor.model(images, training=False).numpy()
    thresholds = predictor.card.threshold_values()
    for row, scores in zip(got, expected):
        assert row["status"] == "ok"
        for c, score, limit in zip(predictor.card.classes, scores, thresholds):
            assert row[f"probability:{c}"] == pytest.approx(float(score), abs=1e-6)
            assert row[f"positive:{c}"] == (None if limit is None else bool(score >= limit))


def bad_inputs(folder: Path, good: Path) -> dict[str, str]:
    """Files preprocessing would reject, by the reason it would give."""
    folder.mkdir()
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not a radiograph")
    (folder / "cut.png").write_bytes(good.read_bytes()[:400])
    return {str(folder / "cut.png"): "truncated", str(folder / "empty.png"): "empty",
            str(folder / "notes.txt"): "not_an_image", str(folder / "gone.png"): "missing"}


def test_the_cli_writes_csv_json_and_parquet_with_rejects_as_rows(trained, shards, tmp_path):
    good = source_of(shards.root, primary_rows(shards.root, 1)[0])
    bad = bad_inputs(tmp_path / "bad", good)
    dicom = str(Path(__import__("pydicom.data").data.get_testdata_file("RG1_UNCR.dcm")))
    args = [str(good), str(tmp_path / "bad"), str(tmp_path / "bad" / "gone.png"), dicom]
    results = {}
    for fmt in ("csv", "json", "parquet"):
        out = tmp_path / f"p.{fmt}"
        assert main(["predict", "--model", trained.out, *args, "--format", fmt, "--out", str(out)]) == 0
        results[fmt] = out
    rows = json.loads(results["json"].read_text())
    listed = [str(tmp_path / "bad" / name) for name in ("cut.png", "empty.png", "notes.txt", "gone.png")]
    assert [r["input"] for r in rows] == [str(good), *listed, dicom]
    assert {r["input"]: r["reason"] for r in rows if r["status"] == "rejected"} == bad
    assert [r["status"] for r in rows] == ["ok", "rejected", "rejected", "rejected", "rejected", "ok"]
    assert all(0.0 <= r[f"probability:{c}"] <= 1.0 for r in rows if r["status"] == "ok" for c in shards.classes)
    assert pq.read_table(results["parquet"]).to_pylist() == rows
    table = list(csv.DictReader(io.StringIO(results["csv"].read_text())))
    assert [r["reason"] or None for r in table] == [r["reason"] for r in rows]
    first = shards.classes[0]
    assert float(table[0][f"probability:{first}"]) == pytest.approx(rows[0][f"probability:{first}"])


def test_without_tuned_thresholds_positives_are_empty_and_said(trained, shards, tmp_path, capsys):
    copy = tmp_path / "model"
    shutil.copytree(trained.out, copy, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    modeldir.write(copy, dataclasses.replace(modeldir.read(copy), thresholds=None))
    good = source_of(shards.root, primary_rows(shards.root, 1)[0])
    assert main(["predict", "--model", str(copy), str(good), "--format", "json"]) == 0
    captured = capsys.readouterr()
    row, = json.loads(captured.out)
    assert all(row[f"positive:{c}"] is None for c in shards.classes)
    assert all(isinstance(row[f"probability:{c}"], float) for c in shards.classes)
    assert "no tuned thresholds" in captured.err and "cxrpipe evaluate" in captured.err


def test_user_mistakes_are_one_line_exit_2(trained, tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path), "x.png"]) == 2
    assert "not a model directory" in capsys.readouterr().err
    assert main(["predict", "--model", trained.out, "x.png", "--format", "parquet"]) == 2
    assert "give --out" in capsys.readouterr().err


def test_an_s3_prefix_in_and_an_s3_object_out(trained, shards, s3, s3_endpoint, tmp_path):
    """Inputs listed under an s3:// prefix (sorted), scored as the same files read locally."""
    s3.create_bucket(Bucket="predict-in")
    sources = [source_of(shards.root, r) for r in primary_rows(shards.root, 2)]
    for source in sources:
        s3.put_object(Bucket="predict-in", Key=f"new/{source.name}", Body=source.read_bytes())
    s3.put_object(Bucket="predict-in", Key="new/zz-empty.dcm", Body=b"")
    endpoint = ["--s3-endpoint", s3_endpoint]
    assert main(["predict", "--model", trained.out, "s3://predict-in/new", *endpoint,
                 "--format", "json", "--out", "s3://predict-in/out/p.json"]) == 0
    remote = json.loads(s3.get_object(Bucket="predict-in", Key="out/p.json")["Body"].read())
    local = tmp_path / "local.json"
    assert main(["predict", "--model", trained.out, *map(str, sorted(sources)), "--format", "json",
                 "--out", str(local)]) == 0
    expected = json.loads(local.read_text())
    names = sorted(s.name for s in sources)
    assert [r["input"] for r in remote] == [f"s3://predict-in/new/{n}" for n in names + ["zz-empty.dcm"]]
    assert [{**r, "input": None} for r in remote[:2]] == [{**r, "input": None} for r in expected]
    assert remote[2]["status"] == "rejected" and remote[2]["reason"] == "empty"
