"""A folder-per-class dataset on local disk: the layout names the split and the class."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from cxrpipe.cli import main


def test_folders_layout_keeps_its_splits_and_rejects_non_images(spark, tmp_path, capsys):
    raw = tmp_path / "raw"
    assert main(["synth", "--layout", "folders", "--out", str(raw), "--n", "30", "--image-size", "300"]) == 0
    root = raw / "chest_xray"
    sources = {p.relative_to(root).as_posix() for p in root.rglob("*.jpeg")}
    (root / "train/NORMAL/notes.txt").write_text("not a radiograph")
    (root / "train/NORMAL/.DS_Store").write_bytes(b"\x00\x01")  # hidden: not an input at all
    out = tmp_path / "out"
    assert main(["preprocess", "--dataset", "folders", "--images", str(root), "--output", str(out),
                 "--flips", "h", "--max-reject-fraction", "0.1"]) == 0

    rows = [r for p in sorted((out / "index").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    rejects = [r for p in sorted((out / "rejects").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert [(r["image_id"], r["reason"]) for r in rejects] == [("train/NORMAL/notes.txt", "not_an_image")]
    assert {r["image_id"] for r in rows} == sources
    for row in rows:
        split_folder, cls = row["image_id"].split("/")[:2]
        assert row["partition"] == cls
        assert row["split"] == {"train": "train", "val": "val", "test": "test"}[split_folder]
        assert row["augmentation"] in ({"none", "hflip"} if row["split"] == "train" else {"none"})
    manifest = json.loads((out / "_MANIFEST.json").read_text())
    assert manifest["classes"] == ["NORMAL", "PNEUMONIA"]
    assert manifest["inputs"] == len(sources) + 1

    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "PNEUMONIA" in printed and "not_an_image" in printed
