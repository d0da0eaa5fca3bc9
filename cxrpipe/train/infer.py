"""`cxrpipe predict` on one machine: raw radiographs through the training pipeline's own
preprocessing into a trained classifier.

An input goes through ``imageops.render`` with the RenderParams the training dataset's
manifest recorded (``cxrpipe.predict.inputs.prepare``), which JPEG-codes it exactly as the
stored training JPEG was coded, then through ``data.decode_image``, the function the
training stream applies to that JPEG: the model sees the pixels training showed it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cxrpipe import storage
from cxrpipe.errors import ImageRejected, UserError
from cxrpipe.predict import inputs, output
from cxrpipe.train import data, modeldir, models

log = logging.getLogger(__name__)


@dataclass
class Predictor:
    """A model directory's classifier and card, loaded once."""

    card: modeldir.ModelCard
    model: keras.Model

    def pixels(self, jpegs: list[bytes]) -> tf.Tensor:
        """The model's input batch, float32 (n, size, size, 3), from stored-form JPEGs."""
        return tf.stack([data.decode_image(tf.constant(j), self.card.image_size) for j in jpegs])

    def scores(self, jpegs: list[bytes]) -> np.ndarray:
        """Per-class probabilities, (n, classes) float64, in the card's class order."""
        if not jpegs:
            return np.zeros((0, len(self.card.classes)))
        return self.model(self.pixels(jpegs), training=False).numpy().astype(np.float64)


def load(model_dir: Path) -> Predictor:
    """The predictor of a model directory.

    Raises:
        UserError: not a model directory, one whose input transform is not this cxrpipe's,
            or a missing model file.
    """
    card = modeldir.read(model_dir)
    if card.input_transform != modeldir.INPUT_TRANSFORM:
        raise UserError(f"{model_dir}: the model expects the input transform {card.input_transform!r}; "
                        f"this cxrpipe applies {modeldir.INPUT_TRANSFORM!r}")
    path = Path(model_dir) / card.model
    if not path.is_file():
        raise UserError(f"{model_dir}: no model file {card.model}")
    return Predictor(card, models.load_model(path))


def predict(predictor: Predictor, uris: list[str], config: storage.StorageConfig,
            batch_size: int = 32) -> list[dict]:
    """One row per URI, in order (see ``cxrpipe.predict.output``); rejects never raise."""
    params = inputs.primary_params(predictor.card.render)
    rows = []
    for start in range(0, len(uris), batch_size):
        batch = uris[start:start + batch_size]
        rows.extend(_rows(predictor, batch, [inputs.prepare(u, params, config) for u in batch]))
    return rows


def _rows(predictor: Predictor, uris: list[str], prepared: list) -> list[dict]:
    card = predictor.card
    ok = [p for p in prepared if not isinstance(p, ImageRejected)]
    scores = iter(predictor.scores(ok))
    thresholds = card.threshold_values()
    return [output.rejected_row(u, card.classes, p) if isinstance(p, ImageRejected)
            else output.ok_row(u, card.classes, next(scores), thresholds)
            for u, p in zip(uris, prepared)]
