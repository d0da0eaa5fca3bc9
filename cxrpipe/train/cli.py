"""`cxrpipe train {autoencoders,classifier}` and `cxrpipe evaluate`: flags and handlers.

Nothing here imports TensorFlow until a command runs, so `cxrpipe --help` stays fast and
works where the ``train`` extra is not installed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from cxrpipe import storage
from cxrpipe.errors import UserError

PROGRESS = {"bar": 1, "epoch": 2, "none": 0}


def register(subparsers, parents, formatter_class) -> None:
    """Add `train` (with its stages) and `evaluate` to the CLI's subcommands.

    Args:
        subparsers: the ``add_subparsers`` object of the main parser.
        parents: shared option parsers (storage options).
        formatter_class: the CLI's help formatter.
    """
    train = subparsers.add_parser(
        "train", formatter_class=formatter_class,
        help="train the per-class autoencoders, then the classifier, from shards",
        description="Train on a shard dataset, reading it through its manifest. First "
                    "`train autoencoders` (one per class), then `train classifier` with the same "
                    "--out; then `cxrpipe evaluate --out DIR`.")
    stages = train.add_subparsers(dest="stage", required=True, metavar="STAGE",
                                  help="autoencoders or classifier")
    common = [_common_options(), *parents]
    p = stages.add_parser("autoencoders", parents=common, formatter_class=formatter_class,
                          help="one convolutional autoencoder per class, on its class partition")
    p.add_argument("--ae-size", type=int, default=64,
                   help="side of the gray view the autoencoders reconstruct (a multiple of 8)")
    p.set_defaults(handler=train_autoencoders)
    p = stages.add_parser("classifier", parents=common, formatter_class=formatter_class,
                          help="backbone features + reconstruction errors -> N-way sigmoid head")
    _classifier_options(p)
    p.set_defaults(handler=train_classifier)
    _register_evaluate(subparsers, parents, formatter_class)


def _common_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--dataset", required=True, metavar="URI", help="a shard dataset root (s3:// or a folder)")
    p.add_argument("--out", required=True, metavar="DIR", help="local folder for models, checkpoints and logs")
    p.add_argument("--classes", default=None,
                   help="comma list of classes to train (default: every class with training shards)")
    p.add_argument("--image-size", type=int, default=299, help="side of the backbone's input in pixels")
    p.add_argument("--batch-size", type=int, default=32, help="global batch size")
    p.add_argument("--epochs", type=int, default=10, help="total epochs (a resumed run trains the rest)")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="batches per epoch (default: one pass over the training split)")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's learning rate")
    p.add_argument("--mixed-precision", action="store_true",
                   help="float16 compute with float32 master weights (GPUs with tensor cores)")
    p.add_argument("--distribute", default="none", choices=["none", "mirrored"],
                   help="tf.distribute strategy: mirrored uses every GPU of this machine")
    p.add_argument("--seed", type=int, default=0, help="seed of initialization, file order and shuffle")
    p.add_argument("--shuffle-buffer", type=int, default=1024, help="records held by the shuffle")
    p.add_argument("--restart", action="store_true", help="discard this stage's checkpoints in --out")
    p.add_argument("--progress", default="bar", choices=list(PROGRESS),
                   help="a progress bar, one line per epoch, or nothing")
    return p


def _classifier_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default="inception_resnet_v2", choices=["inception_resnet_v2", "small"],
                   help="Keras' Inception-ResNet-v2, or a compact CNN for CPUs and tests")
    p.add_argument("--weights", default="none", metavar="PATH|imagenet|none",
                   help="backbone weights: a local .h5/.keras file, or imagenet when Keras' file "
                        "is already in ~/.keras/models (nothing is downloaded at run time)")
    p.add_argument("--autoencoders", action=argparse.BooleanOptionalAction, default=True,
                   help="feed the per-class reconstruction errors to the head "
                        "(--no-autoencoders: the backbone's features alone)")
    p.add_argument("--dropout", type=float, default=0.2, help="dropout before the head")


def _register_evaluate(subparsers, parents, formatter_class) -> None:
    p = subparsers.add_parser(
        "evaluate", parents=parents, formatter_class=formatter_class,
        help="per-class ROC AUC, recall/precision and confusion counts of a trained classifier",
        description="Score OUT/classifier.keras on the test split: per-class ROC AUC and mean "
                    "AUC, recall/precision at 0.5 and at a threshold chosen on the validation "
                    "split for --target-recall, confusion counts; writes OUT/metrics.json.")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder `cxrpipe train` wrote")
    p.add_argument("--dataset", default=None, metavar="URI",
                   help="shard dataset to score (default: the one the classifier trained on)")
    p.add_argument("--split", default="test", help="the split scored")
    p.add_argument("--threshold-split", default="val", help="the split the thresholds are chosen on")
    p.add_argument("--target-recall", type=float, default=0.9,
                   help="recall the tuned threshold aims at (screening: few missed findings)")
    p.add_argument("--batch-size", type=int, default=32, help="images per batch")
    p.add_argument("--progress", default="bar", choices=list(PROGRESS), help="a progress bar or nothing")
    p.set_defaults(handler=evaluate)


def settings(args):
    """The ``loop.Settings`` of parsed `train` arguments.

    Raises:
        UserError: a value out of range (the message names the flag).
    """
    from cxrpipe.train.loop import Settings

    for flag in ("image_size", "batch_size", "epochs", "shuffle_buffer"):
        _at_least(flag, getattr(args, flag), 1)
    if args.steps_per_epoch is not None:
        _at_least("steps_per_epoch", args.steps_per_epoch, 1)
    if not args.learning_rate > 0:
        raise UserError(f"--learning-rate must be positive, got {args.learning_rate}")
    stage = {"ae_size": args.ae_size} if args.stage == "autoencoders" else {
        "backbone": args.backbone, "weights": args.weights, "autoencoders": args.autoencoders,
        "dropout": _dropout(args.dropout)}
    return Settings(
        dataset=args.dataset, out=_local_out(args.out), storage=_config(args), classes=args.classes,
        image_size=args.image_size, batch_size=args.batch_size, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, learning_rate=args.learning_rate,
        mixed_precision=args.mixed_precision, distribute=args.distribute, seed=args.seed,
        shuffle_buffer=args.shuffle_buffer, restart=args.restart, verbose=PROGRESS[args.progress],
        **stage)


def _at_least(flag: str, value: int, low: int) -> None:
    if value < low:
        raise UserError(f"--{flag.replace('_', '-')} must be at least {low}, got {value}")


def _dropout(value: float) -> float:
    if not 0.0 <= value < 1.0:
        raise UserError(f"--dropout must be in [0, 1), got {value}")
    return value


def _local_out(out: str) -> Path:
    if storage.is_s3(out):
        raise UserError(f"--out {out}: give a local folder (copy it to S3 afterwards)")
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _config(args) -> storage.StorageConfig:
    return storage.StorageConfig.from_env(args.s3_endpoint)


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
    module = _trainer("evaluate")
    metrics = _trainer("metrics")
    _at_least("batch_size", args.batch_size, 1)
    report = module.evaluate(module.EvalSettings(
        out=Path(args.out), dataset=args.dataset, storage=_config(args), split=args.split,
        threshold_split=args.threshold_split or None, target_recall=args.target_recall,
        batch_size=args.batch_size, verbose=PROGRESS[args.progress]))
    print(metrics.format_report(report))
    print(f"\nmetrics: {Path(args.out) / module.METRICS_FILE}")
    return 0
