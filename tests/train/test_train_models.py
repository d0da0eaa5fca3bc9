"""Each model builds, stays small where it should, and one training step lowers its loss."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from cxrpipe.dataset import open_dataset
from cxrpipe.errors import UserError
from cxrpipe.storage import StorageConfig
from cxrpipe.train import backbones, data, models, sources
from cxrpipe.train.losses import WeightedBinaryCrossentropy
from cxrpipe.train.loop import precision

SIZE, AE_SIZE = 64, 32
INCEPTION_MIN = backbones.BACKBONES["inception_resnet_v2"].min_size  # 75, Keras' own


@pytest.fixture(scope="module")
def batch(shards):
    """One real batch of the test split: (images, labels) at 64 px."""
    source = open_dataset(shards.root, StorageConfig()).require_shards()
    stream = data.Stream(SIZE, 16, sources.class_index(source.manifest, shards.classes))
    images, labels = next(iter(data.classifier_dataset(source, "test", stream, training=False)))
    return images.numpy(), labels.numpy()


def sublayers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from sublayers(layer)


def two_steps(model: keras.Model, x, y) -> tuple[float, float]:
    """The loss of a batch before and after one step on it (train_on_batch reports the
    loss computed before its update)."""
    return float(model.train_on_batch(x, y)), float(model.train_on_batch(x, y))


def test_weighted_bce_by_hand():
    loss = WeightedBinaryCrossentropy([2.0, 3.0, 4.0])
    got = float(loss(np.array([[1.0, 0.0, -1.0]]), np.array([[0.8, 0.3, 0.5]])))
    assert got == pytest.approx((-2 * math.log(0.8) - math.log(0.7)) / 2, rel=1e-5)  # -1 left out
    assert WeightedBinaryCrossentropy.from_config(loss.get_config()).positive_weights == [2.0, 3.0, 4.0]


def test_autoencoder_builds_small_and_learns(batch):
    ae = models.build_autoencoder(AE_SIZE)
    assert ae.output_shape == (None, AE_SIZE, AE_SIZE, 1)
    assert ae.get_layer("code").output.shape[1:] == (AE_SIZE // 8, AE_SIZE // 8, models.AE_CODE_CHANNELS)
    assert ae.count_params() < 100_000
    ae.compile(keras.optimizers.Adam(1e-3), "mse")
    view = data.gray_view(batch[0], AE_SIZE).numpy()
    before, after = two_steps(ae, view, view)
    assert after < before
    with pytest.raises(UserError, match="multiple of 8"):
        models.build_autoencoder(30)


def test_combined_classifier_builds_and_one_step_lowers_the_loss(batch):
    keras.utils.set_random_seed(0)
    autoencoders = [models.build_autoencoder(AE_SIZE, name=f"autoencoder_{i}") for i in range(4)]
    backbone = backbones.build_backbone("small", SIZE)
    model = models.build_classifier(backbone, autoencoders, num_classes=4, image_size=SIZE)
    kinds = {type(layer).__name__ for layer in sublayers(model)}
    assert "Flatten" not in kinds and "Softmax" not in kinds
    head = model.get_layer("findings")
    assert head.activation.__name__ == "sigmoid" and head.units == 4
    # the head sees the pooled features plus one reconstruction error per class
    assert head.input.shape[-1] == backbone.output.shape[-1] + 4
    assert model.count_params() < 2_000_000
    assert all(not ae.trainable for ae in autoencoders)
    model.compile(keras.optimizers.Adam(1e-3), WeightedBinaryCrossentropy([5.0, 5.0, 5.0, 1.5]))
    frozen = [w.numpy().copy() for w in autoencoders[0].weights]
    before, after = two_steps(model, *batch)
    assert after < before
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(frozen, autoencoders[0].weights))
    assert model.predict_on_batch(batch[0]).shape == (len(batch[0]), 4)


def test_inception_resnet_v2_builds_and_trains_one_step():
    keras.utils.set_random_seed(0)
    backbone = backbones.build_backbone("inception_resnet_v2", INCEPTION_MIN)
    model = models.build_classifier(backbone, [], num_classes=3, image_size=INCEPTION_MIN)
    assert backbone.output.shape[-1] == 1536          # pooled, never flattened
    assert 50e6 < model.count_params() < 60e6         # Keras' 54.3 M + a 1536 x 3 head
    # eager: tracing the full graph takes over a minute on this CPU, one eager step seconds
    model.compile(keras.optimizers.Adam(1e-4), WeightedBinaryCrossentropy([2.0, 2.0, 2.0]),
                  run_eagerly=True)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 75, 75, 3)).astype("float32")
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], "float32")
    before, after = two_steps(model, x, y)
    assert after < before
    with pytest.raises(UserError, match="at least 75"):
        backbones.build_backbone("inception_resnet_v2", 64)


def test_mixed_precision_computes_in_float16_and_keeps_float32_weights(batch):
    with precision(True):
        autoencoder = models.build_autoencoder(AE_SIZE)
        model = models.build_classifier(backbones.build_backbone("small", SIZE), [autoencoder], 4, SIZE)
        model.compile(keras.optimizers.Adam(1e-3), WeightedBinaryCrossentropy([1.0] * 4))
    assert keras.mixed_precision.global_policy().name == "float32"   # restored
    conv = next(layer for layer in sublayers(model) if isinstance(layer, keras.layers.Conv2D))
    assert conv.compute_dtype == "float16" and conv.variable_dtype == "float32"
    assert {w.dtype for w in model.trainable_weights} == {"float32"}
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    images, labels = batch[0][:4], batch[1][:4]
    assert model.predict_on_batch(images).dtype == np.float32
    assert np.isfinite(model.train_on_batch(images, labels))
