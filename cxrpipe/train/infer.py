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

from cxrpipe import heatmaps, storage
from cxrpipe.errors import ImageRejected, UserError
from cxrpipe.predict import explain, inputs, output
from cxrpipe.train import data, gradcam, modeldir, models

log = logging.getLogger(__name__)


@dataclass
class Predictor:
    """A model directory's classifier and card, loaded once."""

    card: modeldir.ModelCard
    model: keras.Model
    _cam: gradcam.GradCam | None = None

    def cam(self) -> gradcam.GradCam:
        """The classifier's Grad-CAM, built on first use."""
        if self._cam is None:
            self._cam = gradcam.GradCam(gradcam.explainer(self.model))
        return self._cam

    def pixels(self, jpegs: list[bytes]) -> tf.Tensor:
        """The model's input batch, float32 (n, size, size, 3), from stored-form JPEGs."""
        card = self.card
        return tf.stack([data.decode_image(tf.constant(j), card.image_size, card.crop_fraction)
                         for j in jpegs])

    def scores(self, pixels: tf.Tensor) -> np.ndarray:
        """Per-class probabilities of a ``pixels`` batch, (n, classes) float64, in the card's
        class order."""
        return self.model(pixels, training=False).numpy().astype(np.float64)


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


@dataclass(frozen=True)
class Explain:
    """Where heatmaps go (a folder or ``s3://`` prefix) and which classes (``explain.parse_choice``)."""

    out: str
    choice: str | tuple[str, ...] = explain.AUTO


def predict(predictor: Predictor, uris: list[str], config: storage.StorageConfig,
            batch_size: int = 32, explain_to: Explain | None = None) -> list[dict]:
    """One row per URI, in order (see ``cxrpipe.predict.output``); rejects never raise.

    With ``explain_to``, each scored input's heatmaps are written there as PNGs, listed in
    ``explain.INDEX_FILE`` (rejects get none).
    """
    if explain_to is not None and predictor.card.crop_fraction < 1:
        raise UserError(f"--explain: the model was trained with --crop-fraction {predictor.card.crop_fraction}; "
                        f"heatmaps are drawn over whole images only (not built yet for center crops)")
    params = inputs.primary_params(predictor.card.render)
    rows, entries = [], []
    for start in range(0, len(uris), batch_size):
        batch = uris[start:start + batch_size]
        prepared = [inputs.prepare(u, params, config) for u in batch]
        ok = [p for p in prepared if not isinstance(p, ImageRejected)]
        pixels = predictor.pixels(ok) if ok else None  # decoded once, for scores and maps
        batch_rows = _rows(predictor, batch, prepared, pixels)
        if explain_to is not None and pixels is not None:
            entries.extend(_explain(predictor, start, batch_rows, ok, pixels, explain_to, config))
        rows.extend(batch_rows)
    if explain_to is not None:
        storage.write_bytes(storage.join(explain_to.out, explain.INDEX_FILE), explain.index_csv(entries), config)
    return rows


def _explain(predictor: Predictor, start: int, rows: list[dict], jpegs: list[bytes], pixels: tf.Tensor,
             to: Explain, config: storage.StorageConfig) -> list[dict]:
    """Write the heatmaps of one batch's scored inputs (``jpegs`` and ``pixels`` theirs, in
    order); their ``heatmaps.csv`` entries."""
    card = predictor.card
    numbers = [start + i for i, row in enumerate(rows) if row["status"] == "ok"]
    scored = [(n, rows[n - start], jpeg) for n, jpeg in zip(numbers, jpegs)]
    wanted = [explain.chosen(to.choice, card.classes, _probabilities(row, card.classes),
                             card.threshold_values()) for _, row, _ in scored]
    union = sorted({c for chosen in wanted for c in chosen})
    maps, _ = predictor.cam()(pixels, union)
    entries = []
    for (number, row, jpeg), chosen, image_maps in zip(scored, wanted, maps):
        gray = data.decode_gray(tf.constant(jpeg)).numpy()[..., 0]
        for c in chosen:
            entries.append(_write_heatmap(number, row, card.classes[c], gray,
                                          image_maps[union.index(c)], to, config))
    return entries


def _probabilities(row: dict, classes) -> list[float]:
    return [row[f"probability:{c}"] for c in classes]


def _write_heatmap(number: int, row: dict, name: str, gray, cam, to: Explain,
                   config: storage.StorageConfig) -> dict:
    """The overlay on the stored-size image the model's input is resized from."""
    file = explain.heatmap_name(number, row["input"], name)
    png = heatmaps.encode_png(heatmaps.overlay(gray, heatmaps.normalise(cam)))
    storage.write_bytes(storage.join(to.out, file), png, config)
    return {"heatmap": file, "row": number, "input": row["input"], "class": name,
            "probability": row[f"probability:{name}"], "positive": row[f"positive:{name}"]}


def _rows(predictor: Predictor, uris: list[str], prepared: list, pixels: tf.Tensor | None) -> list[dict]:
    card = predictor.card
    scores = iter(predictor.scores(pixels) if pixels is not None else ())
    thresholds = card.threshold_values()
    return [output.rejected_row(u, card.classes, p) if isinstance(p, ImageRejected)
            else output.ok_row(u, card.classes, next(scores), thresholds)
            for u, p in zip(uris, prepared)]
