"""What the trainer reads, decided from a manifest alone (no TensorFlow, no files)."""

from __future__ import annotations

import pytest

from cxrpipe.manifest import Manifest
from cxrpipe.train import sources


def shard(split: str, cls: str, i: int, records: int) -> dict:
    return {"path": f"tfrecords/{split}/{cls.replace(' ', '_')}/{cls}-{split}-{i:05d}-of-00002.tfrecord",
            "split": split, "partition": cls, "records": records, "bytes": 10 * records}


def manifest(kind: str = "run", parameters=None) -> Manifest:
    return Manifest(
        kind=kind, dataset="nih", classes=("Atelectasis", "Effusion", "No Finding"),
        parameters=parameters or {"uncertain": "ignore"}, inputs=8, counts={},
        images={"train": 5, "test": 3}, positives={},
        class_weights={"train": {"Atelectasis": None, "Effusion": 2.5, "No Finding": 1.666667}},
        rejects={"total": 0, "by_reason": {}}, excluded={},
        files=(shard("train", "No Finding", 1, 3), shard("train", "No Finding", 0, 3),
               shard("train", "Effusion", 0, 4), shard("train", "Effusion", 1, 0),
               shard("test", "No Finding", 0, 3), {"path": "index/part-00000.parquet", "records": 9}),
        shard_counts={"train": {"Effusion": {"none": 2, "hflip": 2}, "No Finding": {"none": 3, "hflip": 3}},
                      "test": {"No Finding": {"none": 3}}})


MANIFEST = manifest()


def test_shards_come_from_the_manifest_sorted_and_non_empty():
    assert sources.shard_paths(MANIFEST, "train", "No Finding") == [
        "tfrecords/train/No_Finding/No Finding-train-00000-of-00002.tfrecord",
        "tfrecords/train/No_Finding/No Finding-train-00001-of-00002.tfrecord"]
    assert len(sources.shard_paths(MANIFEST, "train")) == 3   # the empty Effusion shard is skipped
    assert sources.shard_paths(MANIFEST, "val") == []
    assert sources.record_count(MANIFEST, "train") == 10
    assert sources.record_count(MANIFEST, "train", "Effusion") == 4


def test_primary_count_is_images_times_versions():
    assert sources.primary_count(MANIFEST, "train") == 10     # 5 images, original + hflip
    assert sources.primary_count(MANIFEST, "test") == 3
    assert sources.primary_count(MANIFEST, "val") == 0


def test_classes_weights_and_policy():
    assert sources.select_classes(MANIFEST) == ("Effusion", "No Finding")
    assert sources.class_index(MANIFEST, ("No Finding", "Effusion")) == (2, 1)
    with pytest.raises(ValueError, match="Hernia"):
        sources.class_index(MANIFEST, ("Hernia",))
    assert sources.positive_weights(MANIFEST, ("Effusion", "Atelectasis")) == (2.5, 1.0)
    assert sources.uncertain_policy(MANIFEST) == "ignore"
    assert sources.uncertain_policy(manifest("shards", {"preprocess": {"uncertain": "ones"}})) == "ones"
    with pytest.raises(ValueError, match="records no preprocessing option 'uncertain'"):
        sources.uncertain_policy(manifest(parameters={"size": 299}))  # no silent "zeros"
    assert sources.steps(10, 4) == 3 and sources.steps(0, 4) == 1
