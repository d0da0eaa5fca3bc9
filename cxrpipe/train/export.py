"""`cxrpipe export`: a trained classifier as a SavedModel or a TFLite model.

The serving signature takes what ``cxrpipe predict`` makes of a radiograph before the model
(``inputs.prepare``'s JPEG, decoded): ``image``, uint8 (batch, S, S, 1) with S the training
JPEGs' size; inside it applies ``data.model_input`` (the input transform the card names) and
the classifier, and returns one float32 (batch,) probability per class, keyed by the class's
name with spaces as ``_`` (``No_Finding``). An edge device then needs only the rendering
(CLAHE, resize, JPEG coding) and a JPEG decoder.

TFLite has no builtin for the antialiased resize (TensorFlow's ScaleAndTranslate), and the
Flex delegate that would run it is what an edge build leaves out. The resize is linear and
separable, so the TFLite model applies it as two matrix products whose matrices are
``tf.image.resize`` of the identity: the same weights, with TFLite builtins only. The card's
center crop is the rows of those matrices that fall inside it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf
from keras.applications import inception_resnet_v2

from cxrpipe import labels
from cxrpipe.errors import UserError
from cxrpipe.train import data, infer

INPUT_NAME = "image"
SIGNATURE = "serving_default"
# Dynamic-range quantization: int8 weights, float activations (TFLite's Optimize.DEFAULT).
QUANTIZERS = {"none": [], "dynamic": [tf.lite.Optimize.DEFAULT]}


def output_names(classes) -> list[str]:
    """The signature's output keys, one per class in the card's order."""
    return [labels.class_dirname(c) for c in classes]


def export(model_dir: Path, fmt: str, quantize: str = "none", out: Path | None = None) -> Path:
    """Write the export of the model in ``model_dir``; returns its path.

    Raises:
        UserError: not a model directory, an unknown format or quantization.
    """
    if fmt not in EXPORTERS or quantize not in QUANTIZERS:
        raise UserError(f"export: expected a format in {list(EXPORTERS)} and a quantization in "
                        f"{list(QUANTIZERS)}, got {fmt!r} and {quantize!r}")
    predictor = infer.load(model_dir)
    out = out or default_path(model_dir, fmt, quantize)
    out.parent.mkdir(parents=True, exist_ok=True)
    EXPORTERS[fmt](predictor, out, quantize)
    return out


def default_path(model_dir: Path, fmt: str, quantize: str) -> Path:
    suffix = "" if quantize == "none" else f"-{quantize}"
    name = "savedmodel" if fmt == "savedmodel" else f"model{suffix}.tflite"
    return Path(model_dir) / "export" / name


def resize_matrix(n_in: int, n_out: int) -> tf.Tensor:
    """(n_out, n_in) float32 M with M @ column == ``data.model_input``'s resize of a column:
    the resize of each unit vector (a width of 1 is left as it is)."""
    units = tf.eye(n_in)[:, :, None, None]
    resized = tf.image.resize(units, (n_out, 1), method="bilinear", antialias=True)
    return tf.transpose(resized[:, :, 0, 0])


def model_input_by_matrices(gray: tf.Tensor, size: int, crop_fraction: float = 1.0) -> tf.Tensor:
    """``data.model_input`` of a square uint8 (batch, S, S, 1) batch, resize and center crop
    as matrices."""
    side = data.resize_side(size, crop_fraction)
    start = (side - size) // 2
    matrix = resize_matrix(gray.shape[1], side)[start:start + size]
    pixels = tf.cast(gray[..., 0], tf.float32)
    rows = tf.einsum("os,bsw->bow", matrix, pixels)
    resized = tf.einsum("bow,pw->bop", rows, matrix)[..., None]
    return inception_resnet_v2.preprocess_input(tf.image.grayscale_to_rgb(resized))


def _serve(predictor: infer.Predictor, transform, batch: int | None):
    card = predictor.card
    size, names = card.render.size, output_names(card.classes)
    spec = tf.TensorSpec((batch, size, size, 1), tf.uint8, name=INPUT_NAME)

    def serve(image):
        probabilities = predictor.model(transform(image, card.image_size, card.crop_fraction),
                                        training=False)
        return {name: probabilities[:, i] for i, name in enumerate(names)}

    return serve, spec


def write_savedmodel(predictor: infer.Predictor, out: Path, quantize: str = "none",
                     transform=data.model_input, batch: int | None = None) -> None:
    """A SavedModel with the serving signature, any batch size unless ``batch`` is given
    (``quantize`` must be ``none``)."""
    if quantize != "none":
        raise UserError("--quantize applies to --format tflite only")
    serve, spec = _serve(predictor, transform, batch)
    archive = keras.export.ExportArchive()
    archive.track(predictor.model)
    archive.add_endpoint(SIGNATURE, serve, input_signature=[spec])
    if out.exists():
        shutil.rmtree(out)
    archive.write_out(str(out), verbose=False)


def write_tflite(predictor: infer.Predictor, out: Path, quantize: str = "none") -> None:
    """A TFLite flatbuffer with the serving signature, one image a call (as an edge device
    reads them; a dynamic batch does not survive the conversion of the resize's products),
    float or dynamic-range quantized."""
    with tempfile.TemporaryDirectory() as scratch:
        saved = Path(scratch) / "savedmodel"
        write_savedmodel(predictor, saved, transform=model_input_by_matrices, batch=1)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=[SIGNATURE])
        converter.optimizations = QUANTIZERS[quantize]
        out.write_bytes(converter.convert())


EXPORTERS = {"savedmodel": write_savedmodel, "tflite": write_tflite}
