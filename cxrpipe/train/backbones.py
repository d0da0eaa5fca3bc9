"""The backbones of the literature by name, their ImageNet weights and their input scaling.

``inception_resnet_v2`` (the original pipeline's), ``densenet121`` (CheXNet's), ``resnet50``
(the SageMaker ChestX-ray14 recipe's), ``mobilenet_v2`` (the NIH study's edge model) are
Keras' own applications without their top, average-pooled; ``small`` is a compact CNN for
CPUs and tests.

Every backbone takes the pipeline's one input, 3-channel gray in [-1, 1]. Each family's
ImageNet weights expect their own scaling (Keras' ``preprocess_input`` modes ``tf``,
``torch``, ``caffe``), so the classifier applies an ``ImagenetScaling`` layer before its
backbone (``models.build_classifier``'s ``scaling``): the scaling travels inside the saved
model, and `predict`, `export` and Grad-CAM need no code of their own for it. The backbone
itself stays Keras' flat application, where Grad-CAM finds its last feature map.

``--weights imagenet`` goes through Keras' mechanism: a file already in
``keras_home()/models`` under Keras' own name is loaded as it is (nothing is fetched); an
absent one is downloaded by ``keras.utils.get_file`` from Keras' origin, checked against
Keras' hash, and cached there.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
from keras import layers, ops

from cxrpipe.errors import UserError

log = logging.getLogger(__name__)

ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"
SMALL_WIDTHS = (16, 32, 64, 128)
# Short runs (the small backbone's use) leave BatchNormalization's moving statistics behind
# the weights at Keras' default momentum of 0.99; 0.9 keeps inference close to training.
# Every backbone's BatchNormalization layers take it.
BN_MOMENTUM = 0.9
# Keras has MobileNetV2 ImageNet files (alpha 1.0) for these sides only; at any other side
# it loads the 224 file, as we do: the convolutions' weights do not depend on the side.
MOBILENET_SIDES = (96, 128, 160, 192, 224)
# keras.applications' preprocess_input, for inputs already in [-1, 1]: (mode) -> scale.
TORCH_MEAN, TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class Imagenet:
    """Keras' ImageNet file of a backbone (no top): its name in the cache, folder, hash."""

    file: str
    folder: str
    file_hash: str | None  # Keras publishes none for MobileNetV2

    @property
    def origin(self) -> str:
        return f"{ORIGIN}{self.folder}/{self.file}"


@dataclass(frozen=True)
class Backbone:
    """One entry of ``BACKBONES``: how to build it, its smallest side, its input scaling,
    and its ImageNet file at a given side (None: no ImageNet weights)."""

    build: Callable[[int], keras.Model]
    min_size: int
    scaling: str
    imagenet: Callable[[int], Imagenet] | None = None


def _application(constructor) -> Callable[[int], keras.Model]:
    def build(size: int) -> keras.Model:
        model = constructor(include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg")
        # Keras' 0.99 leaves the moving statistics far behind in short runs from scratch (a
        # constant output at inference) and adapts slowly from ImageNet's statistics to X-rays.
        for layer in model.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM
        return model
    return build


def _small_cnn(size: int) -> keras.Model:
    """A compact CNN for CPUs and tests: per width, a stride-2 and a plain 3x3 conv."""
    inputs = keras.Input((size, size, 3))
    x = inputs
    for width in SMALL_WIDTHS:
        for strides in (2, 1):
            x = layers.Conv2D(width, 3, strides=strides, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            x = layers.Activation("relu")(x)
    return keras.Model(inputs, layers.GlobalAveragePooling2D()(x), name="small_cnn")


def _mobilenet_file(size: int) -> Imagenet:
    side = size if size in MOBILENET_SIDES else 224
    if side != size:
        log.warning("MobileNetV2 has ImageNet weights for sides %s only: loading the 224 px ones "
                    "at %d px, as Keras does", MOBILENET_SIDES, size)
    return Imagenet(f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{side}_no_top.h5",
                    "mobilenet_v2", None)


def _fixed(file: str, folder: str, file_hash: str) -> Callable[[int], Imagenet]:
    return lambda size: Imagenet(file, folder, file_hash)


BACKBONES = {
    "inception_resnet_v2": Backbone(
        _application(keras.applications.InceptionResNetV2), 75, "tf",
        _fixed("inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
               "inception_resnet_v2", "d19885ff4a710c122648d3b5c3b684e4")),
    "densenet121": Backbone(
        _application(keras.applications.DenseNet121), 32, "torch",
        _fixed("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5", "densenet",
               "30ee3e1110167f948a6b9946edeeb738")),
    "resnet50": Backbone(
        _application(keras.applications.ResNet50), 32, "caffe",
        _fixed("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "resnet",
               "4d473c1dd8becc155b73f8504c6f6626")),
    "mobilenet_v2": Backbone(_application(keras.applications.MobileNetV2), 32, "tf", _mobilenet_file),
    "small": Backbone(_small_cnn, 16, "tf"),
}


def build_backbone(name: str, image_size: int, weights: str | None = None) -> keras.Model:
    """A backbone: (size, size, 3) scaled as ``BACKBONES[name].scaling`` says -> pooled
    features (batch, channels).

    Args:
        name: a key of ``BACKBONES``.
        image_size: input side in pixels.
        weights: None/``none`` (random), a local weights file, or ``imagenet`` (see
            ``resolve_weights``; downloaded by Keras when not cached).

    Raises:
        UserError: unknown backbone, image too small, or weights that cannot be had or used.
    """
    if name not in BACKBONES:
        raise UserError(f"--backbone: expected one of {', '.join(BACKBONES)}, got {name!r}")
    spec = BACKBONES[name]
    if image_size < spec.min_size:
        raise UserError(f"--image-size: {name} needs at least {spec.min_size} pixels, got {image_size}"
                        + ("" if name == "small" else " (or use --backbone small)"))
    model = spec.build(image_size)
    path = resolve_weights(weights, name, image_size)
    if path is not None:
        _load(model, path, name, image_size)
    return model


def _load(model: keras.Model, path: Path, name: str, size: int) -> None:
    try:
        model.load_weights(str(path))
    except (ValueError, OSError, KeyError) as exc:
        raise UserError(f"--weights {path}: cannot load into {name} at {size} px: {exc}") from None


def keras_home() -> Path:
    """Where Keras keeps downloaded files: ``$KERAS_HOME`` or ``~/.keras``."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def resolve_weights(weights: str | None, backbone: str, image_size: int) -> Path | None:
    """The local file to load ``--weights`` from; None for random initialization.

    ``imagenet``: Keras' file for ``backbone`` at ``image_size`` (see the module docstring),
    downloaded into ``keras_home()/models`` if it is not there.

    Raises:
        UserError: the file does not exist, ``imagenet`` for a backbone without ImageNet
            weights, or a download that failed.
    """
    if weights is None or weights.lower() == "none":
        return None
    if weights.lower() == "imagenet":
        return imagenet_file(backbone, image_size)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UserError(f"--weights {weights}: no such file (give a local .h5 or .keras file)")
    return path


def imagenet_file(backbone: str, image_size: int) -> Path:
    """Keras' ImageNet file of ``backbone``: the cached one, else downloaded by Keras.

    Raises:
        UserError: no ImageNet weights for ``backbone``, or the download failed.
    """
    spec = BACKBONES[backbone].imagenet
    if spec is None:
        having = ", ".join(n for n, b in BACKBONES.items() if b.imagenet)
        raise UserError(f"--weights imagenet exists for {having}, not {backbone}")
    wanted = spec(image_size)
    cached = keras_home() / "models" / wanted.file
    if cached.is_file():   # present: trusted as it is, so that nothing is fetched
        return cached
    try:
        return Path(keras.utils.get_file(wanted.file, wanted.origin, cache_subdir="models",
                                         file_hash=wanted.file_hash, cache_dir=str(keras_home())))
    # get_file raises a bare Exception for URL errors, ValueError for a hash mismatch.
    except Exception as exc:  # noqa: BLE001
        reason = " ".join(str(exc).split())
        raise UserError(f"--weights imagenet: cannot download {wanted.origin} into {cached.parent} "
                        f"({reason}); place {wanted.file} there or pass --weights PATH") from None


@keras.saving.register_keras_serializable(package="cxrpipe")
class ImagenetScaling(layers.Layer):
    """The pipeline's [-1, 1] gray-as-RGB -> what a family's ImageNet weights expect:
    Keras' ``preprocess_input`` of the same image in [0, 255] (``torch``: [0, 1] standardized
    by ImageNet's mean and deviation; ``caffe``: BGR minus ImageNet's mean)."""

    def __init__(self, mode: str, **kwargs):
        if mode not in ("torch", "caffe"):
            raise ValueError(f"mode: expected 'torch' or 'caffe', got {mode!r}")
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        if self.mode == "torch":
            unit = (images + 1.0) / 2.0
            return (unit - ops.convert_to_tensor(TORCH_MEAN, self.compute_dtype)) / ops.convert_to_tensor(
                TORCH_STD, self.compute_dtype)
        bgr = ops.flip((images + 1.0) * 127.5, axis=-1)
        return bgr - ops.convert_to_tensor(CAFFE_BGR_MEAN, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}
