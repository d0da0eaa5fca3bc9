"""The tf.data pipelines, checked against the shards read by cxrpipe's own TFRecord reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from cxrpipe import features
from cxrpipe.dataset import open_dataset
from cxrpipe.errors import UserError
from cxrpipe.storage import StorageConfig
from cxrpipe.tfrecord import decode_example, iter_records
from cxrpipe.train import data, sources

BUCKET = "cxr-trainer-test"
CLASSES = ("Cardiomegaly", "Effusion", "Mass", "No Finding")  # the shards fixture's


def shard_records(root: str, split: str, partition: str | None = None) -> list[dict]:
    """Every record of the split's shards, decoded without TensorFlow."""
    manifest = open_dataset(root, StorageConfig()).require_shards().manifest
    return [decode_example(r)
            for path in sources.shard_paths(manifest, split, partition)
            for r in iter_records((Path(root) / path).read_bytes())]


def expected_labels(records: list[dict], index) -> np.ndarray:
    return np.array([[r[features.CLASS_MULTI_HOT][i] for i in index] for r in records], np.float32)


@pytest.fixture(scope="module")
def source(shards):
    assert shards.classes == CLASSES
    return open_dataset(shards.root, StorageConfig()).require_shards()


@pytest.fixture(scope="module")
def shard_root(shards):
    return shards.root


@pytest.fixture(scope="module")
def index(source):
    return sources.class_index(source.manifest, CLASSES)


def test_classes_default_to_the_partitions_with_training_shards(source):
    assert sources.select_classes(source.manifest) == CLASSES
    assert sources.select_classes(source.manifest, "No Finding,Mass") == ("Mass", "No Finding")
    with pytest.raises(ValueError, match="Tumour"):
        sources.select_classes(source.manifest, "Tumour")
    with pytest.raises(ValueError, match="'no_finding': did you mean 'No Finding'"):
        sources.select_classes(source.manifest, "no_finding,Mass")
    with pytest.raises(ValueError, match="'Unlabeled' is not a class"):
        sources.select_classes(source.manifest, "Unlabeled")


def test_classifier_stream_yields_each_primary_version_once(source, index, shard_root):
    primaries = [r for r in shard_records(shard_root, "test") if r[features.PRIMARY][0] == 1]
    stream = data.Stream(image_size=64, batch_size=16, class_index=index)
    batches = list(data.classifier_dataset(source, "test", stream, training=False))
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert len(primaries) == sources.primary_count(source.manifest, "test") == len(labels)
    assert images.shape == (len(primaries), 64, 64, 3) and images.dtype == np.float32
    assert -1.0 <= images.min() < 0 < images.max() <= 1.0
    assert np.array_equal(images[..., 0], images[..., 2])  # gray copied to 3 channels
    assert batches[0][0].shape[0] == 16
    np.testing.assert_array_equal(labels.sum(0), expected_labels(primaries, index).sum(0))
    assert set(np.unique(labels)) <= {0.0, 1.0}


def test_primary_count_holds_for_the_augmented_split(source, shard_root):
    records = shard_records(shard_root, "train")
    primaries = Counter(r[features.AUGMENTATION][0] for r in records if r[features.PRIMARY][0] == 1)
    assert primaries == {b"none": source.manifest.images["train"], b"hflip": source.manifest.images["train"]}
    assert sources.primary_count(source.manifest, "train") == sum(primaries.values())


def test_training_stream_is_shuffled_and_endless(source, index):
    stream = data.Stream(image_size=48, batch_size=8, class_index=index, seed=3)
    steps = sources.steps(sources.primary_count(source.manifest, "val"), 8)
    ds = data.classifier_dataset(source, "val", stream, training=True)
    first = [y.numpy() for _, y in ds.take(steps + 2)]
    assert len(first) == steps + 2 and all(y.shape == (8, len(CLASSES)) for y in first)
    rebuilt = data.classifier_dataset(source, "val", stream, training=True)
    again = [y.numpy() for _, y in rebuilt.take(steps + 2)]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))  # seeded: runs repeat


def test_autoencoder_stream_reads_every_record_of_its_partition(source, shard_root):
    records = shard_records(shard_root, "val", "Effusion")
    stream = data.Stream(image_size=64, batch_size=4)
    pairs = list(data.autoencoder_dataset(source, "val", "Effusion", stream, ae_size=32, training=False))
    views = np.concatenate([x.numpy() for x, _ in pairs])
    assert len(views) == len(records) == sources.record_count(source.manifest, "val", "Effusion")
    assert views.shape[1:] == (32, 32, 1)
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in pairs)
    assert {r[features.PARTITION][0] for r in records} == {b"Effusion"}


def test_uncertain_labels_are_marked_unknown_under_ignore():
    example = {features.CLASS_MULTI_HOT: tf.constant([1, 0, 0], tf.int64),
               features.CLASS_UNCERTAIN: tf.constant([0, 1, 0], tf.int64)}
    masked = data.Stream(8, 1, class_index=(2, 1, 0), mask_uncertain=True)
    kept = data.Stream(8, 1, class_index=(2, 1, 0))
    assert data._labels(example, masked).numpy().tolist() == [0.0, data.UNKNOWN, 1.0]
    assert data._labels(example, kept).numpy().tolist() == [0.0, 0.0, 1.0]


def test_weights_come_from_the_manifest_and_are_n_over_n_l(source, index, shard_root):
    weights = sources.positive_weights(source.manifest, CLASSES)
    assert weights == tuple(source.manifest.class_weights["train"][c] for c in CLASSES)
    originals = [r for r in shard_records(shard_root, "train")
                 if r[features.PRIMARY][0] == 1 and r[features.AUGMENTATION][0] == b"none"]
    n, n_l = len(originals), expected_labels(originals, index).sum(0)
    np.testing.assert_allclose(weights, n / n_l, rtol=1e-5)


def test_a_missing_split_or_dataset_is_a_user_error(source, tmp_path):
    stream = data.Stream(image_size=32, batch_size=4)
    with pytest.raises(UserError, match="no records of class 'Hernia'"):
        data.autoencoder_dataset(source, "train", "Hernia", stream, 32, training=True)
    with pytest.raises(UserError, match="no _MANIFEST.json"):
        open_dataset(str(tmp_path), StorageConfig()).require_shards()


def test_s3_input_reads_the_same_records(s3, s3_endpoint, source, index, shard_root):
    s3.create_bucket(Bucket=BUCKET)
    keys = ["_MANIFEST.json"] + sources.shard_paths(source.manifest, "test")
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=f"shards/{key}", Body=(Path(shard_root) / key).read_bytes())
    remote = open_dataset(f"s3://{BUCKET}/shards", StorageConfig(endpoint_url=s3_endpoint)).require_shards()
    stream = data.Stream(image_size=32, batch_size=32, class_index=index)
    local_labels = np.concatenate([y for _, y in data.classifier_dataset(source, "test", stream, False)])
    s3_labels = np.concatenate([y for _, y in data.classifier_dataset(remote, "test", stream, False)])
    assert len(s3_labels) == len(local_labels)
    np.testing.assert_array_equal(s3_labels.sum(0), local_labels.sum(0))
    images = next(iter(data.classifier_dataset(remote, "test", stream, training=True)))[0]
    assert images.shape == (32, 32, 32, 3)


def test_the_public_feature_spec_parses_every_key_of_a_record_with_tensorflow(source):
    import cxrpipe

    path = sources.shard_paths(source.manifest, "train")[0]
    raw = next(iter_records((Path(source.root) / path).read_bytes()))
    parsed = tf.io.parse_single_example(raw, cxrpipe.feature_spec(tf, len(source.manifest.classes)))
    expected = decode_example(raw)
    assert set(parsed) == set(expected)
    assert parsed[features.ID].numpy() == expected[features.ID][0]
    assert parsed[features.CLASS_MULTI_HOT].numpy().tolist() == list(expected[features.CLASS_MULTI_HOT])
