"""What each `cxrpipe` command does with its parsed arguments: validate, call, print."""

from __future__ import annotations

import time
from pathlib import Path

from . import labels, splits, storage, summary
from .errors import UserError
from .imageops import RenderParams, parse_flips
from .phases import phase
from .plan import PlanOptions
from .spark.lease import hold_output


def _user_errors(build):
    """Turn a ValueError raised while validating flags into the one-line UserError."""
    try:
        return build()
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _config(args) -> storage.StorageConfig:
    return _user_errors(lambda: storage.StorageConfig.from_env(
        args.s3_endpoint, getattr(args, "s3_part_mb", None), getattr(args, "s3_region", None),
        {"on": True, "off": False}.get(getattr(args, "s3_checksums", "auto"))))


def preprocess_job(args):
    """The validated ``PreprocessJob`` for parsed `preprocess` arguments.

    Raises:
        UserError: a flag's value is invalid (the message names the flag).
    """
    from .spark.preprocess import PreprocessJob

    def build():
        plan = PlanOptions(
            fractions=splits.parse_fractions(args.split), seed=args.seed, uncertain=args.uncertain,
            membership=args.membership, classes=_classes(args), views=args.views,
            images_per_task=args.images_per_task,
            resplit=args.resplit,
        )
        render = RenderParams(
            size=args.size, clahe_clip=args.clahe_clip, clahe_grid=args.clahe_grid,
            clahe_at=args.clahe_at, flips=parse_flips(args.flips), jpeg_quality=args.jpeg_quality,
            max_pixels=args.max_pixels, resize=args.resize,
            decode="exact" if args.exact_decode else "reduced" if args.reduced_decode else "auto",
        )
        return PreprocessJob(
            dataset=args.dataset, images_uri=args.images, output_uri=args.output,
            index_uri=args.index, companions=_companions(args),
            reader_options=tuple(_READER_OPTIONS.get(args.dataset, _no_options)(args).items()),
            plan=plan, render=render,
            augment_splits=_split_names("--augment-splits", args.augment_splits), storage=_config(args),
            max_reject_fraction=args.max_reject_fraction,
        )

    return _user_errors(build)


def _classes(args):
    # Checked now where the layout fixes its classes (before any storage is touched); where
    # the data defines them (folders, table), by the same resolver once the index is read.
    from .index import READERS

    if args.classes is None:
        return None
    known = READERS[args.dataset].classes
    if known is not None:
        return labels.resolve_classes(args.classes, known)
    return tuple(name.strip() for name in args.classes.split(","))


def _companions(args) -> tuple[tuple[str, str], ...]:
    from .index import companion_uris

    return tuple(sorted(companion_uris(vars(args)).items()))


def _table_columns(args) -> dict:
    from .index import TableColumns

    label_columns = tuple(c.strip() for c in (args.label_columns or "").split(",") if c.strip())
    columns = TableColumns(path=args.path_column, patient=args.patient_column, view=args.view_column,
                           split=args.split_column, label_columns=label_columns,
                           labels_column=args.labels_column, separator=args.label_separator)
    columns.check()
    return {"columns": columns}


def _no_options(args) -> dict:
    return {}


# Per layout, the reader's keyword options taken from flags (files are companions).
_READER_OPTIONS = {
    "chexpert": lambda args: {"valid_as": args.valid_as},
    "mimic": lambda args: {"extension": args.mimic_files},
    "table": _table_columns,
}


def _split_names(flag: str, text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in names if s not in splits.SPLITS]
    if unknown:
        raise ValueError(f"{flag}: unknown split {unknown[0]!r}; expected some of {','.join(splits.SPLITS)}")
    return names


def preprocess(args) -> int:
    from .spark.preprocess import plan_preprocess, run_preprocess
    from .spark.session import spark_session

    job = preprocess_job(args)
    plan = plan_preprocess(job)
    with hold_output(job.output_uri, "preprocess", job.storage) as lease:
        with phase("spark start", "startup"):
            spark = spark_session(args.master, app_name="cxrpipe preprocess")
        result = run_preprocess(spark, job, plan, lease.check)
    print(summary.run_summary(result.manifest, result.seconds, result.jpeg_bytes, job.output_uri,
                              result.peak_worker_mb))
    return 0


def run(args) -> int:
    from .shards import ShardOptions
    from .spark.preprocess import plan_preprocess
    from .spark.run import run_all
    from .spark.session import spark_session

    job = preprocess_job(args)
    plan = plan_preprocess(job)
    options = ShardOptions(classes=plan.selected, membership=job.plan.membership,
                           num_shards=args.num_shards, shard_mb=args.shard_mb, seed=args.shard_seed)
    with hold_output(job.output_uri, "run", job.storage) as lease:
        with phase("spark start", "startup"):
            spark = spark_session(args.master, app_name="cxrpipe run")
        result = run_all(spark, job, plan, options, lease.check)
    print(summary.run_summary(result.manifest, result.seconds, result.jpeg_bytes, job.output_uri,
                              result.peak_worker_mb))
    shards = [f for f in result.manifest["files"] if f["path"].startswith("tfrecords/")]
    print(f"{len(shards)} shards, {sum(f['bytes'] for f in shards) / 1e6:,.1f} MB")
    return 0


def shard_options(args, dataset_classes: tuple[str, ...]):
    """The validated ``ShardOptions`` for parsed shard flags.

    Raises:
        UserError: a flag's value is invalid.
    """
    from .shards import ShardOptions

    def build():
        return ShardOptions(
            classes=labels.resolve_classes(args.classes, dataset_classes),
            splits=_split_names("--splits", args.splits or "") or None,
            membership=args.membership, num_shards=args.num_shards, shard_mb=args.shard_mb,
            seed=args.shard_seed,
        )

    return _user_errors(build)


def shards(args) -> int:
    from .spark.session import spark_session
    from .spark.shards import ShardsJob, check_selection, load_input, run_shards

    config = _config(args)
    source = load_input(ShardsJob(args.input, args.output, storage=config))
    job = ShardsJob(args.input, args.output, shard_options(args, tuple(source["classes"])), config)
    check_selection(source, job.options)
    with hold_output(job.output_uri, "shards", config) as lease:
        spark = spark_session(args.master, app_name="cxrpipe shards")
        result = run_shards(spark, job, source, lease.check)
    print(summary.counts_table(result.manifest))
    print(f"\n{len(result.manifest['files'])} shards, "
          f"{sum(f['bytes'] for f in result.manifest['files']) / 1e6:,.1f} MB in {result.seconds:,.1f} s")
    print(f"dataset: {args.output}")
    return 0


def synth(args) -> int:
    from .synth import INDEX_PATHS, LAYOUTS

    if args.with_dicom and args.layout != "nih":
        raise UserError("--with-dicom adds a row to the NIH index: use it with --layout nih")
    config = _config(args)
    storage.check_reachable(args.out, config, for_writing=True)
    kwargs = {"image_size": args.image_size} if args.image_size else {}
    LAYOUTS[args.layout](args.n, args.seed, _putter(args.out, config), **kwargs)
    if args.with_dicom:
        add_real_dicom(args.out, config)
    index_path, images_path = INDEX_PATHS[args.layout]
    print(f"wrote a synthetic {args.layout} dataset of {args.n} images to {args.out}")
    flags = [f"--dataset {args.layout}", f"--images {storage.join(args.out, images_path)}"]
    if index_path:
        flags.insert(1, f"--index {storage.join(args.out, index_path)}")
    print("next: cxrpipe preprocess " + " ".join(flags) + " --output OUT")
    return 0


def _putter(root: str, config: storage.StorageConfig):
    return lambda relative, data: storage.write_bytes(storage.join(root, relative), data, config)


DICOM_NAME = "RG1_UNCR.dcm"


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


def verify(args) -> int:
    from .verify import thread_map, verify_dataset

    def choose_map(built):
        from .spark.verify import spark_map, wants_spark

        if not wants_spark(args.uri, built, args.master):
            return thread_map
        from .spark.session import spark_session

        return spark_map(spark_session(args.master, app_name="cxrpipe verify"))

    verdict = verify_dataset(args.uri, _config(args), choose_map)
    problems = verdict.problems + ([f"{len(verdict.unlisted)} file(s) under the root are listed by no "
                                    "manifest (--strict)"] if args.strict and verdict.unlisted else [])
    for problem in verdict.problems:
        print(f"MISMATCH {problem}")
    for path in verdict.unlisted[:_SHOWN]:
        print(f"UNLISTED {path}")
    if verdict.unlisted:
        print(f"warning: {len(verdict.unlisted):,} file(s) under {args.uri} are listed by no manifest "
              "(left by an earlier run, or put there by hand); --strict makes them an error")
    print(f"verify {args.uri}: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


_SHOWN = 20


def inspect(args) -> int:
    from .verify import load_manifest

    try:
        built = load_manifest(args.uri, _config(args))
    except FileNotFoundError:
        raise UserError(f"no manifest under {args.uri}: not a finished cxrpipe dataset") from None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    sizes = sum(f["bytes"] for f in built["files"])
    print(f"{args.uri}: {built['kind']} of {built['dataset']}, cxrpipe {built['code_version']}")
    print(f"{built['inputs']:,} inputs, {len(built['files'])} files listed ({sizes / 1e6:,.1f} MB)\n")
    print(summary.counts_table(built), "", summary.shards_table(built), "",
          summary.rejects_table(built), "", summary.weights_table(built), sep="\n")
    return 0


def demo(args) -> int:
    """Synthetic NIH sample plus the real DICOM -> preprocess and shards (local Spark) -> verify."""
    out = Path(args.out).resolve()
    raw, dataset = out / "raw", out / "dataset"
    started = time.monotonic()
    synth(_namespace(layout="nih", out=str(raw), n=args.n, seed=0, image_size=args.image_size,
                     with_dicom=True, s3_endpoint=None))
    print(f"\npreprocessing and sharding {args.n + 1} images with Spark ({args.master or 'local[*]'}) ...",
          flush=True)
    run(demo_run_args(raw, dataset, args.master))
    print()
    code = verify(_namespace(uri=str(dataset), s3_endpoint=None, strict=False, master=args.master))
    from .report import write_report

    report = write_report(str(dataset), out / "report", storage.StorageConfig())
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s")
    for name, path in [("raw input", raw), ("dataset", dataset), ("JPEGs", dataset / "images"),
                       ("index", dataset / "index"), ("rejects", dataset / "rejects"),
                       ("TFRecords", dataset / "tfrecords"), ("manifest", dataset / "_MANIFEST.json")]:
        print(f"  {name + ':':<11} {path}")
    print(f"look at it: .venv/bin/cxrpipe inspect {dataset}")
    print(f"report (open in a browser): {report}")
    return code


def demo_run_args(raw: Path, dataset: Path, master: str | None):
    """The `cxrpipe run` arguments the demo uses (a real parse, so defaults stay the CLI's)."""
    from .cli import build_parser

    argv = ["run", "--dataset", "nih", "--index", str(raw / "Data_Entry_2017.csv"),
            "--images", str(raw / "images"), "--output", str(dataset), "--shard-mb", "16"]
    if master:
        argv += ["--master", master]
    return build_parser().parse_args(argv)


def _namespace(**values):
    import argparse

    return argparse.Namespace(**values)
