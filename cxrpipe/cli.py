"""The `cxrpipe` command line. User mistakes exit 2 with one line; failed jobs exit 1."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

from . import __version__
from . import flagtypes as ft
from .errors import JobFailed, UserError
from .redact import RedactingFilter, redact
from .index import READERS, TableColumns
from .index.chexpert import VALID_AS
from .index.mimic import EXTENSIONS as MIMIC_EXTENSIONS
from .synth import LAYOUTS as SYNTH_LAYOUTS

log = logging.getLogger("cxrpipe")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's default in --help, and descriptions kept as written.

    Options without a value by default (None, off) say in their help what that means, so
    "(default: None)" is left out.
    """

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """A mistaken flag gets one line naming it, not the whole usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _storage_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--s3-endpoint", default=None, metavar="URL",
                        help="an S3-compatible endpoint (default: AWS_ENDPOINT_URL, else AWS)")
    parser.add_argument("--s3-region", default=None, metavar="REGION",
                        help="the buckets' AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the "
                             "profile, else the EC2 instance's own)")
    parser.add_argument("--s3-checksums", default="auto", choices=["auto", "on", "off"],
                        help="CRC32 checksums on uploads and reads: auto is on for AWS, off for --s3-endpoint "
                             "(many S3-compatible servers reject them)")
    parser.add_argument("--s3-part-mb", type=ft.PART_MB, default=16.0,
                        help=f"multipart part size for streamed shards, MiB {ft.PART_MB}")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="how much cxrpipe logs (Spark's own log stays at WARN)")
    return parser


def _spark_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--master", default=None,
                        help="Spark master URL (default: the spark-submit's, else local[*])")
    return parser


def _preprocess_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--dataset", required=True, choices=list(READERS),
                   help="the layout of the source dataset")
    p.add_argument("--index", default=None, metavar="URI",
                   help="the index file, gzip or not: Data_Entry_2017.csv (nih, any revision), "
                        "train.csv (chexpert), mimic-cxr-2.0.0-metadata.csv.gz (mimic), your CSV "
                        "(table); not for folders")
    p.add_argument("--images", required=True, metavar="URI",
                   help="the root the index's paths are relative to (folders: the dataset root)")
    p.add_argument("--output", required=True, metavar="URI", help="the dataset root to write")
    p.add_argument("--test-list", default=None, metavar="URI",
                   help="nih: the official test_list.txt: those images form the test split")
    p.add_argument("--valid-index", default=None, metavar="URI",
                   help="chexpert: valid.csv, kept as a split of its own (see --valid-as)")
    p.add_argument("--valid-as", default="val", choices=list(VALID_AS),
                   help="chexpert: the split --valid-index's images form")
    p.add_argument("--labels", default=None, metavar="URI",
                   help="mimic: the label file (default: mimic-cxr-2.0.0-chexpert.csv.gz beside "
                        "--index; name the -negbio one for NegBio's labels)")
    p.add_argument("--split-file", default=None, metavar="URI",
                   help="mimic: the official split (default: mimic-cxr-2.0.0-split.csv.gz beside --index)")
    p.add_argument("--mimic-files", default="jpg", choices=list(MIMIC_EXTENSIONS),
                   help="mimic: jpg (MIMIC-CXR-JPG) or dcm (MIMIC-CXR's DICOM files, same tree)")
    t = TableColumns()
    p.add_argument("--path-column", default=t.path, help="table: the column of image paths, relative to --images")
    p.add_argument("--patient-column", default=t.patient, help="table: the column of patient ids")
    p.add_argument("--view-column", default=None,
                   help="table: the column of views (PA, AP, ...); without it every image counts as frontal")
    p.add_argument("--split-column", default=None,
                   help="table: a column of official splits (train, val, test; blank: split by patient)")
    p.add_argument("--label-columns", default=None, metavar="A,B,...",
                   help="table: one column per class, valued 1, 0, -1 (uncertain) or blank")
    p.add_argument("--labels-column", default=None, metavar="NAME",
                   help="table: one column of class names joined by --label-separator")
    p.add_argument("--label-separator", default=t.separator, help="table: separator of --labels-column")
    p.add_argument("--split", default="0.7,0.1,0.2", help="train,val,test fractions, by patient")
    p.add_argument("--resplit", action="store_true",
                   help="ignore the official splits (folders, --test-list, --split-file; --valid-index "
                        "images are merged) and split by patient")
    p.add_argument("--seed", type=ft.SEED, default=0, help=f"seed of the patient split {ft.SEED}")
    p.add_argument("--classes", default=None,
                   help="comma list of class partitions to keep, as the dataset spells them; "
                        "Unlabeled: images with no positive class (default: all)")
    p.add_argument("--membership", default="any", choices=["any", "exclusive"],
                   help="exclusive: only images with this class alone (the pure sets)")
    p.add_argument("--uncertain", default="zeros", choices=["ones", "zeros", "ignore"],
                   help="CheXpert -1: how uncertain labels count (the mask is always kept)")
    p.add_argument("--views", default="all", choices=["all", "frontal"],
                   help="frontal: leave lateral views out (counted as excluded)")
    p.add_argument("--size", type=ft.OUTPUT_SIZE, default=299, help=f"output side in pixels {ft.OUTPUT_SIZE}")
    p.add_argument("--clahe-clip", type=ft.CLAHE_CLIP, default=2.0, help=f"CLAHE clip limit {ft.CLAHE_CLIP}")
    p.add_argument("--clahe-grid", type=ft.CLAHE_GRID, default=8, help=f"CLAHE tiles per side {ft.CLAHE_GRID}")
    p.add_argument("--clahe-at", default="output", choices=["output", "source"],
                   help="CLAHE after the resize (the original notebook) or at full resolution")
    p.add_argument("--flips", default="h,v,hv", help="any of h, v, hv, or none")
    p.add_argument("--augment-splits", default="train", help="splits that get the flips")
    p.add_argument("--jpeg-quality", type=ft.JPEG_QUALITY, default=95,
                   help=f"JPEG quality of the outputs {ft.JPEG_QUALITY}")
    p.add_argument("--resize", default="exact", choices=["exact", "fast"],
                   help="exact: one area resize (the reference); fast: an integer area shrink "
                        "first, about twice as fast, pixels slightly different (docs/performance.md)")
    decode = p.add_mutually_exclusive_group()
    decode.add_argument("--exact-decode", action="store_true",
                        help="decode every JPEG in full; by default a large JPEG is decoded at 1/2, 1/4 "
                             "or 1/8 scale where that keeps 3 times --size on its shorter side "
                             "(within 1 gray level, docs/performance.md)")
    decode.add_argument("--reduced-decode", action="store_true",
                        help="decode JPEGs at the smallest scale keeping --size, also with --clahe-at "
                             "source: faster still, pixels differ more (docs/performance.md)")
    p.add_argument("--max-pixels", type=ft.MAX_PIXELS, default=50_000_000,
                   help=f"larger images (by their header) are rejected before decoding {ft.MAX_PIXELS}")
    p.add_argument("--max-reject-fraction", type=ft.FRACTION, default=0.01,
                   help=f"above this share of rejected inputs the job fails and writes no manifest {ft.FRACTION}")
    p.add_argument("--images-per-task", type=ft.IMAGES_PER_TASK, default=128,
                   help="images per Spark task (fixes the output's part files, not the parallelism) "
                        f"{ft.IMAGES_PER_TASK}")
    return p


def _shard_filter_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--classes", default=None,
                   help="comma list of class partitions to write, as the manifest spells them; "
                        "Unlabeled: images with no positive class (default: all)")
    p.add_argument("--splits", default=None, help="comma list of splits to write (default: all)")
    p.add_argument("--membership", default="any", choices=["any", "exclusive"],
                   help="exclusive: only images with this class alone (the pure sets)")
    return p


def _shard_count_options() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    count = p.add_mutually_exclusive_group()
    count.add_argument("--num-shards", type=ft.NUM_SHARDS, default=None,
                       help=f"shards per (split, class) {ft.NUM_SHARDS}")
    count.add_argument("--shard-mb", type=ft.SHARD_MB, default=128.0,
                       help=f"target shard size in MB, used when --num-shards is not given {ft.SHARD_MB}")
    p.add_argument("--shard-seed", type=ft.SEED, default=0, help=f"seed of record order and shard choice {ft.SEED}")
    return p


def build_parser() -> argparse.ArgumentParser:
    from . import commands, emr_cli

    parser = _Parser(prog="cxrpipe", formatter_class=_Formatter,
                                     description="Chest radiographs to training data, at any scale.")
    parser.add_argument("--version", action="version", version=f"cxrpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store, spark = _storage_options(), _spark_options()

    p = sub.add_parser("preprocess", parents=[_preprocess_options(), spark, store], formatter_class=_Formatter,
                       help="raw images -> CLAHE/resized/flipped JPEGs + Parquet index + rejects + manifest")
    p.set_defaults(handler=commands.preprocess)

    p = sub.add_parser("shards", parents=[_shard_filter_options(), _shard_count_options(), spark, store],
                       formatter_class=_Formatter,
                       help="preprocessed JPEGs -> TFRecord shards per (split, class), filtered by class")
    p.add_argument("--input", required=True, metavar="URI", help="a preprocessed dataset root")
    p.add_argument("--output", required=True, metavar="URI", help="the shard dataset root to write")
    p.set_defaults(handler=commands.shards)

    p = sub.add_parser("run", parents=[_preprocess_options(), _shard_count_options(), spark, store],
                       formatter_class=_Formatter,
                       help="preprocess and shard in one Spark pass (the JPEGs are not read back)")
    p.set_defaults(handler=commands.run)

    p = sub.add_parser("synth", parents=[store], formatter_class=_Formatter,
                       help="a synthetic phantom dataset in the exact layout of a real one")
    p.add_argument("--layout", default="nih", choices=list(SYNTH_LAYOUTS),
                   help="the real dataset whose files and index format to imitate")
    p.add_argument("--out", required=True, metavar="URI", help="where to write it (s3:// or a folder)")
    p.add_argument("--n", type=ft.SYNTH_IMAGES, default=200, help=f"number of images {ft.SYNTH_IMAGES}")
    p.add_argument("--seed", type=ft.SEED, default=0, help=f"the same seed gives the same bytes {ft.SEED}")
    p.add_argument("--image-size", type=ft.SYNTH_SIDE, default=None,
                   help=f"largest side in pixels (default: the real dataset's) {ft.SYNTH_SIDE}")
    p.add_argument("--with-dicom", action="store_true",
                   help="nih: add the real chest CR from pydicom-data (RG1_UNCR.dcm) as one more row")
    p.set_defaults(handler=commands.synth)

    p = sub.add_parser("verify", parents=[spark, store], formatter_class=_Formatter,
                       help="re-read a dataset against its manifest; exit 1 on any mismatch (a Spark "
                            "job for S3 or large datasets, or with --master)")
    p.add_argument("uri", metavar="URI", help="a dataset root (preprocess, shards or run output)")
    p.add_argument("--strict", action="store_true",
                   help="files under the root that no manifest lists are an error, not a warning")
    p.set_defaults(handler=commands.verify)

    p = sub.add_parser("inspect", parents=[store], formatter_class=_Formatter,
                       help="counts per split x class, rejects by reason, class weights")
    p.add_argument("uri", metavar="URI", help="a dataset root (preprocess, shards or run output)")
    p.set_defaults(handler=commands.inspect)

    p = sub.add_parser("demo", parents=[spark, store], formatter_class=_Formatter,
                       help="synthetic NIH sample + a real DICOM -> preprocess + shards -> verify, locally")
    p.add_argument("--out", default="demo-out", metavar="DIR", help="folder for the raw sample and the dataset")
    p.add_argument("--n", type=ft.SYNTH_IMAGES, default=200, help=f"synthetic images {ft.SYNTH_IMAGES}")
    p.add_argument("--image-size", type=ft.SYNTH_SIDE, default=1024,
                   help=f"side of the synthetic PNGs (NIH's is 1024) {ft.SYNTH_SIDE}")
    p.set_defaults(handler=commands.demo)
    emr_cli.register(sub, [store])
    from . import report_cli
    report_cli.register(sub, [store], _Formatter)
    from .train import cli as train_cli  # imports no TensorFlow until `train`/`evaluate` runs
    train_cli.register(sub, [store], _Formatter)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    try:
        return args.handler(args) or 0
    except UserError as exc:
        print(redact(f"cxrpipe {args.command}: error: {exc}"), file=sys.stderr)
        return 2
    except JobFailed as exc:
        print(redact(f"cxrpipe {args.command}: failed: {exc}"), file=sys.stderr)
        return 1
    except Exception:  # a bug must surface with its traceback, but never with a secret in it
        print(redact(traceback.format_exc()), file=sys.stderr, end="")
        return 1


if __name__ == "__main__":
    sys.exit(main())
