"""`cxrpipe predict` and `cxrpipe export`: using a model directory `cxrpipe train` wrote.

TensorFlow is imported only when a command runs (see ``train._trainer``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .. import storage
from ..errors import UserError
from ..flagtypes import COUNT, IMAGES_PER_TASK
from ..predict import output
from ..predict.output import FORMATS
from .options import spark_options, storage_config
from .train import _trainer

EXPORTS = ("savedmodel", "tflite")
QUANTIZE = ("none", "dynamic")
BATCH = 32
TASK_IMAGES = 256


def register(subparsers, parents) -> None:
    """Add `predict` and `export` to the CLI's ``subparsers``."""
    p = subparsers.add_parser(
        "predict", parents=[*parents, spark_options()],
        help="findings on raw radiographs (PNG, JPEG, DICOM), preprocessed as the training data was",
        description="Per-class probabilities, and positive/negative at the thresholds `cxrpipe "
                    "evaluate` tuned (empty without them), for raw images: files, folders or "
                    "s3:// prefixes. Each image is preprocessed with the training dataset's own "
                    "parameters, through the code of `cxrpipe run`; an image preprocessing would "
                    "reject gets a row with the same reason.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or s3:// prefixes")
    p.add_argument("--model", required=True, metavar="DIR", help="a model directory `cxrpipe train` wrote")
    p.add_argument("--format", default="csv", choices=FORMATS, help="output format")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--out", default=None, metavar="URI",
                       help="file or s3:// object to write (default: standard output; parquet needs --out)")
    where.add_argument("--output", default=None, metavar="URI",
                       help="run as a Spark job (see --master): Parquet parts and _PREDICTIONS.json under URI")
    p.add_argument("--batch-size", type=COUNT, default=BATCH, help=f"images per model call {COUNT}")
    p.add_argument("--images-per-task", type=IMAGES_PER_TASK, default=TASK_IMAGES,
                   help=f"images per Spark task and Parquet part, with --output {IMAGES_PER_TASK}")
    _explain_options(p)
    p.set_defaults(handler=predict)
    p = subparsers.add_parser(
        "export", parents=parents, help="a SavedModel or TFLite model of a trained classifier",
        description="Export the classifier of --model DIR: input the preprocessed gray image as "
                    "`cxrpipe predict` makes it (uint8, the training JPEGs' size, one channel), "
                    "output one probability per class, named after the class.")
    p.add_argument("--model", required=True, metavar="DIR", help="a model directory `cxrpipe train` wrote")
    p.add_argument("--format", required=True, choices=EXPORTS, help="what to export")
    p.add_argument("--quantize", default="none", choices=QUANTIZE,
                   help="tflite only: dynamic-range quantization (int8 weights, float activations)")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="where to write (default: DIR/export/savedmodel or DIR/export/model[-dynamic].tflite)")
    p.set_defaults(handler=export)


def _explain_options(p) -> None:
    p.add_argument("--explain", default=None, metavar="DIR",
                   help="write Grad-CAM heatmap overlays (PNG) of each scored image into DIR (a folder "
                        "or s3:// prefix), named ROW-STEM-CLASS.png and listed in DIR/heatmaps.csv")
    p.add_argument("--explain-classes", default="auto", metavar="auto|all|NAMES",
                   help="with --explain: auto (the findings called positive, else the most probable "
                        "one), all, or a comma list of classes as the model's card spells them")


def predict(args) -> int:
    if args.output is not None:
        return predict_job(args)
    if args.master is not None:
        raise UserError("--master runs predict as a Spark job: give --output URI")
    if args.format == "parquet" and args.out is None:
        raise UserError("--format parquet: give --out FILE (Parquet is not written to a terminal)")
    from ..predict import inputs  # OpenCV: only when the command runs

    infer = _trainer("infer")
    config = storage_config(args)
    predictor = infer.load(Path(args.model))
    explain_to = _explain_to(args, infer, predictor.card.classes)
    if predictor.card.thresholds is None:
        print(f"cxrpipe predict: no tuned thresholds in {args.model}: probabilities only, positive:* "
              f"left empty (run `cxrpipe evaluate --out {args.model}`)", file=sys.stderr)
    uris = inputs.expand(args.inputs, config)
    rows = infer.predict(predictor, uris, config, args.batch_size, explain_to)
    body = output.WRITERS[args.format](rows, predictor.card.classes)
    if args.out is None:
        sys.stdout.write(body.decode())
    else:
        storage.write_bytes(args.out, body, config)
    rejected = sum(r["status"] == "rejected" for r in rows)
    print(f"cxrpipe predict: {len(rows) - rejected} predicted, {rejected} rejected", file=sys.stderr)
    if explain_to is not None:
        print(f"cxrpipe predict: heatmaps in {args.explain}, listed in "
              f"{storage.join(args.explain, 'heatmaps.csv')}", file=sys.stderr)
    return 0


def _explain_to(args, infer, classes):
    """``--explain``'s target, its class choice checked against the model's classes."""
    if args.explain is None:
        if args.explain_classes != "auto":
            raise UserError("--explain-classes: only with --explain DIR")
        return None
    from ..predict import explain

    try:
        return infer.Explain(args.explain, explain.parse_choice(args.explain_classes, classes))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def predict_job(args) -> int:
    if args.explain is not None:
        raise UserError("--explain: heatmaps are written by a local run (without --output); "
                        "explain the images you want to look at")
    from ..predict import batch, inputs
    from ..spark.session import spark_session

    config = storage_config(args)
    _trainer("modeldir").read(Path(args.model))  # a bad model directory: one line, before Spark starts
    uris = inputs.expand(args.inputs, config)
    spark = spark_session(args.master, app_name="cxrpipe predict")
    job = batch.Job(str(Path(args.model).resolve()), args.output, config, args.batch_size)
    manifest = batch.run(spark, job, uris, args.images_per_task)
    print(f"cxrpipe predict: {manifest['rows']} rows in {len(manifest['files'])} parts, rejects "
          f"{manifest['rejects'] or 'none'}: {storage.join(args.output, batch.MANIFEST)}", file=sys.stderr)
    return 0


def export(args) -> int:
    if args.quantize != "none" and args.format != "tflite":
        raise UserError(f"--quantize {args.quantize}: only with --format tflite")
    module = _trainer("export")
    path = module.export(Path(args.model), args.format, args.quantize,
                         Path(args.out) if args.out else None)
    print(f"exported: {path}")
    return 0
