"""The pure decisions about versions: numbering, what must retract the current manifest, when
a rerun is no new version, what gc keeps and deletes, and what changed between two indexes."""

from __future__ import annotations

import dataclasses

import pytest

from cxrpipe import layout, versions
from cxrpipe.manifest import build_manifest

CLASSES = ("Mass", "Nodule")


def made(version=None, size=64, files=("index/part-00000.parquet",)):
    built = build_manifest(kind="preprocess", dataset="nih", classes=CLASSES, parameters={"size": size, "flips": []},
                           inputs=1, counts={}, images={"train": 1}, positives={"train": [1, 0]}, rejects={},
                           excluded={}, files=[{"path": p, "bytes": 1, "sha256": "x"} for p in files])
    return dataclasses.replace(built, version=version)


def test_version_paths_are_built_and_parsed_back():
    assert layout.manifest_version_path(12) == "_manifests/v000012.json"
    assert layout.parse_manifest_version("_manifests/v000012.json") == 12
    with pytest.raises(ValueError, match="vNNNNNN"):
        layout.parse_manifest_version("_manifests/v12.json")
    assert layout.table_part("index", 3) == "index/part-00003.parquet"   # version 1: where it always was
    assert layout.table_part("index", 3, 2) == "index/v000002/part-00003.parquet"
    assert layout.parse_table_part("rejects/v000002/part-00003.parquet") == ("rejects", 3)
    shard = layout.shard_path("train", "Mass", 0, 1, 4)
    assert shard == "tfrecords/v000004/train/Mass/Mass-train-00000-of-00001.tfrecord"
    assert layout.parse_shard_path(shard) == layout.ShardName("train", "Mass", 0, 1)


def test_next_version_follows_the_newest_file_or_the_current_manifest():
    assert versions.next_version([], None) == 1
    assert versions.next_version([1, 2, 5], made(version=3)) == 6   # 5 was written, never made current
    assert versions.next_version([], made()) == 2                   # a root from before versions is 1


def test_only_other_rendering_options_retract_the_current_manifest():
    current = made()
    assert not versions.rewrites_images(None, {"size": 32})
    assert not versions.rewrites_images(current, {**current.parameters})
    assert versions.rewrites_images(current, {**current.parameters, "size": 32})


def test_a_rerun_with_the_same_files_under_a_new_version_folder_is_the_same_content():
    current = made(version=1)
    again = made(version=2, files=("index/v000002/part-00000.parquet",))
    assert versions.same_content(current, again)
    assert not versions.same_content(current, made(version=2, files=("index/v000002/part-00001.parquet",)))
    assert not versions.same_content(None, again)


def test_gc_keeps_the_newest_and_the_current_and_deletes_only_data_files():
    assert versions.kept_versions([1, 2, 3, 4], 2, 1) == ([2, 4], [1, 3])
    with pytest.raises(ValueError, match="--keep"):
        versions.kept_versions([1], 1, 0)
    keys = ["_MANIFEST.json", "_LEASE.json", "_pieces/part-00000.bin", "notes.txt", "_manifests/v000001.json",
            "_manifests/v000002.json", "index/part-00000.parquet", "index/v000002/part-00000.parquet",
            "images/train/Mass/a.jpg", "images/train/Mass/b.jpg"]
    listed = {"index/v000002/part-00000.parquet", "images/train/Mass/b.jpg"}
    assert versions.gc_deletions(keys, listed, [1]) == [
        "_manifests/v000001.json", "images/train/Mass/a.jpg", "index/part-00000.parquet"]


def row(image_id, split, bits, augmentation="none", primary=True):
    return {"image_id": image_id, "split": split, "multi_hot": bits, "augmentation": augmentation, "primary": primary}


def test_diff_counts_added_removed_relabelled_and_moved_per_split_and_class():
    old = versions.image_rows([row("a", "train", [1, 0]), row("b", "train", [0, 1]), row("c", "val", [1, 0]),
                               row("d", "train", [0, 0]), row("a", "train", [1, 0], "hflip")], CLASSES)
    new = versions.image_rows([row("a", "train", [1, 0]), row("b", "train", [1, 1]), row("c", "test", [1, 0]),
                               row("e", "val", [0, 1]), row("e", "val", [0, 1], primary=False)], CLASSES)
    diff = versions.diff_images(old, new)
    assert diff.totals == {"relabelled": 1, "removed": 2, "added": 2}
    assert versions.diff_table(diff) == [
        ("test", "Mass", 1, 0, 0), ("train", "Mass", 0, 0, 1), ("train", "Unlabeled", 0, 1, 0),
        ("val", "Mass", 0, 1, 0), ("val", "Nodule", 1, 0, 0)]
