"""`cxrpipe synth` and `cxrpipe demo`: a phantom dataset, and the whole path run on one."""

from __future__ import annotations

import time
from pathlib import Path

from .. import layout, storage
from ..errors import UserError
from ..flagtypes import SYNTH_IMAGES, SYNTH_SIDE
from ..params import RenderParams
from ..preprocessing.plan import PlanOptions
from ..shards.plan import ShardOptions
from ..synth import INDEX_PATHS, LAYOUTS
from .options import add_seed, storage_config

DICOM_NAME = "RG1_UNCR.dcm"
SYNTH_N = 200
DEMO_SIDE = 1024       # NIH's PNGs
DEMO_SHARD_MB = 16.0   # a few shards per partition even for the demo's 200 images


def register(subparsers, store, spark) -> None:
    """Add `synth` and `demo` to the CLI's ``subparsers``."""
    p = subparsers.add_parser("synth", parents=[store],
                              help="a synthetic phantom dataset in the exact layout of a real one")
    p.add_argument("--layout", default="nih", choices=list(LAYOUTS),
                   help="the real dataset whose files and index format to imitate")
    p.add_argument("--out", required=True, metavar="URI", help="where to write it (s3:// or a folder)")
    p.add_argument("--n", type=SYNTH_IMAGES, default=SYNTH_N, help=f"number of images {SYNTH_IMAGES}")
    add_seed(p, "the phantoms, patients and labels drawn (the same seed gives the same bytes)")
    p.add_argument("--image-size", type=SYNTH_SIDE, default=None,
                   help=f"largest side in pixels (default: the real dataset's) {SYNTH_SIDE}")
    p.add_argument("--with-dicom", action="store_true",
                   help="nih: add the real chest CR from pydicom-data (RG1_UNCR.dcm) as one more row")
    p.set_defaults(handler=synth)
    p = subparsers.add_parser("demo", parents=[spark, store],
                              help="synthetic NIH sample + a real DICOM -> preprocess + shards -> verify, locally")
    p.add_argument("--out", default="demo-out", metavar="DIR", help="folder for the raw sample and the dataset")
    p.add_argument("--n", type=SYNTH_IMAGES, default=SYNTH_N, help=f"synthetic images {SYNTH_IMAGES}")
    p.add_argument("--image-size", type=SYNTH_SIDE, default=DEMO_SIDE,
                   help=f"side of the synthetic PNGs (NIH's is 1024) {SYNTH_SIDE}")
    p.set_defaults(handler=demo)


def synth(args) -> int:
    if args.with_dicom and args.layout != "nih":
        raise UserError("--with-dicom adds a row to the NIH index: use it with --layout nih")
    write_synthetic(args.layout, args.out, args.n, args.seed, args.image_size, args.with_dicom, storage_config(args))
    index_path, images_path = INDEX_PATHS[args.layout]
    flags = [f"--dataset {args.layout}", f"--images {storage.join(args.out, images_path)}"]
    if index_path:
        flags.insert(1, f"--index {storage.join(args.out, index_path)}")
    print("next: cxrpipe preprocess " + " ".join(flags) + " --output OUT")
    return 0


def write_synthetic(layout: str, out: str, n: int, seed: int, image_size: int | None, with_dicom: bool,
                    config: storage.StorageConfig) -> None:
    """Write a synthetic ``layout`` dataset of ``n`` images to ``out`` and say so."""
    storage.check_reachable(out, config, for_writing=True)
    kwargs = {"image_size": image_size} if image_size else {}
    LAYOUTS[layout](n, seed, _putter(out, config), **kwargs)
    if with_dicom:
        add_real_dicom(out, config)
    print(f"wrote a synthetic {layout} dataset of {n} images to {out}")


def _putter(root: str, config: storage.StorageConfig):
    return lambda relative, data: storage.write_bytes(storage.join(root, relative), data, config)


def add_real_dicom(root: str, config: storage.StorageConfig) -> None:
    """Add pydicom-data's real PA chest CR to a synthetic NIH dataset, as one more index row."""
    try:
        from pydicom.data import get_testdata_file
    except ImportError:
        raise UserError("--with-dicom needs pydicom-data: pip install 'cxrpipe[demo]'") from None
    data = Path(get_testdata_file(DICOM_NAME)).read_bytes()
    storage.write_bytes(storage.join(root, "images", DICOM_NAME), data, config)
    index_uri = storage.join(root, "Data_Entry_2017.csv")
    text = storage.read_bytes(index_uri, config).decode()
    patient = 1 + max(int(line.split(",")[3]) for line in text.splitlines()[1:] if line)
    # The CR has 1841 columns and 1955 rows (NIH lists width, then height).
    row = f"{DICOM_NAME},No Finding,0,{patient},045Y,F,PA,1841,1955,0.143,0.143\n"
    storage.write_bytes(index_uri, (text if text.endswith("\n") else text + "\n").encode() + row.encode(), config)


def demo(args) -> int:
    """Synthetic NIH sample plus the real DICOM -> preprocess and shards (local Spark) -> verify."""
    from ..report import write_report
    from .check import check_dataset
    from .data import run_dataset

    out = Path(args.out).resolve()
    raw, dataset = out / "raw", out / "dataset"
    started = time.monotonic()
    config = storage.StorageConfig.from_env()
    write_synthetic("nih", str(raw), args.n, 0, args.image_size, True, config)
    print(f"\npreprocessing and sharding {args.n + 1} images with Spark ({args.master or 'local[*]'}) ...",
          flush=True)
    run_dataset(demo_job(raw, dataset, config), ShardOptions(shard_mb=DEMO_SHARD_MB), args.master)
    print()
    code = check_dataset(str(dataset), config, args.master)
    report = write_report(str(dataset), out / "report", config)
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    for name, path in [("raw input", raw), ("dataset", dataset), ("JPEGs", dataset / layout.IMAGES),
                       ("index", dataset / layout.INDEX), ("rejects", dataset / layout.REJECTS),
                       ("TFRecords", dataset / layout.TFRECORDS), ("manifest", dataset / layout.MANIFEST)]:
        print(f"  {name + ':':<11} {path}")
    print(f"look at it: .venv/bin/cxrpipe inspect {dataset}")
    print(f"report (open in a browser): {report}")
    return code


def demo_job(raw: Path, dataset: Path, config: storage.StorageConfig):
    """The demo's `cxrpipe run` job: NIH layout, every default."""
    from ..index import companion_uris
    from ..spark.preprocess import PreprocessJob

    index = str(raw / "Data_Entry_2017.csv")
    return PreprocessJob(dataset="nih", images_uri=str(raw / "images"), output_uri=str(dataset), index_uri=index,
                         companions=tuple(sorted(companion_uris({"dataset": "nih", "index": index}).items())),
                         plan=PlanOptions(), render=RenderParams(), storage=config)
