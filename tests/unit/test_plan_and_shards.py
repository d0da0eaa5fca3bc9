"""The pure planning core: tasks, shards, manifests."""

from __future__ import annotations

import json

import random

import pytest

from cxrpipe import manifest
from cxrpipe.index import DatasetIndex, IndexReject, Record
from cxrpipe.preprocessing.plan import PlanOptions, build_plan, task_count
from cxrpipe.shards.plan import (Shard, ShardOptions, Version, covering_shards, order_key, plan_shards, shard_of_key,
                                 version_partitions)

CLASSES = ("Mass", "Nodule", "No Finding")


def record(i: int, values=(0, 0, 1), view="PA", split=None) -> Record:
    return Record(f"{i:08d}_000.png", f"{i:08d}_000.png", str(i // 2), values, view, split)


def index(records, rejects=()) -> DatasetIndex:
    return DatasetIndex("nih", CLASSES, tuple(records), tuple(rejects))


def test_tasks_depend_on_ids_not_on_row_order():
    records = [record(i, (i % 2, 0, 1 - i % 2)) for i in range(100)]
    shuffled = records[:]
    random.Random(3).shuffle(shuffled)
    options = PlanOptions(images_per_task=16)
    a, b = build_plan(index(records), options), build_plan(index(shuffled), options)
    assert a.tasks == b.tasks and len(a.tasks) == task_count(100, 16) == 7
    assert sorted(i.image_id for t in a.tasks for i in t) == sorted(r.image_id for r in records)


def test_excluded_and_rejected_inputs_are_counted_not_dropped():
    records = [record(0), record(1, view="Lateral"), record(2, (1, 0, 0)), record(3, (1, 1, 0))]
    rejects = [IndexReject("x.png", "../x.png", "path_escape", "leaves the root")]
    plan = build_plan(index(records, rejects), PlanOptions(views="frontal", classes=("Mass",),
                                                          membership="exclusive"))
    items = {i.image_id: i for t in plan.tasks for i in t}
    assert plan.excluded == {"lateral_view": 1, "not_in_selected_classes": 2}
    assert set(items) == {"00000002_000.png", "x.png"}
    assert items["x.png"].rejected == ("path_escape", "leaves the root")
    assert items["00000002_000.png"].partitions == ("Mass",)
    assert plan.inputs + sum(plan.excluded.values()) == len(records) + len(rejects)


def test_unknown_selected_class_names_the_valid_ones():
    with pytest.raises(ValueError, match="Nodule"):
        build_plan(index([record(0)]), PlanOptions(classes=("Nodul",)))


def test_resplit_overrides_a_layout_that_splits_a_patient():
    records = [record(0, split="train"), record(1, split="test")]  # patient "0" in two splits
    with pytest.raises(ValueError, match="--resplit"):
        build_plan(index(records), PlanOptions())
    plan = build_plan(index(records), PlanOptions(resplit=True))
    assert len({i.split for t in plan.tasks for i in t}) == 1


def version(image_id="a", aug="none", multi_hot=(1, 0, 0), uncertain=(0, 0, 0), split="train", size=1000):
    return Version(image_id, aug, split, "p", multi_hot, uncertain, "PA", f"images/{image_id}.jpg", size)


def test_shard_choice_is_stable_and_spread():
    counts = [0] * 4
    for i in range(400):
        n = shard_of_key(order_key(version(f"img{i}"), seed=1), 4)
        assert n == shard_of_key(order_key(version(f"img{i}"), seed=1), 4)
        counts[n] += 1
    assert min(counts) > 60  # about 100 each
    assert order_key(version("a"), 1) != order_key(version("a"), 2)


@pytest.mark.parametrize("count, other", [(2, 2), (2, 3), (3, 2), (1, 4), (4, 1), (7, 5), (1024, 3)])
def test_covering_shards_hold_every_key_of_a_shard_under_another_count(count, other):
    """An update's shard k of n finds its carried records in exactly the current shards whose
    ranges meet k's: every key of k lies in one of them, and each of them holds some."""
    rng = random.Random(count * 1000 + other)
    held = [set() for _ in range(count)]
    for _ in range(20_000):
        key = rng.getrandbits(128).to_bytes(16, "big")
        held[shard_of_key(key, count)].add(shard_of_key(key, other))
    for index in range(count):
        covering = covering_shards(index, count, other)
        assert held[index] <= set(covering)
        if count <= 7:   # enough keys per shard to meet every covering shard
            assert held[index] == set(covering)
    assert covering_shards(0, count, count) == range(0, 1)
    assert covering_shards(count - 1, count, other)[-1] == other - 1


def test_shard_counts_follow_shard_mb_and_names_follow_the_contract():
    shards = plan_shards({("train", "Mass"): 250_000_000, ("val", "Mass"): 1}, CLASSES, ShardOptions(shard_mb=100))
    assert [(s.split, s.count) for s in shards] == [("train", 3)] * 3 + [("val", 1)]
    assert Shard("train", "No Finding", 2, 10).path == \
        "tfrecords/train/No_Finding/No_Finding-train-00002-of-00010.tfrecord"
    assert len(plan_shards({("val", "Mass"): 1}, CLASSES, ShardOptions(num_shards=5))) == 5


def test_version_partitions_follow_membership_and_filters():
    both = version(multi_hot=(1, 1, 0))
    unsure = version(multi_hot=(1, 0, 0), uncertain=(0, 1, 0))
    assert version_partitions(both, CLASSES, ShardOptions()) == ("Mass", "Nodule")
    assert version_partitions(both, CLASSES, ShardOptions(classes=("Nodule",))) == ("Nodule",)
    assert version_partitions(both, CLASSES, ShardOptions(membership="exclusive")) == ()
    assert version_partitions(unsure, CLASSES, ShardOptions(membership="exclusive")) == ()
    assert version_partitions(unsure, CLASSES, ShardOptions()) == ("Mass",)
    assert version_partitions(both, CLASSES, ShardOptions(splits=("val",))) == ()


def test_class_weights_are_n_over_n_l():
    weights = manifest.class_weights({"train": 10}, {"train": [5, 0, 2]}, CLASSES)
    assert weights == {"train": {"Mass": 2.0, "Nodule": None, "No Finding": 5.0}}


def test_manifest_round_trip_and_refusal_of_foreign_json():
    built = manifest.build_manifest(kind="preprocess", dataset="nih", classes=CLASSES, parameters={},
                                    inputs=1, counts={}, images={"train": 1}, positives={"train": [1, 0, 0]},
                                    rejects={"empty": 1}, excluded={}, files=[{"path": "b"}, {"path": "a"}])
    data = manifest.dumps(built)
    assert manifest.loads(data) == built and data == manifest.dumps(manifest.loads(data))
    assert [f["path"] for f in built.files] == ["a", "b"]
    with pytest.raises(ValueError, match="format"):
        manifest.loads(b'{"hello": 1}')


def _recorded(parameters: dict, kind: str = "preprocess") -> manifest.Manifest:
    return manifest.build_manifest(kind=kind, dataset="nih", classes=CLASSES, parameters=parameters, inputs=1,
                                   counts={}, images={"train": 1}, positives={"train": [1, 0, 0]},
                                   rejects={}, excluded={}, files=[])


def test_the_manifest_gives_back_the_render_parameters_it_recorded_and_never_guesses_one():
    import dataclasses

    from cxrpipe.imageops import RenderParams

    render = RenderParams(size=128, clahe_clip=3.0, flips=("hflip",))
    recorded = json.loads(manifest.dumps(_recorded({"uncertain": "ones", **dataclasses.asdict(render)})))
    back = manifest.Manifest.from_dict({k: v for k, v in recorded.items() if k != "checksum"})
    assert back.render_params() == render and back.preprocessing_option("uncertain") == "ones"
    # A shards dataset records its source's options under "preprocess".
    sharded = _recorded({"num_shards": 2, "preprocess": {"uncertain": "zeros", **dataclasses.asdict(render)}}, "shards")
    assert sharded.render_params() == render and sharded.preprocessing_option("uncertain") == "zeros"
    # A renamed or missing field fails loudly instead of falling back to a default.
    without_size = {k: v for k, v in dataclasses.asdict(render).items() if k != "size"}
    with pytest.raises(ValueError, match="records no preprocessing option 'size'"):
        _recorded(without_size).render_params()


def test_a_manifest_with_fields_this_code_does_not_know_is_refused():
    body = json.loads(manifest.dumps(_recorded({})))
    body.pop("checksum")
    body["added_later"] = 1
    with pytest.raises(ValueError, match="unknown fields added_later"):
        manifest.Manifest.from_dict(body)


def test_an_edited_manifest_fails_its_checksum():
    built = manifest.build_manifest(kind="preprocess", dataset="nih", classes=CLASSES, parameters={},
                                    inputs=4, counts={}, images={"train": 4}, positives={"train": [1, 0, 0]},
                                    rejects={}, excluded={}, files=[])
    data = manifest.dumps(built)
    assert b'"checksum": "' in data
    with pytest.raises(ValueError, match="edited after the job committed it"):
        manifest.loads(data.replace(b'"inputs": 4', b'"inputs": 40'))


def test_small_shards_share_a_writing_task_and_big_ones_get_their_own():
    from cxrpipe.shards.plan import shard_tasks

    sizes = {("train", "Mass"): 300_000_000, ("train", "Nodule"): 10_000_000, ("val", "Mass"): 30_000_000}
    shards = plan_shards(sizes, CLASSES, ShardOptions(shard_mb=100))   # Mass 3 x 100 MB, Nodule 1 x 10, val 1 x 30
    tasks = shard_tasks(shards, sizes, task_bytes=64e6)
    assert sorted(i for task in tasks for i in task) == list(range(len(shards)))   # each shard once
    alone = [shards[t[0]] for t in tasks if len(t) == 1]
    assert [(s.split, s.partition) for s in alone] == [("train", "Mass")] * 3
    assert [sorted((shards[i].partition, shards[i].split) for i in t) for t in tasks if len(t) > 1] == [
        [("Mass", "val"), ("Nodule", "train")]]
    assert len(shard_tasks(shards, sizes, task_bytes=1)) == len(shards)
