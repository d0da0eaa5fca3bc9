"""The options of `preprocess` and `run`: the source dataset, the split and the rendering.

Defaults are those of ``PlanOptions``, ``RenderParams`` and ``TableColumns``; choices come
from the readers, labels and parameter registries.
"""

from __future__ import annotations

from ..flagtypes import (CLAHE_CLIP, CLAHE_GRID, FLIPS, FRACTION, FRACTIONS, IMAGES_PER_TASK, JPEG_QUALITY,
                         MAX_PIXELS, OUTPUT_SIZE, SPLIT_NAMES)
from ..index import READERS, TableColumns
from ..index.chexpert import VALID_AS
from ..index.mimic import EXTENSIONS as MIMIC_EXTENSIONS
from ..labels import UNCERTAIN_POLICIES
from ..params import CLAHE_AT, RESIZES, RenderParams, format_flips
from ..preprocessing.plan import VIEW_CHOICES, PlanOptions
from .options import add_classes, add_membership, add_seed, group

# PreprocessJob's defaults; cxrpipe.spark.preprocess loads OpenCV, which --help must not.
AUGMENT_SPLITS = "train"
MAX_REJECT_FRACTION = 0.01


def preprocess_options():
    """The parent parser of `preprocess` and `run`."""
    p = group()
    _source(p)
    _table(p)
    _plan(p)
    _render(p)
    p.add_argument("--max-reject-fraction", type=FRACTION, default=MAX_REJECT_FRACTION,
                   help=f"above this share of rejected inputs the job fails and writes no manifest {FRACTION}")
    p.add_argument("--images-per-task", type=IMAGES_PER_TASK, default=PlanOptions.images_per_task,
                   help="images per Spark task (fixes the output's part files, not the parallelism) "
                        f"{IMAGES_PER_TASK}")
    p.add_argument("--update", action="store_true",
                   help="make a new version of the dataset at --output from a grown or revised index: images "
                        "whose source bytes (S3 ETag, or a local file's size and mtime) and labels are unchanged "
                        "are not read again; the result equals a full run's. Refused when a parameter that "
                        "changes pixels, labels or splits differs from the current version's")
    return p


def _source(p) -> None:
    p.add_argument("--dataset", required=True, choices=list(READERS), help="the layout of the source dataset")
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
    p.add_argument("--valid-as", default=VALID_AS[0], choices=VALID_AS,
                   help="chexpert: the split --valid-index's images form")
    p.add_argument("--labels", default=None, metavar="URI",
                   help="mimic: the label file (default: mimic-cxr-2.0.0-chexpert.csv.gz beside "
                        "--index; name the -negbio one for NegBio's labels)")
    p.add_argument("--split-file", default=None, metavar="URI",
                   help="mimic: the official split (default: mimic-cxr-2.0.0-split.csv.gz beside --index)")
    p.add_argument("--mimic-files", default=MIMIC_EXTENSIONS[0], choices=MIMIC_EXTENSIONS,
                   help="mimic: jpg (MIMIC-CXR-JPG) or dcm (MIMIC-CXR's DICOM files, same tree)")


def _table(p) -> None:
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


def _plan(p) -> None:
    p.add_argument("--split", type=FRACTIONS, default=",".join(f"{f:g}" for f in PlanOptions.fractions),
                   help="train,val,test fractions, by patient")
    p.add_argument("--resplit", action="store_true",
                   help="ignore the official splits (folders, --test-list, --split-file; --valid-index "
                        "images are merged) and split by patient")
    add_seed(p, "the patient split (which patients go to train, val and test; nothing else)",
             PlanOptions.seed)
    add_classes(p, "whose partitions to write", "as the dataset spells them; Unlabeled: images with no "
                "positive class")
    add_membership(p)
    p.add_argument("--uncertain", default=PlanOptions.uncertain, choices=UNCERTAIN_POLICIES,
                   help="CheXpert -1: how uncertain labels count (the mask is always kept)")
    p.add_argument("--views", default=PlanOptions.views, choices=VIEW_CHOICES,
                   help="frontal: leave lateral views out (counted as excluded)")


def _render(p) -> None:
    r = RenderParams()
    p.add_argument("--size", type=OUTPUT_SIZE, default=r.size, help=f"output side in pixels {OUTPUT_SIZE}")
    p.add_argument("--clahe-clip", type=CLAHE_CLIP, default=r.clahe_clip, help=f"CLAHE clip limit {CLAHE_CLIP}")
    p.add_argument("--clahe-grid", type=CLAHE_GRID, default=r.clahe_grid, help=f"CLAHE tiles per side {CLAHE_GRID}")
    p.add_argument("--clahe-at", default=r.clahe_at, choices=CLAHE_AT,
                   help="CLAHE after the resize (the original notebook) or at full resolution")
    p.add_argument("--flips", type=FLIPS, default=format_flips(r.flips), help="any of h, v, hv, or none")
    p.add_argument("--augment-splits", type=SPLIT_NAMES, default=AUGMENT_SPLITS, help="splits that get the flips")
    p.add_argument("--jpeg-quality", type=JPEG_QUALITY, default=r.jpeg_quality,
                   help=f"JPEG quality of the outputs {JPEG_QUALITY}")
    p.add_argument("--resize", default=r.resize, choices=RESIZES,
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
    p.add_argument("--max-pixels", type=MAX_PIXELS, default=r.max_pixels,
                   help=f"larger images (by their header) are rejected before decoding {MAX_PIXELS}")


def decode_choice(args) -> str:
    """``RenderParams.decode`` from the two decode flags (neither: the default, auto)."""
    return "exact" if args.exact_decode else "reduced" if args.reduced_decode else RenderParams.decode
