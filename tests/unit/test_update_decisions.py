"""`--update`'s pure decisions: which parameters refuse it, and which images are carried."""

from __future__ import annotations

import dataclasses

import pytest

from cxrpipe.preprocessing.plan import WorkItem
from cxrpipe.preprocessing import update
from cxrpipe.preprocessing.update import class_refusal, item_signature, refusal, row_signatures, split_items

PARAMS = {"dataset": "nih", "index": "a.csv", "images": "raw", "size": 299, "flips": ["hflip"], "seed": 0,
          "fractions": [0.7, 0.1, 0.2], "classes": None, "images_per_task": 128, "max_reject_fraction": 0.01}


def item(image_id="a.png", **changes) -> WorkItem:
    base = WorkItem(image_id=image_id, source=f"images/{image_id}", patient_id="p1", split="train",
                    stem=image_id[:-4], partitions=("Mass", "Nodule"), multi_hot=(1, 1, 0), uncertain=(0, 0, 0),
                    view="PA")
    return dataclasses.replace(base, **changes)


def rows_of(work: WorkItem, tag: str | None, augmentations=("none", "hflip")) -> list[dict]:
    """The index rows a task writes for ``work`` (only the columns a signature reads)."""
    return [{"image_id": work.image_id, "patient_id": work.patient_id, "split": work.split, "partition": p,
             "primary": p == work.partitions[0], "augmentation": a, "multi_hot": list(work.multi_hot),
             "uncertain": list(work.uncertain), "view": work.view, "source": work.source, "source_etag": tag}
            for p in work.partitions for a in augmentations]


def test_parameters_that_do_not_change_pixels_or_labels_may_differ():
    wanted = {**PARAMS, "index": "b.csv", "images": "moved", "images_per_task": 64, "max_reject_fraction": 0.1}
    assert refusal("run", PARAMS, wanted, 3) is None


@pytest.mark.parametrize("name, value, flag", [
    ("size", 512, "--size"), ("flips", [], "--flips"), ("seed", 1, "--seed"), ("fractions", [0.8, 0.1, 0.1], "--split"),
    ("classes", ["Mass"], "--classes"), ("dataset", "chexpert", "--dataset"),
])
def test_a_pixel_label_or_split_parameter_refuses_naming_its_flag(name, value, flag):
    why = refusal("preprocess", PARAMS, {**PARAMS, name: value}, 3)
    assert why.startswith(f"--update: {flag} is ") and "version 3" in why and "\n" not in why


def test_only_preprocessed_datasets_can_be_updated():
    assert "shards dataset" in refusal("shards", PARAMS, PARAMS, 2)


def test_other_classes_in_the_index_refuse():
    assert class_refusal(("A", "B"), ("A", "B"), 1) is None
    assert "differ from version 1" in class_refusal(("A", "B"), ("A", "B", "C"), 1)


def test_an_image_is_carried_only_when_its_plan_and_source_tag_are_unchanged():
    work = item()
    held = row_signatures(rows_of(work, "tag1"))
    assert held == {"a.png": item_signature(work, "tag1")}
    for other in (dataclasses.replace(work, split="val"), dataclasses.replace(work, multi_hot=(1, 0, 0)),
                  dataclasses.replace(work, partitions=("Nodule", "Mass")), dataclasses.replace(work, view="AP"),
                  dataclasses.replace(work, patient_id="p2"), dataclasses.replace(work, source="elsewhere/a.png")):
        assert item_signature(other, "tag1") != held["a.png"], other
    assert item_signature(work, "tag2") != held["a.png"]


def test_rows_without_a_source_tag_cannot_be_carried():
    assert row_signatures(rows_of(item(), None)) == {"a.png": None}
    split = split_items([item()], {"images/a.png": "None"}, {"a.png": None})
    assert (len(split.process), split.carried, split.dropped) == (1, 0, frozenset({"a.png"}))


def test_split_items_carries_processes_and_drops():
    kept, changed, relabelled, new = item("a.png"), item("b.png"), item("c.png"), item("d.png")
    held = row_signatures(rows_of(kept, "t") + rows_of(changed, "t") + rows_of(relabelled, "t")
                          + rows_of(item("gone.png"), "t"))
    tags = {w.source: "t" for w in (kept, relabelled, new)} | {changed.source: "t2"}
    rejected = item("bad.png", rejected=("index_error", "no label"), partitions=())
    split = split_items([kept, changed, dataclasses.replace(relabelled, multi_hot=(0, 1, 0)), new, rejected],
                        tags, held)
    assert [w.image_id for w in split.process] == ["b.png", "c.png", "d.png", "bad.png"]
    assert split.carried == 1
    assert split.dropped == {"b.png", "c.png", "gone.png"}
    assert not split.changes_nothing


def test_a_source_missing_from_the_listing_is_processed_and_nothing_else_changes_nothing():
    work = item()
    held = row_signatures(rows_of(work, "t"))
    assert split_items([work], {}, held).process == (work,)
    assert split_items([work], {work.source: "t"}, held).changes_nothing


@pytest.mark.parametrize("new, full_run, expected", [
    (1, 128, 16), (100, 128, 16), (256, 128, 16), (1000, 128, 63), (10_000, 128, 128), (100, 8, 8),
])
def test_an_update_spreads_its_few_new_images_over_tasks(new, full_run, expected):
    assert update.images_per_task(new, full_run) == expected


@pytest.mark.parametrize("n, groups, sizes", [(40, 2, [20, 20]), (65, 3, [22, 22, 21]), (3, 1, [3]), (2, 4, [1, 1])])
def test_index_parts_are_carried_in_even_groups(n, groups, sizes):
    found = update.even_groups(list(range(n)), groups)
    assert [len(g) for g in found] == sizes and [x for g in found for x in g] == list(range(n))


def test_an_update_whose_shards_and_index_disagree_is_stopped_before_its_commit():
    from types import SimpleNamespace

    from cxrpipe.errors import JobFailed
    from cxrpipe.spark.run import check_carried_records

    counts = {"train": {"Mass": {"none": 3, "hflip": 3}}}
    carried = SimpleNamespace(current=SimpleNamespace(version=4))
    check_carried_records(counts, {"train": {"Mass": {"none": 3, "hflip": 3}}}, carried)
    with pytest.raises(JobFailed, match="version 4's shards and index disagree"):
        check_carried_records(counts, {"train": {"Mass": {"none": 3, "hflip": 2}}}, carried)


def _current(paths, seed=0, kind="run"):
    from types import SimpleNamespace

    from cxrpipe import layout

    files = [{"path": p, "split": "train", "partition": "Mass"} for p in paths]
    return SimpleNamespace(kind=kind, version=2, parameters={"shards": {"seed": seed}},
                           files_under=lambda folder: [f for f in files if f["path"].startswith(folder + "/")]
                           if folder == layout.TFRECORDS else [])


def test_new_shards_inherit_records_only_from_shards_ordered_by_the_same_seed():
    from cxrpipe.shards.plan import ShardOptions
    from cxrpipe.spark.update import Update

    shards = ["tfrecords/v000002/train/Mass/Mass-train-00001-of-00002.tfrecord",
              "tfrecords/v000002/train/Mass/Mass-train-00000-of-00002.tfrecord"]
    split = update.UpdateSplit((), 0, frozenset())
    assert Update(_current(shards), split).inherits(ShardOptions(seed=0))
    assert not Update(_current(shards, seed=5), split).inherits(ShardOptions(seed=0))
    assert not Update(_current([]), split).inherits(ShardOptions(seed=0))   # a preprocess-only version
    assert Update(_current(shards), split).inherited_shards() == {("train", "Mass"): tuple(reversed(shards))}


def test_a_manifest_missing_one_of_a_partitions_shards_refuses_to_be_inherited():
    from cxrpipe.errors import UserError
    from cxrpipe.spark.update import Update

    listed = ["tfrecords/train/Mass/Mass-train-00000-of-00003.tfrecord",
              "tfrecords/train/Mass/Mass-train-00002-of-00003.tfrecord"]
    with pytest.raises(UserError, match="lists shards \\[0, 2\\] of \\[3\\] for train/Mass; it is damaged"):
        Update(_current(listed), update.UpdateSplit((), 0, frozenset())).inherited_shards()
