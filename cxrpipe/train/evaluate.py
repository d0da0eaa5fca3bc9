"""`cxrpipe evaluate`: score a trained classifier on the test split, per class.

Thresholds for the target recall are chosen on the validation split (screening wants few
missed findings) and applied to the test split; the report goes to OUT/metrics.json and the
tuned thresholds into the model directory's card (``modeldir``), where `predict` reads them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cxrpipe.dataset import Dataset, open_dataset
from cxrpipe.errors import UserError
from cxrpipe.train import data, localize, metrics, modeldir, models, sources
from cxrpipe.train.modeldir import METRICS_FILE  # re-exported: the CLI names the file
from cxrpipe.train.settings import EvalSettings  # re-exported: the CLI reads it without TensorFlow

log = logging.getLogger(__name__)


def evaluate(s: EvalSettings) -> dict:
    """Score the classifier in ``s.out``; write and return the report (see ``metrics``).

    Raises:
        UserError: no trained classifier in ``s.out``, a dataset without the split or
            without the model's classes, or a target recall outside (0, 1].
    """
    if not 0.0 < s.target_recall <= 1.0:
        raise UserError(f"--target-recall must be in (0, 1], got {s.target_recall}")
    card = modeldir.read(s.out)
    if s.boxes and card.crop_fraction < 1:
        raise UserError(f"--boxes: {s.out} was trained with --crop-fraction {card.crop_fraction}; boxes "
                        f"are mapped to whole images only (not built yet for center crops)")
    box_list = localize.read_boxes(s.boxes, s.storage) if s.boxes else None  # a bad file fails first
    version = s.version if s.dataset or s.version else card.dataset_version
    source = open_dataset(s.dataset or card.dataset, s.storage, version).require_shards()
    classes = card.classes
    stream = _stream(source, classes, card, s.batch_size)
    model = models.load_model(Path(s.out) / card.model)
    test = predict(model, source, s.split, stream, s.verbose)
    tuning = _tuning_scores(model, source, stream, s)
    report = metrics.evaluation_report(classes, test, tuning, s.target_recall, resamples=s.bootstrap,
                                       seed=s.seed, bins=s.calibration_bins)
    report.update(dataset=source.root, model=str(Path(s.out) / card.model),
                  split=s.split, threshold_split=s.threshold_split if tuning else None)
    if box_list is not None:
        report["localization"] = localize.localization(
            model, source, s.split, list(classes), card.image_size, box_list, s.box_threshold, s.batch_size)
    (Path(s.out) / METRICS_FILE).write_text(json.dumps(report, indent=2) + "\n")
    modeldir.write(s.out, modeldir.with_thresholds(card, report))
    return report


def _stream(source: Dataset, classes, card: modeldir.ModelCard, batch_size: int) -> data.Stream:
    try:
        index = sources.class_index(source.manifest, classes)
    except ValueError as exc:
        raise UserError(f"{source.root} cannot score this model: {exc}") from None
    return data.Stream(card.image_size, batch_size, index, crop_fraction=card.crop_fraction,
                       mask_uncertain=sources.uncertain_policy(source.manifest) == "ignore")


def _tuning_scores(model, source: Dataset, stream: data.Stream, s: EvalSettings):
    """(labels, scores) of the threshold split, or None when there is none."""
    if not s.threshold_split:
        return None
    if not sources.shard_paths(source.manifest, s.threshold_split):
        log.warning("no %s split: no threshold for the target recall", s.threshold_split)
        return None
    return predict(model, source, s.threshold_split, stream, s.verbose)


def predict(model: keras.Model, source: Dataset, split: str, stream: data.Stream,
            verbose: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(labels, scores) of every primary record of ``split``, each of shape (cases, classes)."""
    dataset = data.classifier_dataset(source, split, stream, training=False)
    total = sources.steps(sources.primary_count(source.manifest, split), stream.batch_size)
    bar = keras.utils.Progbar(total, verbose=verbose, unit_name="batch") if verbose else None
    score = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    labels, scores = [], []
    for images, batch_labels in dataset:
        labels.append(batch_labels.numpy())
        scores.append(score(images).numpy())
        if bar is not None:
            bar.add(1)
    return np.concatenate(labels), np.concatenate(scores).astype(np.float64)
