"""`cxrpipe shards`, `run` and `verify` against the S3 server, read back by TensorFlow's reader."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest

import s3objects
from tfread import tf_records
from cxrpipe.cli import main
from cxrpipe.tfrecord import decode_example, iter_records

BUCKET = "cxr-shards-test"
NIH = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
       "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
       "Hernia", "No Finding"]


@pytest.fixture(scope="module")
def dataset(s3, s3_endpoint, spark):
    """A synthetic NIH set, preprocessed twice with different task layouts."""
    s3.create_bucket(Bucket=BUCKET)
    ep = ["--s3-endpoint", s3_endpoint]
    raw = f"s3://{BUCKET}/raw"
    assert main(["synth", "--layout", "nih", "--out", raw, "--n", "80", "--image-size", "128", *ep]) == 0
    common = ["--dataset", "nih", "--index", f"{raw}/Data_Entry_2017.csv", "--images", f"{raw}/images", *ep]
    assert main(["preprocess", *common, "--output", f"s3://{BUCKET}/pre", "--images-per-task", "64"]) == 0
    assert main(["preprocess", *common, "--output", f"s3://{BUCKET}/pre7", "--images-per-task", "7"]) == 0
    text = s3.get_object(Bucket=BUCKET, Key="raw/Data_Entry_2017.csv")["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(text)))[1:]
    labels = {r[0]: set(r[1].split("|")) for r in rows if r}
    return {"ep": ep, "common": common, "labels": labels}


def objects(s3, prefix: str) -> dict[str, bytes]:
    return s3objects.objects(s3, BUCKET, prefix)


def test_class_filter_writes_exactly_the_requested_partitions(dataset, s3, tmp_path):
    out = f"s3://{BUCKET}/two-classes"
    assert main(["shards", "--input", f"s3://{BUCKET}/pre", "--output", out, "--classes",
                 "Effusion,No Finding", "--num-shards", "3", "--shard-seed", "5", *dataset["ep"]]) == 0
    files = {k: v for k, v in objects(s3, "two-classes/").items() if k.startswith("tfrecords/")}
    partitions = {tuple(k.split("/")[1:3]) for k in files}
    assert {p for _, p in partitions} == {"Effusion", "No_Finding"}
    for split, cls in partitions:  # all N files, empty ones included
        names = sorted(k.rsplit("/", 1)[1] for k in files if k.startswith(f"tfrecords/{split}/{cls}/"))
        assert names == [f"{cls}-{split}-{i:05d}-of-00003.tfrecord" for i in range(3)]
    records = tf_records(tmp_path, files, len(NIH))
    want = {i for i, labs in dataset["labels"].items() if labs & {"Effusion", "No Finding"}}
    assert {r["id"] for r in records} == want
    for r in records:
        assert r["shape"] == (299, 299, 1)
        assert {NIH[i] for i in r["labels"]} == dataset["labels"][r["id"]]
        assert r["multi_hot"] == [int(c in dataset["labels"][r["id"]]) for c in NIH]
        assert r["partition"] in dataset["labels"][r["id"]]
    versions = Counter((r["id"], r["aug"]) for r in records if r["primary"])
    assert set(versions) == {(r["id"], r["aug"]) for r in records} and set(versions.values()) == {1}
    assert_seeded_placement(files, shards=3, seed=5)
    assert main(["verify", out, *dataset["ep"]]) == 0


def assert_seeded_placement(files: dict[str, bytes], shards: int, seed: int) -> None:
    """DESIGN.md's promise, recomputed here: a record's place follows from (seed, image id,
    augmentation) alone. Its order key is SHA-256 of "seed:order:id:aug" (first 16 bytes);
    records sit in key order, and the key's first 8 bytes times n, over 2^64, is the shard."""
    for name, data in files.items():
        index = int(name.rsplit("-of-", 1)[0].rsplit("-", 1)[1])
        keys = [hashlib.sha256(f"{seed}:order:{e['image/id'][0].decode()}:"
                               f"{e['image/augmentation'][0].decode()}".encode()).digest()[:16]
                for e in map(decode_example, iter_records(data))]
        assert all(int.from_bytes(k[:8], "big") * shards >> 64 == index for k in keys), name
        assert keys == sorted(keys), name


def test_exclusive_membership_keeps_only_pure_images(dataset, s3, tmp_path):
    out = f"s3://{BUCKET}/exclusive"
    assert main(["shards", "--input", f"s3://{BUCKET}/pre", "--output", out, "--membership", "exclusive",
                 "--splits", "train", *dataset["ep"]]) == 0
    records = tf_records(tmp_path, objects(s3, "exclusive/tfrecords/"), len(NIH))
    pure = {i: next(iter(labs)) for i, labs in dataset["labels"].items() if len(labs) == 1}
    got = {(r["id"], r["partition"]) for r in records}
    assert {i for i, _ in got} <= set(pure)
    assert all(pure[i] == p for i, p in got)
    assert {r["split"] for r in records} == {"train"}
    assert any(len(labs) > 1 for labs in dataset["labels"].values())  # the filter had work to do


def test_shards_repeat_byte_for_byte_whatever_the_task_layout(dataset, s3):
    args = ["--shard-mb", "0.5", *dataset["ep"]]
    assert main(["shards", "--input", f"s3://{BUCKET}/pre", "--output", f"s3://{BUCKET}/a", *args]) == 0
    assert main(["shards", "--input", f"s3://{BUCKET}/pre7", "--output", f"s3://{BUCKET}/b", *args]) == 0
    first = objects(s3, "a/")
    shards = {k: v for k, v in first.items() if k.startswith("tfrecords/")}
    assert len(shards) > len(NIH)  # --shard-mb split partitions into several shards
    assert shards == {f"tfrecords/{k}": v for k, v in objects(s3, "b/tfrecords/").items()}
    assert main(["shards", "--input", f"s3://{BUCKET}/pre", "--output", f"s3://{BUCKET}/a", *args]) == 0
    assert objects(s3, "a/") == first  # a rerun rewrites the same bytes, manifest included


def test_run_equals_preprocess_then_shards(dataset, s3):
    assert main(["run", *dataset["common"], "--output", f"s3://{BUCKET}/run", "--images-per-task", "64",
                 "--num-shards", "2"]) == 0
    assert main(["shards", "--input", f"s3://{BUCKET}/pre", "--output", f"s3://{BUCKET}/two",
                 "--num-shards", "2", *dataset["ep"]]) == 0
    run = objects(s3, "run/")
    run_shards = {k[len("tfrecords/"):]: v for k, v in run.items() if k.startswith("tfrecords/")}
    assert run_shards and run_shards == objects(s3, "two/tfrecords/")
    pre = objects(s3, "pre/")
    assert {k: v for k, v in run.items() if k.startswith(("images/", "index/", "rejects/"))} == \
        {k: v for k, v in pre.items() if k not in ("_MANIFEST.json", "_manifests/v000001.json")}
    manifest = json.loads(run["_MANIFEST.json"])
    assert manifest["kind"] == "run" and manifest["shard_counts"] and manifest["version"] == 1
    assert run["_manifests/v000001.json"] == run["_MANIFEST.json"]  # the version, then the current one
    assert set(run) == {f["path"] for f in manifest["files"]} | {"_MANIFEST.json", "_manifests/v000001.json"} | \
        {k for k in run if k.startswith("images/")}  # the piece files are gone
    assert main(["verify", f"s3://{BUCKET}/run", *dataset["ep"]]) == 0


@pytest.mark.parametrize("damage", ["flip", "missing", "truncate"])
def test_verify_catches_damaged_shards(dataset, s3, capsys, damage):
    out = f"s3://{BUCKET}/damaged-{damage}"
    assert main(["shards", "--input", f"s3://{BUCKET}/pre", "--output", out, "--num-shards", "1",
                 *dataset["ep"]]) == 0
    key = next(k for k, v in objects(s3, f"damaged-{damage}/tfrecords/train/").items() if v)
    full = f"damaged-{damage}/tfrecords/train/{key}"
    data = s3.get_object(Bucket=BUCKET, Key=full)["Body"].read()
    if damage == "flip":
        s3.put_object(Bucket=BUCKET, Key=full, Body=data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "missing":
        s3.delete_object(Bucket=BUCKET, Key=full)
    else:
        s3.put_object(Bucket=BUCKET, Key=full, Body=data[: len(data) // 2])
    capsys.readouterr()
    assert main(["verify", out, *dataset["ep"]]) == 1
    assert key in capsys.readouterr().out


def test_unknown_class_fails_at_once_with_the_valid_names(dataset, capsys):
    code = main(["shards", "--input", f"s3://{BUCKET}/pre", "--output", f"s3://{BUCKET}/x",
                 "--classes", "Efusion", *dataset["ep"]])
    err = capsys.readouterr().err
    assert code == 2 and "Efusion" in err and "Effusion" in err and "Traceback" not in err


def test_index_parts_list_every_jpeg_once(dataset, s3):
    rows = []
    for data in objects(s3, "pre/index/").values():
        rows.extend(pq.read_table(io.BytesIO(data)).to_pylist())
    jpegs = {k for k in objects(s3, "pre/images/")}
    assert sorted(f"{r['path'][len('images/'):]}" for r in rows) == sorted(jpegs)
    assert np.all([r["height"] == 299 for r in rows])
