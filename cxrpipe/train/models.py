"""The models: the per-class convolutional autoencoder and the combined classifier (the
backbones, by name, are ``backbones``'s).

The classifier (the "code of conduct" model) reads one image in [-1, 1], 3 channels. Its
backbone's pooled features are concatenated with the reconstruction error of each class's
autoencoder (frozen; trained before by `cxrpipe train autoencoders`) and fed to an N-way
sigmoid head: multi-label, so no softmax. Nothing flattens a feature map into a dense layer.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers, ops

from cxrpipe.errors import UserError
from cxrpipe.train.backbones import BN_MOMENTUM, ImagenetScaling
from cxrpipe.train.data import gray_view

AE_WIDTHS = (16, 32, 64)
AE_CODE_CHANNELS = 8


def build_autoencoder(size: int, name: str = "autoencoder") -> keras.Model:
    """A convolutional autoencoder of (size, size, 1) images in [-1, 1].

    Three stride-2 convolutions down to a code of ``AE_CODE_CHANNELS`` channels at size/8
    (an eighth of the input's values), three transposed convolutions back, tanh output.

    Raises:
        UserError: ``size`` is not a multiple of 8.
    """
    factor = 2 ** len(AE_WIDTHS)
    if size % factor or size < factor:
        raise UserError(f"--ae-size must be a positive multiple of {factor}, got {size}")
    inputs = keras.Input((size, size, 1))
    x = inputs
    for width in AE_WIDTHS:
        x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(AE_CODE_CHANNELS, 3, padding="same", activation="relu", name="code")(x)
    for width in reversed(AE_WIDTHS):
        x = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(1, 3, padding="same")(x)
    outputs = layers.Activation("tanh", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="cxrpipe")
class GrayView(layers.Layer):
    """The autoencoders' input inside the classifier: ``cxrpipe.train.data.gray_view``."""

    def __init__(self, size: int, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.size = size

    def call(self, images):
        return gray_view(images, self.size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size, self.size, 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="cxrpipe")
class ReconstructionError(layers.Layer):
    """[original, reconstruction] -> (batch, 1) mean squared error, in float32."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def call(self, inputs):
        original, reconstruction = inputs
        diff = ops.cast(original, "float32") - ops.cast(reconstruction, "float32")
        return ops.mean(ops.square(diff), axis=(1, 2, 3))[:, None]

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 1)


def build_classifier(backbone: keras.Model, autoencoders: list[keras.Model], num_classes: int,
                     image_size: int, dropout: float = 0.2, scaling: str = "tf") -> keras.Model:
    """The combined model: backbone features + per-class reconstruction errors -> sigmoid head.

    Args:
        backbone: from ``backbones.build_backbone``.
        autoencoders: one per class, in any order (each adds one error feature); they are
            frozen. Empty: the backbone's features alone.
        num_classes: outputs of the head.
        image_size: input side in pixels.
        dropout: dropout rate before the head.
        scaling: the backbone's ``backbones.BACKBONES[...].scaling``: ``tf`` takes the
            pipeline's [-1, 1] as it is; ``torch``/``caffe`` go through ``ImagenetScaling``.
    """
    inputs = keras.Input((image_size, image_size, 3), name="image")
    scaled = inputs if scaling == "tf" else ImagenetScaling(scaling, name="imagenet_scaling")(inputs)
    parts = [backbone(scaled)]
    if autoencoders:
        parts.append(_error_features(inputs, autoencoders))
    x = parts[0] if len(parts) == 1 else layers.Concatenate(name="evidence")(parts)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="sigmoid", dtype="float32", name="findings")(x)
    return keras.Model(inputs, outputs, name="cxr_classifier")


def _error_features(inputs, autoencoders: list[keras.Model]):
    """(batch, len(autoencoders)) standardized reconstruction errors of the gray view."""
    size = autoencoders[0].inputs[0].shape[1]
    view = GrayView(size, name="gray_view")(inputs)
    errors = []
    for ae in autoencoders:
        ae.trainable = False
        errors.append(ReconstructionError(name=f"error_{ae.name}")([view, ae(view)]))
    joined = errors[0] if len(errors) == 1 else layers.Concatenate(name="errors", dtype="float32")(errors)
    # Reconstruction errors are ~1e-3 and skewed: standardize them next to the features.
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name="error_norm")(joined)


def load_model(path: Path) -> keras.Model:
    """A model saved by the trainer (this module and ``backbones`` register the custom
    layers it needs)."""
    return keras.models.load_model(path, compile=False)
