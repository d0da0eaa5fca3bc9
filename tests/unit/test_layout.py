"""Every name in a dataset root, built and parsed back by ``cxrpipe.layout``."""

from __future__ import annotations

import pytest

from cxrpipe import layout
from cxrpipe.shards.plan import Shard


@pytest.mark.parametrize("augmentation", layout.AUGMENTATIONS)
@pytest.mark.parametrize("stem", ["00000001_000", "view1_frontal", "a_hflip_b", "IM-0001-0001"])
def test_image_paths_parse_back(stem, augmentation):
    path = layout.image_path("train", "No Finding", stem, augmentation)
    assert path.startswith("images/train/No_Finding/")
    assert layout.parse_image_path(path) == layout.ImageName("train", "No_Finding", stem, augmentation)


def test_shard_and_table_paths_parse_back_and_match_what_the_writers_use():
    path = layout.shard_path("val", "Pleural Effusion", 3, 8)
    assert path == "tfrecords/val/Pleural_Effusion/Pleural_Effusion-val-00003-of-00008.tfrecord"
    assert Shard("val", "Pleural Effusion", 3, 8).path == path
    assert layout.parse_shard_path(path) == layout.ShardName("val", "Pleural_Effusion", 3, 8)
    assert layout.parse_table_part(layout.table_part("rejects", 12)) == ("rejects", 12)
    assert layout.piece_path(7) == "_pieces/part-00007.bin" and layout.top_folder(path) == layout.TFRECORDS


@pytest.mark.parametrize("parse, path", [
    (layout.parse_image_path, "images/train/Mass/a.png"),
    (layout.parse_image_path, "index/part-00000.parquet"),
    (layout.parse_shard_path, "tfrecords/train/Mass/Nodule-train-00000-of-00001.tfrecord"),  # class differs
    (layout.parse_shard_path, "tfrecords/train/Mass/Mass-val-00000-of-00001.tfrecord"),     # split differs
    (layout.parse_table_part, "index/part-1.parquet"),
])
def test_foreign_names_are_refused(parse, path):
    with pytest.raises(ValueError, match="expected"):
        parse(path)


def test_unknown_tables_and_augmentations_are_refused():
    with pytest.raises(ValueError, match="table"):
        layout.table_part("images", 0)
    with pytest.raises(ValueError, match="augmentation"):
        layout.suffix("rot90")
