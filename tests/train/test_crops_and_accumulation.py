"""Train-time random crops (seeded), the center crop everywhere else (evaluate, predict,
export), gradient accumulation, and the high-resolution path at a reduced scale: stored 96 px
trained at 84 (the 1024 -> 896 recipe's fraction 0.875) with --accumulate and mixed precision."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from cxrpipe.cli import main
from cxrpipe.dataset import open_dataset
from cxrpipe.storage import StorageConfig
from cxrpipe.train import backbones, data, export, infer, loop, models, modeldir, sources
from cxrpipe.train.losses import WeightedBinaryCrossentropy

STORED, SIZE, FRACTION = 96, 84, 0.875     # 96 = resize_side(84, 0.875): no resize, a crop
QUIET = ["--progress", "none"]


@pytest.fixture(scope="module")
def source(shards):
    return open_dataset(shards.root, StorageConfig()).require_shards()


@pytest.fixture(scope="module")
def gray(shards) -> np.ndarray:
    """uint8 (96, 96, 1): one stored training JPEG, decoded."""
    row = next(r for r in pq.read_table(Path(shards.root) / "index").to_pylist() if r["split"] == "test")
    return data.decode_gray((Path(shards.root) / row["path"]).read_bytes()).numpy()


def windows(image: np.ndarray, crop: np.ndarray) -> list[tuple[int, int]]:
    """Offsets (dy, dx) at which ``crop`` is exactly a window of ``image``."""
    n = crop.shape[0]
    return [(dy, dx) for dy in range(image.shape[0] - n + 1) for dx in range(image.shape[1] - n + 1)
            if np.array_equal(image[dy:dy + n, dx:dx + n], crop)]


def test_training_crops_are_seeded_windows_and_evaluation_takes_the_center(gray):
    assert data.resize_side(SIZE, FRACTION) == STORED and data.resize_side(224, 0.875) == 256
    assert data.resize_side(896, 0.875) == 1024
    whole = data.model_input(gray, STORED).numpy()          # the stored image in [-1, 1]
    stream = data.Stream(SIZE, 1, crop_fraction=FRACTION, seed=5)
    offsets = []
    for i in range(8):
        crop = data.random_crop_input(gray, stream, tf.constant(i, tf.int64)).numpy()
        assert crop.shape == (SIZE, SIZE, 3)
        found = windows(whole, crop)
        assert found, i
        offsets.append(found[0])
        again = data.random_crop_input(gray, stream, tf.constant(i, tf.int64)).numpy()
        assert np.array_equal(crop, again)
    assert len(set(offsets)) > 4                            # they move
    center = data.model_input(gray, SIZE, FRACTION).numpy()
    assert (STORED - SIZE) // 2 == 6 and windows(whole, center) == [(6, 6)]


def test_same_seed_same_batches_other_seed_other_crops(source, shards):
    index = sources.class_index(source.manifest, shards.classes)

    def first_batches(seed: int, fraction: float = FRACTION) -> np.ndarray:
        stream = data.Stream(SIZE, 8, index, seed=seed, crop_fraction=fraction)
        ds = data.classifier_dataset(source, "train", stream, training=True)
        return np.stack([x.numpy() for x, _ in ds.take(3)])

    one = first_batches(1)
    assert one.shape == (3, 8, SIZE, SIZE, 3)
    assert np.array_equal(one, first_batches(1))
    assert not np.array_equal(one, first_batches(2))
    # the same records in the same order (the shuffle's seed) but other crops than resizes
    assert not np.array_equal(one, first_batches(1, 1.0))


def test_the_evaluation_stream_is_the_center_of_the_resized_images(source, shards):
    index = sources.class_index(source.manifest, shards.classes)
    cropped = data.classifier_dataset(source, "val", data.Stream(SIZE, 64, index, crop_fraction=FRACTION),
                                      training=False)
    whole = data.classifier_dataset(source, "val", data.Stream(STORED, 64, index), training=False)
    a = np.concatenate([x.numpy() for x, _ in cropped])
    b = np.concatenate([x.numpy() for x, _ in whole])
    assert len(a) == sources.primary_count(source.manifest, "val")
    assert np.array_equal(a, b[:, 6:6 + SIZE, 6:6 + SIZE])


def small_model(size: int, seed: int) -> keras.Model:
    """The small backbone with its BatchNormalization frozen (inference mode: per-example
    outputs, so a batch's gradient is the mean of its halves') and no dropout (random)."""
    keras.utils.set_random_seed(seed)
    backbone = backbones.build_backbone("small", size)
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return models.build_classifier(backbone, [], 4, size, dropout=0.0)


def test_accumulated_steps_equal_one_step_of_their_whole_batch(source, shards):
    """4 accumulated steps of batch 4 against one step of batch 16, same start, same data.
    Tolerance 1e-6 on the weights: Adam's first step moves each by about the learning rate
    (1e-3) whatever the gradient's size, so only summation order differs."""
    index = sources.class_index(source.manifest, shards.classes)
    x, y = next(iter(data.classifier_dataset(source, "test", data.Stream(32, 16, index), training=False)))
    x, y = x.numpy(), y.numpy()
    loss = WeightedBinaryCrossentropy([2.0] * 4)
    start = small_model(32, 0).get_weights()
    settings = dict(dataset="d", out=Path("o"), learning_rate=1e-3)
    accumulated, whole = small_model(32, 0), small_model(32, 0)
    for model, n in ((accumulated, 4), (whole, 1)):
        model.set_weights(start)
        model.compile(loop.optimizer(loop.Settings(**settings, accumulate=n)), loss)
    for k in range(4):
        before = [w.copy() for w in accumulated.get_weights()]
        accumulated.train_on_batch(x[4 * k:4 * k + 4], y[4 * k:4 * k + 4])
        if k < 3:   # no update before the 4th batch
            assert all(np.array_equal(a, b) for a, b in zip(before, accumulated.get_weights()))
    whole.train_on_batch(x, y)
    moved = [np.abs(a - s).max() for a, s in zip(whole.get_weights(), start)]
    assert max(moved) > 5e-4                                    # one real update happened
    gaps = [np.abs(a - b).max() for a, b in zip(accumulated.get_weights(), whole.get_weights())]
    assert max(gaps) <= 1e-6, max(gaps)


def test_accumulation_with_mixed_precision_resumes_and_guards_its_settings(shards, tmp_path):
    quick = dict(dataset=shards.root, out=tmp_path, image_size=SIZE, crop_fraction=FRACTION, batch_size=4,
                 steps_per_epoch=4, backbone="small", autoencoders=False, verbose=0, accumulate=2,
                 mixed_precision=True)
    first = loop.train_classifier(loop.Settings(**quick, epochs=1))
    assert isinstance(first.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert first.model.optimizer.inner_optimizer.gradient_accumulation_steps == 2
    assert int(first.model.optimizer.iterations.numpy()) == 2     # Keras counts updates: 4 batches / 2
    resumed = loop.train_classifier(loop.Settings(**quick, epochs=2))
    # the counter came back from the checkpoint: 2 updates before, 2 in this run
    assert resumed.epochs == [1] and int(resumed.model.optimizer.iterations.numpy()) == 4
    assert np.isfinite(resumed.history["loss"]).all()
    for changed in ({"accumulate": 4}, {"crop_fraction": 1.0}):
        with pytest.raises(loop.UserError, match=next(iter(changed))):
            loop.train_classifier(loop.Settings(**{**quick, **changed}, epochs=3))


@pytest.fixture(scope="module")
def cropped_model(shards, tmp_path_factory) -> Path:
    """The reduced high-resolution path with the CLI: stored 96, trained at 84 on random crops,
    2 batches of 8 accumulated per update, mixed precision; then evaluated."""
    out = tmp_path_factory.mktemp("cropped")
    assert main(["train", "classifier", "--dataset", shards.root, "--out", str(out), "--backbone", "small",
                 "--no-autoencoders", "--image-size", str(SIZE), "--crop-fraction", str(FRACTION),
                 "--accumulate", "2", "--mixed-precision", "--batch-size", "8", "--epochs", "1",
                 "--steps-per-epoch", "4", *QUIET]) == 0
    assert main(["evaluate", "--out", str(out), "--bootstrap", "0", *QUIET]) == 0
    return out


def test_the_card_records_the_crop_and_predict_feeds_the_center_crop(cropped_model, shards, gray):
    card = modeldir.read(cropped_model)
    assert (card.image_size, card.crop_fraction, card.backbone) == (SIZE, FRACTION, "small")
    assert json.loads((cropped_model / modeldir.CONFIG_FILE).read_text())["crop_fraction"] == FRACTION
    predictor = infer.load(cropped_model)
    jpeg = tf.io.encode_jpeg(gray).numpy()
    fed = predictor.pixels([jpeg]).numpy()[0]
    assert np.array_equal(fed, data.decode_image(jpeg, SIZE, FRACTION).numpy())
    report = json.loads((cropped_model / modeldir.METRICS_FILE).read_text())
    assert list(report["per_class"]) == list(shards.classes)


def test_heatmaps_and_boxes_say_they_do_not_handle_crops_yet(cropped_model, shards, tmp_path, capsys):
    image = next((Path(shards.root).parent / "raw" / "images").iterdir())
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n")
    for argv, flag in ((["predict", "--model", str(cropped_model), "--out", str(tmp_path / "p.csv"),
                         "--explain", str(tmp_path / "maps"), str(image)], "--explain"),
                       (["evaluate", "--out", str(cropped_model), "--boxes", str(boxes), *QUIET], "--boxes")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and flag in err and "crop-fraction 0.875" in err


def test_the_exports_apply_the_same_center_crop(cropped_model, gray, tmp_path):
    images = np.stack([gray, np.flip(gray, 1)])
    exact = data.model_input(images, SIZE, FRACTION).numpy()
    by_matrices = export.model_input_by_matrices(tf.constant(images), SIZE, FRACTION).numpy()
    assert by_matrices.shape == exact.shape and np.abs(by_matrices - exact).max() <= 1e-5
    predictor = infer.load(cropped_model)
    want = predictor.model(exact, training=False).numpy()
    saved = tmp_path / "savedmodel"
    export.write_savedmodel(predictor, saved)
    served = tf.saved_model.load(str(saved)).signatures[export.SIGNATURE](image=tf.constant(images))
    got = np.stack([served[n].numpy() for n in export.output_names(predictor.card.classes)], axis=1)
    assert np.abs(got - want).max() <= 1e-6
