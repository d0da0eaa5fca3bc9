"""The training stages, `cxrpipe train autoencoders` and `cxrpipe train classifier`.

What a run leaves in its output folder OUT (local):

    OUT/autoencoders/{class}.keras   one autoencoder per class (spaces in names become _)
    OUT/classifier.keras             the combined model, with its optimizer state
    OUT/train_config.json            the model directory's card (``modeldir``): dataset, classes,
                                     input size and transform, the dataset's RenderParams
    OUT/checkpoints/{stage}/         weights, optimizer state and epoch after every epoch
    OUT/checkpoints/{stage}.json     the settings those checkpoints belong to
    OUT/logs/{stage}/                TensorBoard (`tensorboard --logdir OUT/logs`)
    OUT/logs/{stage}.csv             one row per epoch: loss and metrics, training and validation
                                     (read by `cxrpipe evaluate --report` without TensorFlow)

Under ``--distribute multiworker`` only the chief writes OUT; see ``distribute``.

A stage run again with the same OUT resumes after its last finished epoch; ``--epochs`` is
the total, so a finished stage re-run with a larger ``--epochs`` trains only the new epochs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras

from cxrpipe import labels, storage
from cxrpipe.dataset import Dataset, open_dataset
from cxrpipe.errors import UserError
from cxrpipe.train import backbones, data, distribute, modeldir, models, sources
from cxrpipe.train.losses import MaskedAUC, WeightedBinaryCrossentropy
from cxrpipe.train.settings import Settings  # re-exported: the CLI reads it without TensorFlow

log = logging.getLogger(__name__)

# The settings each stage's checkpoints depend on: resuming under others is refused.
_COMMON = ("dataset", "image_size", "batch_size", "learning_rate", "mixed_precision", "seed",
           "shuffle_buffer", "crop_fraction", "accumulate")
AUTOENCODER_SETTINGS = _COMMON + ("ae_size",)
CLASSIFIER_SETTINGS = _COMMON + ("backbone", "weights", "autoencoders", "dropout")


@dataclass
class StageResult:
    """A trained model, where it was saved, and the epochs this run trained (0-based)."""

    model: keras.Model
    path: Path
    epochs: list[int]
    history: dict


def train_autoencoders(s: Settings, announce=log.info) -> dict[str, StageResult]:
    """Train one autoencoder per class on its training partition; save each.

    ``announce`` receives one line before each class's training (the CLI prints it).

    Raises:
        UserError: bad settings, an unknown class, or a class without training shards.
    """
    placement = distribute.start(s.distribute)  # before any other TensorFlow op
    source = open_dataset(s.dataset, s.storage, s.version).require_shards()
    classes = _classes(source, s)
    keras.utils.set_random_seed(s.seed)
    with distribute.workdir(placement, s.out, s.restart) as out:
        return {name: _train_autoencoder(s, placement, out, source, name, announce) for name in classes}


def _train_autoencoder(s: Settings, placement: distribute.Placement, out: Path, source: Dataset,
                       name: str, announce) -> StageResult:
    manifest, slug = source.manifest, labels.class_dirname(name)
    stream = _stream(s, source, ())
    train = data.autoencoder_dataset(source, sources.TRAIN, name, stream, s.ae_size, training=True)
    train, how = _split(s, placement, source, train, sources.shard_paths(manifest, sources.TRAIN, name))
    steps = s.steps_per_epoch or sources.steps(
        sources.record_count(manifest, sources.TRAIN, name), s.batch_size)
    val = _validation(s, placement, sources.record_count(manifest, sources.VAL, name), lambda: (
        data.autoencoder_dataset(source, sources.VAL, name, stream, s.ae_size, training=False)))
    announce(f"autoencoder {name}: epochs {s.epochs} x {steps} steps x batch {s.batch_size}"
             + _distributed(s, placement, how))
    fingerprint = {**_fingerprint(s, AUTOENCODER_SETTINGS), "class": name}
    model, history = _fit(s, placement, out, f"autoencoder-{slug}", fingerprint,
                          lambda: models.build_autoencoder(s.ae_size, name=f"autoencoder_{slug}"),
                          "mse", [], train, steps, val)
    path = autoencoder_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return StageResult(model, autoencoder_path(s.out, name), history.epoch, history.history)


def autoencoder_path(out: Path, name: str) -> Path:
    return Path(out) / "autoencoders" / f"{labels.class_dirname(name)}.keras"


def train_classifier(s: Settings, announce=log.info) -> StageResult:
    """Train the combined classifier with the N/N_l-weighted loss; save it and its config.

    ``announce`` receives a line on what is trained (the CLI prints it).

    Raises:
        UserError: bad settings, an unknown class, missing autoencoders (train them first or
            pass ``autoencoders=False``), or weights that cannot be used.
    """
    placement = distribute.start(s.distribute)  # before any other TensorFlow op
    source = open_dataset(s.dataset, s.storage, s.version).require_shards()
    manifest, classes = source.manifest, _classes(source, s)
    ae_paths = _autoencoder_paths(s, classes)
    card = _card(s, source, classes, ae_paths)
    keras.utils.set_random_seed(s.seed)
    train, steps, val, how = _classifier_inputs(s, placement, source, classes)
    loss = WeightedBinaryCrossentropy(sources.positive_weights(manifest, classes))
    announce(f"classifier: {s.backbone} at {s.image_size} px, {len(ae_paths)} autoencoders, "
             f"epochs {s.epochs} x {steps} steps x batch {s.batch_size}"
             + _distributed(s, placement, how) + "; positive weights N/N_l: "
             + ", ".join(f"{c} {w:g}" for c, w in zip(classes, loss.positive_weights)))

    def build() -> keras.Model:
        backbone = backbones.build_backbone(s.backbone, s.image_size, s.weights)
        autoencoders = [models.load_model(p) for p in ae_paths]
        return models.build_classifier(backbone, autoencoders, len(classes), s.image_size, s.dropout,
                                       backbones.BACKBONES[s.backbone].scaling)

    auc = MaskedAUC(multi_label=True, num_labels=len(classes), name="auc")
    fingerprint = {**_fingerprint(s, CLASSIFIER_SETTINGS), "classes": list(classes)}
    with distribute.workdir(placement, s.out, s.restart) as out:
        model, history = _fit(s, placement, out, "classifier", fingerprint, build, loss, [auc],
                              train, steps, val)
        model.save(out / card.model)  # every worker: saving may need their collectives
    if placement.chief:
        modeldir.write(s.out, card)
    return StageResult(model, Path(s.out) / card.model, history.epoch, history.history)


def _classifier_inputs(s: Settings, placement: distribute.Placement, source: Dataset, classes):
    """The training stream, its steps per epoch, the validation pass (None without one), and
    how the stream is split between workers (None for one process)."""
    manifest, stream = source.manifest, _stream(s, source, classes)
    train = data.classifier_dataset(source, sources.TRAIN, stream, training=True)
    train, how = _split(s, placement, source, train, sources.shard_paths(manifest, sources.TRAIN))
    steps = s.steps_per_epoch or sources.steps(sources.primary_count(manifest, sources.TRAIN), s.batch_size)
    count = sources.primary_count(manifest, sources.VAL) if sources.shard_paths(manifest, sources.VAL) else 0
    val = _validation(s, placement, count, lambda: (
        data.classifier_dataset(source, sources.VAL, stream, training=False)))
    return train, steps, val, how


def _split(s: Settings, placement: distribute.Placement, source: Dataset, train, paths):
    """The training stream marked with how workers split it, and that choice (None: one process)."""
    if placement.workers == 1:
        return train, None
    how = distribute.choose_sharding(s.input_sharding, len(paths), placement.workers,
                                     tf_reader=not storage.is_s3(source.root))
    return distribute.shard_input(train, how), how


def _validation(s: Settings, placement: distribute.Placement, count: int, make):
    """The validation pass ``make()`` over ``count`` records, whole on every worker
    (``distribute.unsplit``); None without records."""
    if not count:
        return None
    return distribute.unsplit(make()) if placement.workers > 1 else make()


def _distributed(s: Settings, placement: distribute.Placement, how: str | None) -> str:
    """The announcement's words on distribution (none for the default strategy)."""
    if s.distribute == "none":
        return ""
    return "; " + distribute.describe(placement, s.batch_size, how)


def _autoencoder_paths(s: Settings, classes) -> list[Path]:
    if not s.autoencoders:
        return []
    paths = [autoencoder_path(s.out, c) for c in classes]
    missing = [c for c, p in zip(classes, paths) if not p.is_file()]
    if missing:
        raise UserError(f"no autoencoder for {', '.join(missing)} under {Path(s.out) / 'autoencoders'}: "
                        f"run `cxrpipe train autoencoders` with the same --out first, "
                        f"or pass --no-autoencoders")
    return paths


def _card(s: Settings, source: Dataset, classes, ae_paths) -> modeldir.ModelCard:
    """What prediction will need, taken before training so that a dataset whose manifest
    cannot say how its JPEGs were made fails before hours of training, not after."""
    try:
        render = source.manifest.render_params()
    except ValueError as exc:
        raise UserError(f"{source.root}: {exc}") from None
    return modeldir.ModelCard(
        dataset=s.dataset, dataset_version=source.manifest.version, classes=tuple(classes),
        image_size=s.image_size, crop_fraction=s.crop_fraction, render=render,
        backbone=s.backbone, weights=s.weights, mixed_precision=s.mixed_precision,
        autoencoders=tuple(str(p.relative_to(s.out)) for p in ae_paths))


def _classes(source: Dataset, s: Settings) -> tuple[str, ...]:
    try:
        return sources.select_classes(source.manifest, s.classes)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _stream(s: Settings, source: Dataset, classes) -> data.Stream:
    return data.Stream(
        image_size=s.image_size, batch_size=s.batch_size, crop_fraction=s.crop_fraction,
        class_index=sources.class_index(source.manifest, classes),
        mask_uncertain=sources.uncertain_policy(source.manifest) == "ignore",
        seed=s.seed, shuffle_buffer=s.shuffle_buffer)


def _fit(s: Settings, placement: distribute.Placement, out: Path, stage: str, fingerprint: dict,
         build, loss, metrics, train, steps, val):
    """Build and compile under the strategy and precision asked for, then fit with
    checkpoints (resumed when present), TensorBoard logs and a progress bar, all under ``out``."""
    backup = out / distribute.CHECKPOINTS / stage
    _guard_resume(backup, fingerprint, s.restart)
    with precision(s.mixed_precision), placement.strategy.scope():
        model = build()
        if s.sync_batch_norm:
            distribute.synchronize_batch_norm(model)
        model.compile(optimizer=optimizer(s), loss=loss, metrics=metrics)
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if s.restart:
        (logs / f"{stage}.csv").unlink(missing_ok=True)
    # append: a resumed run adds its epochs to the rows of the run it continues
    callbacks = [keras.callbacks.BackupAndRestore(str(backup), delete_checkpoint=False),
                 keras.callbacks.CSVLogger(str(logs / f"{stage}.csv"), append=True),
                 *_tensorboard(logs / stage)]
    history = model.fit(train, epochs=s.epochs, steps_per_epoch=steps, validation_data=val,
                        callbacks=callbacks, verbose=s.verbose, shuffle=False)
    return model, history


def optimizer(s: Settings) -> keras.optimizers.Optimizer:
    """Adam; with ``accumulate`` N > 1, Keras' gradient accumulation: one update every N
    batches with their mean gradient (batch 256 as 32 x 8 on a GPU that holds 32)."""
    steps = s.accumulate if s.accumulate > 1 else None
    return keras.optimizers.Adam(s.learning_rate, gradient_accumulation_steps=steps)


def _tensorboard(logs: Path) -> list:
    """The TensorBoard callback, or none (with a warning) where TensorBoard is not installed:
    tf.summary needs it, and a missing log viewer should not stop a training run."""
    if importlib.util.find_spec("tensorboard") is None:
        log.warning("TensorBoard is not installed: no logs in %s (pip install 'cxrpipe[train]')", logs)
        return []
    return [keras.callbacks.TensorBoard(str(logs), write_graph=False, profile_batch=0)]


def _fingerprint(s: Settings, names: tuple[str, ...]) -> dict:
    """The settings a stage's checkpoint depends on (not the epochs, progress or strategy)."""
    return {name: getattr(s, name) for name in names}


def _guard_resume(backup: Path, fingerprint: dict, restart: bool) -> None:
    """Drop the stage's checkpoints when asked; refuse to resume them under other settings."""
    record = backup.with_suffix(".json")
    if restart:
        shutil.rmtree(backup, ignore_errors=True)
        record.unlink(missing_ok=True)
    if backup.exists() and record.is_file():
        saved = json.loads(record.read_text())
        changed = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
        if changed:
            raise UserError(f"the checkpoints in {backup} were made with other settings "
                            f"({', '.join(changed)}): pass --restart or another --out")
        log.warning("resuming from the checkpoint in %s", backup)
    record.parent.mkdir(parents=True, exist_ok=True)
    # written whole then renamed: another worker may be copying the checkpoints to resume
    partial = record.with_suffix(".json.partial")
    partial.write_text(json.dumps(fingerprint, indent=2, sort_keys=True) + "\n")
    os.replace(partial, record)


@contextlib.contextmanager
def precision(mixed: bool):
    """Build models under ``mixed_float16`` (float16 compute, float32 variables) or float32.

    Keras keeps the policy per layer, so the global one is restored on leaving.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
