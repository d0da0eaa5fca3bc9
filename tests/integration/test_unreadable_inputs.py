"""An input that exists but cannot be read is a `read_error` reject with its cause, never a
failed job: a rerun could not fix it (issue: one unreadable input killed the whole job)."""

from __future__ import annotations

import json

from cxrpipe.cli import main
from s3objects import parquet_rows

BUCKET = "cxr-unreadable"


def test_archived_s3_objects_are_read_error_rejects(s3, s3_endpoint, spark):
    s3.create_bucket(Bucket=BUCKET)
    ep = ["--s3-endpoint", s3_endpoint]
    raw = f"s3://{BUCKET}/raw"
    assert main(["synth", "--layout", "nih", "--out", raw, "--n", "12", "--image-size", "64", *ep]) == 0
    archived = {"00000001_000.png": "GLACIER", "00000002_000.png": "DEEP_ARCHIVE"}
    for name, storage_class in archived.items():
        key = f"raw/images/{name}"
        data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        s3.put_object(Bucket=BUCKET, Key=key, Body=data, StorageClass=storage_class)
    out = f"s3://{BUCKET}/out"
    assert main(["preprocess", "--dataset", "nih", "--index", f"{raw}/Data_Entry_2017.csv",
                 "--images", f"{raw}/images", "--output", out, "--max-reject-fraction", "0.5", *ep]) == 0
    rejects = {r["image_id"]: r for r in parquet_rows(s3, BUCKET, "out/rejects/")}
    assert set(rejects) == set(archived)
    for row in rejects.values():
        assert row["reason"] == "read_error"
        assert "archive storage class" in row["detail"] and "InvalidObjectState" in row["detail"]
    written = {r["image_id"] for r in parquet_rows(s3, BUCKET, "out/index/")}
    assert len(written) == 10 and not written & set(archived)


def test_index_rows_naming_directories_are_read_error_rejects(spark, tmp_path):
    raw = tmp_path / "raw"
    assert main(["synth", "--layout", "nih", "--out", str(raw), "--n", "10", "--image-size", "64"]) == 0
    (raw / "images" / "folder.png").mkdir()
    index = raw / "Data_Entry_2017.csv"
    with index.open("a") as f:
        f.write("folder.png,Mass,0,900,040Y,M,PA,1,1,0.1,0.1\n.,Mass,0,901,040Y,M,PA,1,1,0.1,0.1\n")
    out = tmp_path / "out"
    assert main(["preprocess", "--dataset", "nih", "--index", str(index), "--images", str(raw / "images"),
                 "--output", str(out), "--max-reject-fraction", "0.5"]) == 0
    import pyarrow.parquet as pq

    rejects = {r["image_id"]: r for p in (out / "rejects").glob("*.parquet") for r in pq.read_table(p).to_pylist()}
    assert {i: r["reason"] for i, r in rejects.items()} == {"folder.png": "read_error", ".": "read_error"}
    assert "Is a directory" in rejects["folder.png"]["detail"]
    manifest = json.loads((out / "_MANIFEST.json").read_text())
    assert manifest["rejects"]["by_reason"] == {"read_error": 2} and manifest["inputs"] == 12
