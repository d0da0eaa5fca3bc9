"""`cxrpipe export`: the SavedModel's serving signature and the TFLite models (float and
dynamic-range quantized) against the Keras model on the same preprocessed images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from cxrpipe.cli import main
from cxrpipe.train import data, export, infer

# Per format, the largest absolute difference in probability allowed against Keras:
# (measured on the tiny test model: savedmodel 0, tflite 1.2e-7, dynamic 4.9e-4).
TOLERANCE = {
    "savedmodel": 1e-6,  # the same TensorFlow kernels on the same graph: float32 rounding only
    "tflite": 1e-5,      # TFLite's float kernels and the resize as matrix products: summation order
    "dynamic": 1e-2,     # int8 weights (each rounded to 1/127 of its channel's largest), float activations
}


@pytest.fixture(scope="module")
def images(trained, shards) -> np.ndarray:
    """uint8 (n, 96, 96, 1): stored training JPEGs of the test split, decoded as predict does."""
    rows = [r for r in pq.read_table(Path(shards.root) / "index").to_pylist()
            if r["primary"] and r["augmentation"] == "none" and r["split"] == "test"]
    jpegs = [(Path(shards.root) / r["path"]).read_bytes() for r in sorted(rows, key=lambda r: r["image_id"])[:16]]
    return np.stack([data.decode_gray(j).numpy() for j in jpegs])


@pytest.fixture(scope="module")
def keras_scores(trained, images) -> np.ndarray:
    predictor = infer.load(Path(trained.out))
    return predictor.model(data.model_input(images, trained.image_size), training=False).numpy()


def test_the_savedmodel_serves_named_probabilities(trained, shards, images, keras_scores, tmp_path):
    out = tmp_path / "saved"
    assert main(["export", "--model", trained.out, "--format", "savedmodel", "--out", str(out)]) == 0
    serve = tf.saved_model.load(str(out)).signatures[export.SIGNATURE]
    assert list(serve.structured_input_signature[1]) == [export.INPUT_NAME]
    assert serve.structured_input_signature[1][export.INPUT_NAME].dtype == tf.uint8
    got = serve(**{export.INPUT_NAME: tf.constant(images)})
    names = export.output_names(shards.classes)
    assert sorted(got) == sorted(names) and "No_Finding" in names
    served = np.stack([got[n].numpy() for n in names], axis=1)
    assert np.abs(served - keras_scores).max() <= TOLERANCE["savedmodel"]


def tflite_scores(path: Path, images: np.ndarray, names) -> np.ndarray:
    runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner(export.SIGNATURE)
    rows = [runner(**{export.INPUT_NAME: image[None]}) for image in images]
    return np.stack([[row[n][0] for n in names] for row in rows])


@pytest.mark.parametrize("quantize", ["none", "dynamic"])
def test_tflite_matches_keras(trained, shards, images, keras_scores, quantize, capsys):
    assert main(["export", "--model", trained.out, "--format", "tflite", "--quantize", quantize]) == 0
    path = export.default_path(Path(trained.out), "tflite", quantize)
    assert str(path) in capsys.readouterr().out
    got = tflite_scores(path, images, export.output_names(shards.classes))
    difference = np.abs(got - keras_scores).max()
    with capsys.disabled():
        print(f"\ntflite {quantize}: {path.stat().st_size:,} bytes, max |p - keras| {difference:.2e}")
    assert difference <= TOLERANCE["tflite" if quantize == "none" else "dynamic"]


def test_quantize_is_for_tflite_only(trained, capsys):
    assert main(["export", "--model", trained.out, "--format", "savedmodel", "--quantize", "dynamic"]) == 2
    assert "only with --format tflite" in capsys.readouterr().err


def test_the_resize_as_matrices_is_the_models_resize(images, trained):
    """TFLite's builtin-only form of the input transform (the same weights as matrices)."""
    exact = data.model_input(images, trained.image_size).numpy()
    by_matrices = export.model_input_by_matrices(tf.constant(images), trained.image_size).numpy()
    assert by_matrices.shape == exact.shape and np.abs(by_matrices - exact).max() <= 1e-5
