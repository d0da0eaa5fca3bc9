"""The layouts people bring, end to end through `cxrpipe run` on local Spark and the S3 server:
CheXpert with its valid.csv as an official split (gzip, BOM, CRLF), MIMIC-CXR-JPG as PhysioNet
ships it, and a hospital-style table. Expectations are computed here from the input files with
the csv module, never with the code under test."""

from __future__ import annotations

import csv
import gzip
import io
import json

import pytest

from cxrpipe.cli import main
from s3objects import objects, parquet_rows
from tfread import tf_records

BUCKET = "cxr-real-layouts"
CHEXPERT = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion",
            "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
            "Pleural Other", "Fracture", "Support Devices"]


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def positives(row: dict, classes, uncertain_as: str = "0") -> set[str]:
    return {c for c in classes if row[c].strip() in ("1", "1.0") or
            (uncertain_as == "1" and row[c].strip() in ("-1", "-1.0"))}


@pytest.fixture(scope="module")
def bucket(s3):
    s3.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture(scope="module")
def chexpert(s3, s3_endpoint, spark, bucket):
    """Synthetic CheXpert-small; valid.csv given two all-0.0 rows (as 9 of the real 234 are)
    and saved with a BOM and CRLF; train.csv gzip-compressed."""
    ep = ["--s3-endpoint", s3_endpoint]
    raw = f"s3://{bucket}/chexpert-raw"
    assert main(["synth", "--layout", "chexpert", "--out", raw, "--n", "60", "--image-size", "64", *ep]) == 0
    get = lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    train = get("chexpert-raw/CheXpert-v1.0-small/train.csv")
    valid_lines = get("chexpert-raw/CheXpert-v1.0-small/valid.csv").splitlines()
    for i in (1, 2):
        fields = valid_lines[i].split(",")
        valid_lines[i] = ",".join(fields[:5] + ["0.0"] * 14)
    valid = "\ufeff" + "\r\n".join(valid_lines) + "\r\n"
    s3.put_object(Bucket=bucket, Key="chexpert-raw/train.csv.gz", Body=gzip.compress(train.encode()))
    s3.put_object(Bucket=bucket, Key="chexpert-raw/valid-excel.csv", Body=valid.encode())
    out = f"s3://{bucket}/chexpert-out"
    assert main(["run", "--dataset", "chexpert", "--index", f"{raw}/train.csv.gz",
                 "--valid-index", f"{raw}/valid-excel.csv", "--valid-as", "test", "--images", raw,
                 "--output", out, "--uncertain", "ignore", "--flips", "h", "--num-shards", "2", *ep]) == 0
    return {"ep": ep, "out": out, "train": rows_of(train), "valid": rows_of(valid),
            "manifest": json.loads(get("chexpert-out/_MANIFEST.json"))}


def test_chexpert_valid_csv_is_the_test_split_and_train_csv_never_is(chexpert, s3, bucket):
    split_of = {r["image_id"]: r["split"] for r in parquet_rows(s3, bucket, "chexpert-out/index/")}
    valid = {r["Path"] for r in chexpert["valid"]}
    assert {split_of[p] for p in valid} == {"test"}
    assert {split_of[r["Path"]] for r in chexpert["train"]} <= {"train", "val"}
    assert len(split_of) == len(chexpert["train"]) + len(chexpert["valid"])


def test_chexpert_no_label_is_invented(chexpert, s3, bucket, tmp_path):
    rows = {r["Path"]: r for r in chexpert["train"] + chexpert["valid"]}
    index = parquet_rows(s3, bucket, "chexpert-out/index/")
    unlabeled = {p for p, r in rows.items() if not positives(r, CHEXPERT)}
    assert len(unlabeled) >= 2
    for row in index:
        source = rows[row["image_id"]]
        want = positives(source, CHEXPERT)
        assert row["multi_hot"] == [int(c in want) for c in CHEXPERT]
        assert row["uncertain"] == [int(source[c].strip() in ("-1", "-1.0")) for c in CHEXPERT]
        assert row["partition"] in (want or {"Unlabeled"})
    assert {r["image_id"] for r in index if r["partition"] == "Unlabeled"} == unlabeled
    manifest = chexpert["manifest"]
    assert manifest["classes"] == CHEXPERT
    assert all("Unlabeled" not in weights for weights in manifest["class_weights"].values())
    assert "Unlabeled" in manifest["counts"]["test"]
    shards = objects(s3, bucket, "chexpert-out/tfrecords/test/Unlabeled/")
    assert sorted(shards) == ["Unlabeled-test-00000-of-00002.tfrecord", "Unlabeled-test-00001-of-00002.tfrecord"]
    records = tf_records(tmp_path, shards, len(CHEXPERT))
    assert {r["id"] for r in records} == {p for p in unlabeled if p in {v["Path"] for v in chexpert["valid"]}}
    assert all(r["primary"] == 1 and r["labels"] == [] and r["multi_hot"] == [0] * 14 for r in records)


def test_unlabeled_is_selectable_by_shards_and_verify_passes(chexpert, s3, bucket, capsys, tmp_path):
    out = f"s3://{bucket}/chexpert-unlabeled"
    assert main(["shards", "--input", chexpert["out"], "--output", out, "--classes", "Unlabeled",
                 "--num-shards", "1", *chexpert["ep"]]) == 0
    files = objects(s3, bucket, "chexpert-unlabeled/tfrecords/")
    assert {name.split("/")[1] for name in files} == {"Unlabeled"}
    records = tf_records(tmp_path, files, len(CHEXPERT))
    index = parquet_rows(s3, bucket, "chexpert-out/index/")
    assert sorted((r["id"], r["aug"]) for r in records) == sorted(
        (r["image_id"], r["augmentation"]) for r in index if r["partition"] == "Unlabeled")
    capsys.readouterr()
    assert main(["verify", out, *chexpert["ep"]]) == 0
    assert main(["verify", chexpert["out"], *chexpert["ep"]]) == 0
    assert main(["inspect", chexpert["out"], *chexpert["ep"]]) == 0
    assert "Unlabeled" in capsys.readouterr().out


def test_class_names_are_compared_one_way_with_a_hint(chexpert, capsys):
    code = main(["shards", "--input", chexpert["out"], "--output", f"s3://{BUCKET}/never",
                 "--classes", "No_Finding", *chexpert["ep"]])
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'No Finding'?" in err and len(err.splitlines()) == 1


@pytest.fixture(scope="module")
def table(s3, s3_endpoint, spark, bucket):
    """A hospital-style export over the synthetic NIH images: its own column names, one column
    per class valued 1/0/-1/blank, a split column that fixes some patients."""
    ep = ["--s3-endpoint", s3_endpoint]
    raw = f"s3://{bucket}/table-raw"
    assert main(["synth", "--layout", "nih", "--out", raw, "--n", "30", "--image-size", "64", *ep]) == 0
    nih = rows_of(s3.get_object(Bucket=bucket, Key="table-raw/Data_Entry_2017.csv")["Body"].read().decode())
    spellings = {0: "1", 1: "", 2: "-1", 3: "0"}
    export = io.StringIO()
    writer = csv.writer(export, lineterminator="\r\n")
    writer.writerow(["Accession", "file", "MRN", "projection", "fold", "Effusion", "Mass"])
    for i, row in enumerate(nih):
        found = row["Finding Labels"].split("|")
        values = [spellings[i % 4] if c in found else "" for c in ("Effusion", "Mass")]
        fold = {0: "train", 1: "Test"}.get(int(row["Patient ID"]) % 3, "")
        writer.writerow([f"A{i}", f"images/{row['Image Index']}", row["Patient ID"], row["View Position"],
                         fold, *values])
    s3.put_object(Bucket=bucket, Key="table-raw/export.csv", Body=export.getvalue().encode())
    out = f"s3://{bucket}/table-out"
    assert main(["run", "--dataset", "table", "--index", f"{raw}/export.csv", "--images", raw,
                 "--path-column", "file", "--patient-column", "MRN", "--view-column", "projection",
                 "--split-column", "fold", "--label-columns", "Effusion,Mass", "--flips", "none",
                 "--output", out, "--num-shards", "1", *ep]) == 0
    return {"rows": rows_of(export.getvalue()), "out": out, "ep": ep,
            "manifest": json.loads(s3.get_object(Bucket=bucket, Key="table-out/_MANIFEST.json")["Body"].read())}


def test_table_layout_reads_the_named_columns(table, s3, bucket, tmp_path):
    index = parquet_rows(s3, bucket, "table-out/index/")
    assert table["manifest"]["classes"] == ["Effusion", "Mass"]
    by_id = {}
    for row in index:
        by_id.setdefault(row["image_id"], []).append(row)
    assert set(by_id) == {r["file"] for r in table["rows"]}
    for source in table["rows"]:
        written = by_id[source["file"]]
        want = {c for c in ("Effusion", "Mass") if source[c] == "1"}
        assert {w["partition"] for w in written} == (want or {"Unlabeled"})
        assert written[0]["multi_hot"] == [int(c in want) for c in ("Effusion", "Mass")]
        assert written[0]["uncertain"] == [int(source[c] == "-1") for c in ("Effusion", "Mass")]
        assert written[0]["patient_id"] == source["MRN"] and written[0]["view"] == source["projection"]
        if source["fold"]:
            assert written[0]["split"] == source["fold"].lower()
    splits = {(r["patient_id"], r["split"]) for r in index}
    assert len({p for p, _ in splits}) == len(splits)
    records = tf_records(tmp_path, objects(s3, bucket, "table-out/tfrecords/"), 2)
    assert sorted(r["id"] for r in records if r["primary"]) == sorted(by_id)


@pytest.fixture(scope="module")
def mimic(s3, s3_endpoint, spark, bucket):
    """Synthetic MIMIC-CXR-JPG in PhysioNet's layout; labels and split found beside the index."""
    ep = ["--s3-endpoint", s3_endpoint]
    raw = f"s3://{bucket}/mimic-raw"
    assert main(["synth", "--layout", "mimic", "--out", raw, "--n", "60", "--image-size", "96", *ep]) == 0
    files = {name: gzip.decompress(s3.get_object(Bucket=bucket, Key=f"mimic-raw/mimic-cxr-2.0.0-{name}.csv.gz")
                                   ["Body"].read()).decode() for name in ("metadata", "chexpert", "split")}
    out = f"s3://{bucket}/mimic-out"
    assert main(["run", "--dataset", "mimic", "--index", f"{raw}/mimic-cxr-2.0.0-metadata.csv.gz",
                 "--images", raw, "--output", out, "--views", "frontal", "--num-shards", "1",
                 "--flips", "h", *ep]) == 0
    return {"out": out, "ep": ep, **{name: rows_of(text) for name, text in files.items()},
            "manifest": json.loads(s3.get_object(Bucket=bucket, Key="mimic-out/_MANIFEST.json")["Body"].read())}


def test_mimic_layout_end_to_end(mimic, s3, bucket, tmp_path, capsys):
    classes = mimic["manifest"]["classes"]
    assert classes == sorted(CHEXPERT)
    labels = {(r["subject_id"], r["study_id"]): r for r in mimic["chexpert"]}
    split_of = {r["dicom_id"]: {"validate": "val"}.get(r["split"], r["split"]) for r in mimic["split"]}
    frontal = {r["dicom_id"]: r for r in mimic["metadata"] if r["ViewPosition"] in ("PA", "AP")}
    index = [r for r in parquet_rows(s3, bucket, "mimic-out/index/") if r["augmentation"] == "none"]
    assert {r["image_id"] for r in index} == set(frontal)
    for row in index:
        meta = frontal[row["image_id"]]
        assert row["source"] == (f"files/p{meta['subject_id'][:2]}/p{meta['subject_id']}/"
                                 f"s{meta['study_id']}/{meta['dicom_id']}.jpg")
        assert row["split"] == split_of[row["image_id"]] and row["patient_id"] == meta["subject_id"]
        study = labels.get((meta["subject_id"], meta["study_id"]))
        want = positives(study, classes) if study else set()
        assert row["multi_hot"] == [int(c in want) for c in classes]
        assert row["partition"] in (want or {"Unlabeled"})
    lateral = sum(1 for r in mimic["metadata"] if r["ViewPosition"] and r["ViewPosition"] not in ("PA", "AP"))
    blank = sum(1 for r in mimic["metadata"] if not r["ViewPosition"])
    assert mimic["manifest"]["excluded"] == {k: v for k, v in
                                             {"lateral_view": lateral, "unknown_view": blank}.items() if v}
    records = tf_records(tmp_path, objects(s3, bucket, "mimic-out/tfrecords/"), len(classes))
    assert sorted(r["id"] for r in records if r["primary"] and r["aug"] == "none") == sorted(frontal)
    assert main(["verify", mimic["out"], *mimic["ep"]]) == 0


def test_a_selection_without_images_fails_before_the_output_changes(chexpert, s3, bucket, capsys):
    out = f"s3://{bucket}/chexpert-unlabeled"   # a finished shard dataset from the test above
    before = s3.get_object(Bucket=bucket, Key="chexpert-unlabeled/_MANIFEST.json")["Body"].read()
    counts = chexpert["manifest"]["counts"]
    absent = next(c for c in CHEXPERT + ["Unlabeled"] if c not in counts.get("val", {}))
    code = main(["shards", "--input", chexpert["out"], "--output", out, "--classes", absent,
                 "--splits", "val", *chexpert["ep"]])
    err = capsys.readouterr().err
    assert code == 2 and f"no image matches --classes {absent} and --splits val" in err
    assert s3.get_object(Bucket=bucket, Key="chexpert-unlabeled/_MANIFEST.json")["Body"].read() == before
