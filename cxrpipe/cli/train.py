"""`cxrpipe train {autoencoders,classifier}` and `cxrpipe evaluate`: parsers and handlers.

Defaults are the trainer's own (``cxrpipe.train.settings``, which holds no TensorFlow);
TensorFlow is imported only when a command runs, so ``--help`` works without the train extra.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import storage
from ..errors import UserError
from ..flagtypes import (ACCUMULATE, BINS, COUNT, CROP, DROPOUT, MAP_THRESHOLD, MODEL_DIRS, POSITIVE, RECALL,
                         RESAMPLES, VERSION)
from ..train.settings import BACKBONES, DISTRIBUTE, INPUT_SHARDING, EvalSettings, Settings
from .options import add_classes, add_seed, add_version, group, storage_config

PROGRESS = {"bar": 1, "epoch": 2, "none": 0}
WEIGHTS = "none"   # Settings.weights None, spelled as the flag takes it


def register(subparsers, parents) -> None:
    """Add `train` (with its stages) and `evaluate` to the CLI's ``subparsers``."""
    train = subparsers.add_parser(
        "train", help="train the per-class autoencoders, then the classifier, from shards",
        description="Train on a shard dataset, reading it through its manifest. First "
                    "`train autoencoders` (one per class), then `train classifier` with the same "
                    "--out; then `cxrpipe evaluate --out DIR`.")
    stages = train.add_subparsers(dest="stage", required=True, metavar="STAGE", help="autoencoders or classifier")
    common = [_common_options(), *parents]
    p = stages.add_parser("autoencoders", parents=common,
                          help="one convolutional autoencoder per class, on its class partition")
    p.add_argument("--ae-size", type=COUNT, default=Settings.ae_size,
                   help="side of the gray view the autoencoders reconstruct (a multiple of 8)")
    p.set_defaults(handler=train_autoencoders)
    p = stages.add_parser("classifier", parents=common,
                          help="backbone features + reconstruction errors -> N-way sigmoid head")
    _classifier_options(p)
    p.set_defaults(handler=train_classifier)
    _register_evaluate(subparsers, parents)


def _common_options() -> argparse.ArgumentParser:
    p = group()
    p.add_argument("--dataset", required=True, metavar="URI", help="a shard dataset root (s3:// or a folder)")
    add_version(p, "--dataset")
    p.add_argument("--out", required=True, metavar="DIR", help="local folder for models, checkpoints and logs")
    add_classes(p, "to train", "as the manifest spells them; every class with training shards")
    p.add_argument("--image-size", type=COUNT, default=Settings.image_size,
                   help=f"side of the backbone's input in pixels {COUNT}")
    p.add_argument("--crop-fraction", type=CROP, default=Settings.crop_fraction, metavar="F",
                   help="below 1: resize to --image-size/F, train on seeded random crops of "
                        "--image-size and evaluate/predict on the center crop (0.875: 256 -> 224, "
                        f"1024 -> 896); 1: the whole image resized {CROP}")
    p.add_argument("--batch-size", type=COUNT, default=Settings.batch_size, help=f"global batch size {COUNT}")
    p.add_argument("--accumulate", type=ACCUMULATE, default=Settings.accumulate, metavar="N",
                   help="average the gradients of N batches into one update (an effective batch "
                        f"of N x --batch-size) {ACCUMULATE}")
    p.add_argument("--epochs", type=COUNT, default=Settings.epochs,
                   help=f"total epochs (a resumed run trains the rest) {COUNT}")
    p.add_argument("--steps-per-epoch", type=COUNT, default=Settings.steps_per_epoch,
                   help=f"batches per epoch (default: one pass over the training split) {COUNT}")
    p.add_argument("--learning-rate", type=POSITIVE, default=Settings.learning_rate,
                   help=f"Adam's learning rate {POSITIVE}")
    p.add_argument("--mixed-precision", action="store_true",
                   help="float16 compute with float32 master weights (GPUs with tensor cores)")
    p.add_argument("--distribute", default=Settings.distribute, choices=DISTRIBUTE,
                   help="tf.distribute strategy: mirrored uses every GPU of this machine; multiworker "
                        "every device of every machine TF_CONFIG names (run it on each; only the "
                        "chief writes --out, which every worker must see to resume)")
    p.add_argument("--input-sharding", default=Settings.input_sharding, choices=INPUT_SHARDING,
                   help="how multiworker splits the training shards: by file (each worker reads its "
                        "own), by data (each reads all, keeps its share), or auto: file when every "
                        "worker gets 2+ local shard files, else data")
    p.add_argument("--sync-batch-norm", action="store_true",
                   help="batch normalization statistics over the global batch (one all-reduce per "
                        "layer and step), not each replica's share: N replicas then train as one would")
    add_seed(p, "the weights' initialization, the shard file order and the shuffle", Settings.seed)
    p.add_argument("--shuffle-buffer", type=COUNT, default=Settings.shuffle_buffer,
                   help=f"records held by the shuffle {COUNT}")
    p.add_argument("--restart", action="store_true", help="discard this stage's checkpoints in --out")
    _progress(p, "a progress bar, one line per epoch, or nothing")
    return p


def _progress(p, help_text: str) -> None:
    p.add_argument("--progress", default="bar", choices=list(PROGRESS), help=help_text)


def _classifier_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default=Settings.backbone, choices=BACKBONES,
                   help="Keras' Inception-ResNet-v2 (the original pipeline), DenseNet-121 (CheXNet), "
                        "ResNet-50 (the SageMaker recipe), MobileNetV2 (edge), or a compact CNN "
                        "for CPUs and tests")
    p.add_argument("--weights", default=WEIGHTS, metavar="PATH|imagenet|none",
                   help="backbone weights: a local .h5/.keras file, or imagenet: Keras' file in "
                        "~/.keras/models ($KERAS_HOME), downloaded there by Keras if absent")
    p.add_argument("--autoencoders", action=argparse.BooleanOptionalAction, default=Settings.autoencoders,
                   help="feed the per-class reconstruction errors to the head "
                        "(--no-autoencoders: the backbone's features alone)")
    p.add_argument("--dropout", type=DROPOUT, default=Settings.dropout, help=f"dropout before the head {DROPOUT}")


def _register_evaluate(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "evaluate", parents=parents,
        help="per-class ROC AUC with intervals, rates, calibration and confusion counts of a trained classifier",
        description="Score OUT/classifier.keras on the test split: per-class ROC AUC with a 95% "
                    "bootstrap interval, the mean AUC over all classes, NIH's 14 findings and "
                    "CheXpert's 5 competition findings, recall/precision at 0.5 and sensitivity/"
                    "specificity/precision at a threshold chosen on the validation split for "
                    "--target-recall, calibration (ECE and reliability curve), confusion counts; "
                    "writes OUT/metrics.json. With --models, scores an ensemble (soft and hard "
                    "voting) and writes OUT/ensemble.json; --report adds an HTML page.")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the folder `cxrpipe train` wrote (with --models: the ensemble's own folder)")
    p.add_argument("--models", type=MODEL_DIRS, default=None, metavar="DIR,DIR,...",
                   help="score these trained model directories as one ensemble: soft voting (mean "
                        "probability) and hard voting (majority at each member's tuned threshold), "
                        "each member's AUC beside the ensemble's; writes OUT/ensemble.json, no "
                        "member's files")
    p.add_argument("--report", default=None, metavar="DIR",
                   help="also write a self-contained HTML page of the evaluation to DIR/index.html: "
                        "ROC curves, AUC table, thresholds, confusion counts, training curves, "
                        "reliability curves, model card")
    p.add_argument("--dataset", default=None, metavar="URI",
                   help="shard dataset to score (default: the one the classifier trained on)")
    p.add_argument("--version", type=VERSION, default=None, metavar="N",
                   help="the dataset version scored (default: the one the classifier trained on; with "
                        f"--dataset, its current one) {VERSION}")
    p.add_argument("--split", default=EvalSettings.split, help="the split scored")
    p.add_argument("--threshold-split", default=EvalSettings.threshold_split,
                   help="the split the thresholds are chosen on")
    p.add_argument("--target-recall", type=RECALL, default=EvalSettings.target_recall,
                   help=f"recall the tuned threshold aims at (screening: few missed findings) {RECALL}")
    p.add_argument("--batch-size", type=COUNT, default=EvalSettings.batch_size, help=f"images per batch {COUNT}")
    p.add_argument("--bootstrap", type=RESAMPLES, default=EvalSettings.bootstrap, metavar="N",
                   help=f"resamples of the test cases for the AUCs' 95%% intervals (0: none) {RESAMPLES}")
    add_seed(p, "the bootstrap's resamples", EvalSettings.seed)
    p.add_argument("--calibration-bins", type=BINS, default=EvalSettings.calibration_bins, metavar="N",
                   help=f"equal-width probability bins of the ECE and the reliability curve {BINS}")
    p.add_argument("--boxes", default=None, metavar="FILE",
                   help="NIH's BBox_List_2017.csv (path or s3:// URI): score the Grad-CAM maps against "
                        "the radiologists' boxes on the scored split (peak hit rate, IoU) into metrics.json")
    p.add_argument("--box-threshold", type=MAP_THRESHOLD, default=EvalSettings.box_threshold, metavar="F",
                   help=f"with --boxes: the IoU's region is the map at or above F times its maximum {MAP_THRESHOLD}")
    _progress(p, "a progress bar or nothing")
    p.set_defaults(handler=evaluate)


def settings(args) -> Settings:
    """The ``Settings`` of parsed `train` arguments (values were checked by the parser)."""
    stage = {"ae_size": args.ae_size} if args.stage == "autoencoders" else {
        "backbone": args.backbone, "weights": args.weights, "autoencoders": args.autoencoders,
        "dropout": args.dropout}
    return Settings(
        dataset=args.dataset, out=_local_out(args.out), storage=storage_config(args), version=args.version,
        classes=args.classes,
        image_size=args.image_size, batch_size=args.batch_size, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, learning_rate=args.learning_rate,
        mixed_precision=args.mixed_precision, distribute=args.distribute,
        input_sharding=args.input_sharding, sync_batch_norm=args.sync_batch_norm, seed=args.seed,
        crop_fraction=args.crop_fraction, accumulate=args.accumulate,
        shuffle_buffer=args.shuffle_buffer, restart=args.restart, verbose=PROGRESS[args.progress],
        **stage)


def _local_out(out: str) -> Path:
    if storage.is_s3(out):
        raise UserError(f"--out {out}: give a local folder (copy it to S3 afterwards)")
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _trainer(module: str):
    """Import a trainer module, TensorFlow with it, quietly and with a clear error if missing."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import importlib

        return importlib.import_module(f"cxrpipe.train.{module}")
    except ImportError as exc:
        if "tensorflow" in str(exc) or "keras" in str(exc):
            raise UserError("the trainer needs TensorFlow: pip install 'cxrpipe[train]'") from None
        raise


def train_autoencoders(args) -> int:
    loop = _trainer("loop")
    results = loop.train_autoencoders(settings(args), announce=print)
    for name, result in results.items():
        print(f"autoencoder {name}: {result.path}  (loss {_last(result.history, 'loss')})")
    return 0


def train_classifier(args) -> int:
    loop = _trainer("loop")
    s = settings(args)
    result = loop.train_classifier(s, announce=print)
    print(f"classifier: {result.path}  (loss {_last(result.history, 'loss')}, "
          f"val AUC {_last(result.history, 'val_auc')})")
    print(f"next: cxrpipe evaluate --out {s.out}")
    return 0


def _last(history: dict, key: str) -> str:
    values = history.get(key) or []
    return f"{values[-1]:.4f}" if values else "n/a"


def evaluate(args) -> int:
    s = EvalSettings(
        out=Path(args.out), dataset=args.dataset, storage=storage_config(args), version=args.version,
        split=args.split,
        threshold_split=args.threshold_split or None, target_recall=args.target_recall,
        batch_size=args.batch_size, verbose=PROGRESS[args.progress], bootstrap=args.bootstrap,
        seed=args.seed, calibration_bins=args.calibration_bins, boxes=args.boxes,
        box_threshold=args.box_threshold)
    if args.models and args.boxes:
        raise UserError("--boxes scores one model's attention maps: not with --models")
    from ..report import modelbuild

    if args.report:
        modelbuild.check_report_dir(args.report)
    report, models = _evaluate_ensemble(s, args.models) if args.models else _evaluate_one(s)
    if args.report:
        print(f"report: {modelbuild.write_model_report(args.report, report, models, s.storage)}")
    return 0


def _evaluate_one(s: EvalSettings) -> tuple[dict, list[Path]]:
    module = _trainer("evaluate")
    metrics = _trainer("metrics")
    report = module.evaluate(s)
    print(metrics.format_report(report))
    if "localization" in report:
        from ..boxes import format_localization

        print(format_localization(report["localization"]))
    print(f"\nmetrics: {s.out / module.METRICS_FILE}")
    return report, [s.out]


def _evaluate_ensemble(s: EvalSettings, dirs: tuple[str, ...]) -> tuple[dict, list[Path]]:
    module = _trainer("ensemble")
    voting = _trainer("voting")
    metrics = _trainer("metrics")
    members = [Path(d) for d in dirs]
    report = module.evaluate_ensemble(s, tuple(members))
    print(metrics.format_report(report["soft"]))
    print("\nensemble (soft vote above) and its members\n" + voting.format_ensemble(report))
    print(f"\nmetrics: {s.out / module.ENSEMBLE_FILE}")
    return report, members
