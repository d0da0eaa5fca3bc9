"""`cxrpipe preprocess` end to end: local Spark against the S3 server on 127.0.0.1.

The input is a synthetic NIH dataset from `cxrpipe synth` plus the real DICOM and broken files;
every expectation is computed here from the input, independently of the code under test.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import cv2
import numpy as np
import pytest

from cxrpipe.cli import main
from hostile import bomb_png, png
from s3objects import objects, parquet_rows

FINDINGS = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
            "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
            "Hernia", "No Finding"]
AUGS_TRAIN = {"none", "hflip", "vflip", "hvflip"}


def hostile_inputs(rng) -> dict[str, tuple[bytes | None, str | None]]:
    """file name -> (bytes or None when the object must be missing, expected reject reason)."""
    gray = (rng.random((300, 280)) * 255).astype(np.uint8)
    sixteen = (rng.random((300, 280)) * 4000 + 1000).astype(np.uint16)
    rgb = (rng.random((300, 280, 3)) * 255).astype(np.uint8)
    good = png(gray)
    return {
        "90000001_000.png": (good[: len(good) // 2], "truncated"),
        "90000002_000.png": (b"", "empty"),
        "90000003_000.png": (png(sixteen), None),
        "90000004_000.png": (png(rgb), None),
        "90000005_000.png": (None, "missing"),
        "90000006_000.png": (bomb_png(30000, 30000), "too_many_pixels"),
    }


@pytest.fixture(scope="module")
def nih_run(s3, s3_endpoint, spark, tmp_path_factory):
    bucket = "cxr-preprocess-test"
    s3.create_bucket(Bucket=bucket)
    raw, out = f"s3://{bucket}/raw", f"s3://{bucket}/out"
    assert main(["synth", "--layout", "nih", "--out", raw, "--n", "40", "--image-size", "256",
                 "--with-dicom", "--s3-endpoint", s3_endpoint]) == 0
    index_text = s3.get_object(Bucket=bucket, Key="raw/Data_Entry_2017.csv")["Body"].read().decode()
    hostile = hostile_inputs(np.random.default_rng(7))
    for offset, (name, (data, _)) in enumerate(sorted(hostile.items())):
        if data is not None:
            s3.put_object(Bucket=bucket, Key=f"raw/images/{name}", Body=data)
        index_text += f"{name},Mass|Nodule,0,{90000001 + offset},040Y,M,PA,280,300,0.143,0.143\n"
    s3.put_object(Bucket=bucket, Key="raw/Data_Entry_2017.csv", Body=index_text.encode())
    argv = ["preprocess", "--dataset", "nih", "--index", f"{raw}/Data_Entry_2017.csv",
            "--images", f"{raw}/images", "--output", out, "--s3-endpoint", s3_endpoint,
            "--max-reject-fraction", "0.2", "--images-per-task", "16"]
    assert main(argv) == 0
    return {"bucket": bucket, "index_text": index_text, "hostile": hostile, "argv": argv,
            "raw_images": {k: v for k, v in objects(s3, bucket, "raw/images/").items()}}


def _expected_labels(index_text: str) -> dict[str, tuple[str, set[str]]]:
    """image id -> (patient, positive classes), parsed here with the csv module."""
    reader = csv.reader(io.StringIO(index_text))
    header = next(reader)
    assert header[0] == "Image Index" and header[-1] == ""  # the real file's trailing comma
    return {row[0]: (row[3], set(row[1].split("|"))) for row in reader if row}


def test_every_input_is_written_or_rejected_with_its_reason(nih_run, s3):
    expected = _expected_labels(nih_run["index_text"])
    written = {r["image_id"] for r in parquet_rows(s3, nih_run["bucket"], "out/index/")}
    rejects = {r["image_id"]: r["reason"] for r in parquet_rows(s3, nih_run["bucket"], "out/rejects/")}
    want_rejects = {name: reason for name, (_, reason) in nih_run["hostile"].items() if reason}
    assert rejects == want_rejects
    assert written == set(expected) - set(want_rejects)
    assert "RG1_UNCR.dcm" in written and {"90000003_000.png", "90000004_000.png"} <= written


def test_counts_per_split_class_augmentation_match_the_input(nih_run, s3):
    expected = _expected_labels(nih_run["index_text"])
    rows = parquet_rows(s3, nih_run["bucket"], "out/index/")
    split_of = {r["image_id"]: r["split"] for r in rows}
    want = Counter()
    for image_id, split in split_of.items():
        augs = AUGS_TRAIN if split == "train" else {"none"}
        for cls in expected[image_id][1]:
            for aug in augs:
                want[(split, cls, aug)] += 1
    got = Counter((r["split"], r["partition"], r["augmentation"]) for r in rows)
    assert got == want
    manifest = json.loads(s3.get_object(Bucket=nih_run["bucket"], Key="out/_MANIFEST.json")["Body"].read())
    flat = Counter({(s, c, a): n for s, per_c in manifest["counts"].items()
                    for c, per_a in per_c.items() for a, n in per_a.items()})
    assert flat == want
    assert manifest["inputs"] == len(expected)
    assert manifest["rejects"]["total"] == 4


def test_labels_primary_copies_and_patients(nih_run, s3):
    expected = _expected_labels(nih_run["index_text"])
    rows = parquet_rows(s3, nih_run["bucket"], "out/index/")
    for row in rows:
        positives = {FINDINGS[i] for i, v in enumerate(row["multi_hot"]) if v}
        assert positives == expected[row["image_id"]][1], row["image_id"]
        assert row["patient_id"] == expected[row["image_id"]][0]
    primaries = Counter((r["image_id"], r["augmentation"]) for r in rows if r["primary"])
    versions = {(r["image_id"], r["augmentation"]) for r in rows}
    assert set(primaries) == versions and set(primaries.values()) == {1}
    splits_of_patient: dict[str, set] = {}
    for row in rows:
        splits_of_patient.setdefault(row["patient_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits_of_patient.values())


def test_jpegs_are_clahe_of_the_resized_source_and_flips_mirror_it(nih_run, s3):
    rows = [r for r in parquet_rows(s3, nih_run["bucket"], "out/index/") if r["split"] == "train"]
    sources = nih_run["raw_images"]
    checked = 0
    for row in rows:
        synthetic = row["source"].endswith(".png") and row["source"] not in nih_run["hostile"]
        if row["augmentation"] != "none" or not row["primary"] or not synthetic:
            continue
        src = cv2.imdecode(np.frombuffer(sources[row["source"]], np.uint8), cv2.IMREAD_GRAYSCALE)
        reference = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(
            cv2.resize(src, (299, 299), interpolation=cv2.INTER_AREA))
        stem = row["path"][: -len(".jpg")]
        got = {aug: _decode(s3, nih_run["bucket"], f"out/{stem}{suffix}.jpg")
               for aug, suffix in {"none": "", "hflip": "_hflip", "vflip": "_vflip", "hvflip": "_hvflip"}.items()}
        assert got["none"].shape == (299, 299) and got["none"].dtype == np.uint8
        assert np.abs(got["none"].astype(float) - reference).mean() < 1.5
        for aug, mirrored in {"hflip": reference[:, ::-1], "vflip": reference[::-1, :],
                              "hvflip": reference[::-1, ::-1]}.items():
            assert np.abs(got[aug].astype(float) - mirrored).mean() < 1.5, aug
        checked += 1
    assert checked >= 3


def _decode(s3, bucket: str, key: str) -> np.ndarray:
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.ndim == 2, key  # a gray JPEG: one channel
    return img


def test_real_dicom_is_inverted_monochrome1(nih_run, s3):
    row = next(r for r in parquet_rows(s3, nih_run["bucket"], "out/index/")
               if r["image_id"] == "RG1_UNCR.dcm" and r["augmentation"] == "none")
    assert (row["source_format"], row["source_width"], row["source_height"]) == ("dicom", 1841, 1955)
    img = _decode(s3, nih_run["bucket"], f"out/{row['path']}")
    # MONOCHROME1 shown the right way round: the lungs (upper middle) darker than the body edge.
    lungs = img[90:180, 60:120].mean()
    assert lungs < img[250:299, :].mean()


def test_verify_passes_and_catches_a_flipped_byte(nih_run, s3, s3_endpoint, capsys):
    bucket = nih_run["bucket"]
    assert main(["verify", f"s3://{bucket}/out", "--s3-endpoint", s3_endpoint]) == 0
    key = next(k for k in objects(s3, bucket, "out/images/train/"))
    data = bytearray(s3.get_object(Bucket=bucket, Key=f"out/images/train/{key}")["Body"].read())
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=f"out/images/train/{key}", Body=bytes(data))
    try:
        assert main(["verify", f"s3://{bucket}/out", "--s3-endpoint", s3_endpoint]) == 1
        assert key in capsys.readouterr().out
    finally:
        data[len(data) // 2] ^= 0xFF
        s3.put_object(Bucket=bucket, Key=f"out/images/train/{key}", Body=bytes(data))


def test_too_many_rejects_fail_the_job_without_a_manifest(nih_run, s3, s3_endpoint, capsys):
    argv = list(nih_run["argv"])
    argv[argv.index("--output") + 1] = f"s3://{nih_run['bucket']}/strict"
    argv[argv.index("--max-reject-fraction") + 1] = "0.01"
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "--max-reject-fraction" in err and "truncated: 1" in err
    assert "strict/_MANIFEST.json" not in objects(s3, nih_run["bucket"], "").keys()


def test_rerun_gives_byte_identical_outputs(nih_run, s3):
    before = objects(s3, nih_run["bucket"], "out/")
    assert main(nih_run["argv"]) == 0
    assert objects(s3, nih_run["bucket"], "out/") == before


def test_missing_bucket_is_one_clear_line(s3_endpoint, capsys):
    code = main(["preprocess", "--dataset", "nih", "--index", "s3://no-such-bucket/x.csv",
                 "--images", "s3://no-such-bucket/images", "--output", "s3://no-such-bucket/out",
                 "--s3-endpoint", s3_endpoint])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no-such-bucket" in err and "does not exist" in err
    assert "\n" not in err and "Traceback" not in err
