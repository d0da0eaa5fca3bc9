"""`cxrpipe predict --explain DIR`: one overlay PNG per scored image and chosen class, named by
its prediction row, over the stored-size image the model's input is made from; rejects get none."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq

from cxrpipe.cli import main
from cxrpipe.predict import inputs
from cxrpipe.storage import StorageConfig
from cxrpipe.train import data, infer

SAME_NAME = "chest.png"


def split_sources(root: str, n: int) -> list[Path]:
    """``n`` source PNGs of primary test-split images of the shards fixture."""
    table = pq.read_table(Path(root) / "index").to_pylist()
    ids = sorted({r["image_id"] for r in table if r["primary"] and r["split"] == "test"})[:n]
    return [Path(root).parent / "raw" / "images" / i for i in ids]


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def arrange(tmp_path: Path, root: str) -> list[str]:
    """Two folders holding different images under the same file name, and a reject between."""
    first, second = split_sources(root, 2)
    for folder, source in (("site-a", first), ("site-b", second)):
        (tmp_path / folder).mkdir()
        shutil.copy(source, tmp_path / folder / SAME_NAME)
    (tmp_path / "site-a" / "empty.png").write_bytes(b"")
    return [str(tmp_path / "site-a"), str(tmp_path / "site-b")]


def test_every_scored_image_gets_a_heatmap_per_class_named_by_its_row(trained, shards, tmp_path):
    given = arrange(tmp_path, shards.root)
    out, maps = tmp_path / "p.csv", tmp_path / "maps"
    assert main(["predict", "--model", trained.out, *given, "--out", str(out),
                 "--explain", str(maps), "--explain-classes", "all"]) == 0
    rows = read_csv(out)
    assert [r["status"] for r in rows] == ["ok", "rejected", "ok"]
    listed = read_csv(maps / "heatmaps.csv")
    assert {(int(e["row"]), e["class"]) for e in listed} == {(i, c) for i in (0, 2) for c in shards.classes}
    assert sorted(p.name for p in maps.glob("*.png")) == sorted(e["heatmap"] for e in listed)
    for entry in listed:
        row = rows[int(entry["row"])]
        assert entry["input"] == row["input"] and entry["heatmap"].startswith(f"{int(entry['row']):06d}-")
        assert float(entry["probability"]) == float(row[f"probability:{entry['class']}"])
    # Same file name in two folders: distinct PNGs, each over its own image.
    assert len({e["heatmap"] for e in listed}) == len(listed)


def test_the_overlay_is_the_stored_image_where_the_map_is_cold(trained, shards, tmp_path):
    """Pixels left gray (B = G = R) are the JPEG `run` stored, decoded as the training stream
    decodes it (TensorFlow's decoder, which differs from OpenCV's by several levels at edges):
    the model's own image. Within 1 level: a faintly warm pixel rounds to gray
    (tests/unit/test_heatmaps.py checks the blend exactly)."""
    source, = split_sources(shards.root, 1)
    maps = tmp_path / "maps"
    assert main(["predict", "--model", trained.out, str(source), "--format", "json",
                 "--explain", str(maps)]) == 0
    predictor = infer.load(Path(trained.out))
    jpeg = inputs.prepare(str(source), inputs.primary_params(predictor.card.render), StorageConfig())
    gray = data.decode_gray(jpeg).numpy()[..., 0].astype(int)
    entries = read_csv(maps / "heatmaps.csv")
    assert entries, "auto explains at least the most probable class"
    for entry in entries:
        png = cv2.imread(str(maps / entry["heatmap"]))
        assert png.shape == (*gray.shape, 3)
        plain = (png[..., 0] == png[..., 1]) & (png[..., 1] == png[..., 2])
        coloured = ~plain
        assert plain.any() and coloured.any()
        assert np.abs(png[..., 0][plain].astype(int) - gray[plain]).max() <= 1


def test_auto_draws_the_positive_findings_else_the_top_one(trained, shards, tmp_path):
    sources = split_sources(shards.root, 4)
    out, maps = tmp_path / "p.csv", tmp_path / "maps"
    assert main(["predict", "--model", trained.out, *map(str, sources), "--out", str(out),
                 "--explain", str(maps)]) == 0
    rows = read_csv(out)
    drawn = {}
    for entry in read_csv(maps / "heatmaps.csv"):
        drawn.setdefault(int(entry["row"]), set()).add(entry["class"])
    for number, row in enumerate(rows):
        positive = {c for c in shards.classes if row[f"positive:{c}"] == "True"}
        top = max(shards.classes, key=lambda c: float(row[f"probability:{c}"]))
        assert drawn[number] == (positive or {top}), row["input"]


def test_heatmaps_to_an_s3_prefix(trained, shards, s3, s3_endpoint, tmp_path):
    s3.create_bucket(Bucket="explain-out")
    source, = split_sources(shards.root, 1)
    assert main(["predict", "--model", trained.out, str(source), "--format", "json", "--out", str(tmp_path / "p.json"),
                 "--explain", "s3://explain-out/maps", "--explain-classes", "Mass",
                 "--s3-endpoint", s3_endpoint]) == 0
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="explain-out")["Contents"])
    assert keys == ["maps/000000-" + source.stem + "-Mass.png", "maps/heatmaps.csv"]
    body = s3.get_object(Bucket="explain-out", Key=keys[0])["Body"].read()
    assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape[2] == 3


def test_explain_mistakes_are_one_line_exit_2(trained, shards, tmp_path, capsys):
    source, = split_sources(shards.root, 1)
    assert main(["predict", "--model", trained.out, str(source), "--explain", str(tmp_path),
                 "--explain-classes", "Nodule"]) == 2
    err = capsys.readouterr().err
    assert "--explain-classes" in err and "Cardiomegaly" in err and "Traceback" not in err
    assert main(["predict", "--model", trained.out, str(source), "--explain-classes", "all"]) == 2
    assert "only with --explain" in capsys.readouterr().err
    assert main(["predict", "--model", trained.out, str(source), "--output", str(tmp_path / "o"),
                 "--explain", str(tmp_path)]) == 2
    assert "local run" in capsys.readouterr().err
