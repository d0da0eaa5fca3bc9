"""`cxrpipe preprocess`, `shards` and `run`: their parsers and handlers.

Handlers import Spark and the image code when they run, never at ``--help``.
"""

from __future__ import annotations

import argparse

from .. import labels, layout, summary
from ..flagtypes import SPLIT_NAMES
from ..index import READERS, TableColumns, companion_uris
from ..params import RenderParams
from ..phases import phase
from ..preprocessing.plan import PlanOptions
from ..shards.plan import ShardOptions
from .options import add_classes, add_membership, add_version, group, shard_count_options, storage_config, user_errors
from .source_options import decode_choice, preprocess_options


def register(subparsers, store, spark) -> None:
    """Add `preprocess`, `shards` and `run` to the CLI's ``subparsers``.

    Args:
        subparsers: the main parser's ``add_subparsers`` object.
        store, spark: the shared storage and Spark option parsers.
    """
    p = subparsers.add_parser("preprocess", parents=[preprocess_options(), spark, store],
                              help="raw images -> CLAHE/resized/flipped JPEGs + Parquet index + rejects + manifest")
    p.set_defaults(handler=preprocess)
    p = subparsers.add_parser("shards", parents=[_shard_filter_options(), shard_count_options(), spark, store],
                              help="preprocessed JPEGs -> TFRecord shards per (split, class), filtered by class")
    p.add_argument("--input", required=True, metavar="URI", help="a preprocessed dataset root")
    p.add_argument("--output", required=True, metavar="URI", help="the shard dataset root to write")
    add_version(p, "--input")
    p.add_argument("--seed", nargs="?", action=_NotTheShardSeed, help=argparse.SUPPRESS)
    p.set_defaults(handler=shards)
    p = subparsers.add_parser("run", parents=[preprocess_options(), shard_count_options(), spark, store],
                              help="preprocess and shard in one Spark pass (the JPEGs are not read back)")
    p.set_defaults(handler=run)


def _shard_filter_options() -> argparse.ArgumentParser:
    p = group()
    add_classes(p, "to write")
    p.add_argument("--splits", type=SPLIT_NAMES, default=None, help="comma list of splits to write (default: all)")
    add_membership(p)
    return p


class _NotTheShardSeed(argparse.Action):
    """`shards --seed`: refused, pointing at --shard-seed. The split was seeded by preprocess;
    taking --seed as the shard seed here would give it a second meaning (run has both)."""

    def __call__(self, parser, namespace, values, option_string=None):
        raise argparse.ArgumentError(self, "shards has no patient split to seed; the seed of record order "
                                           "and shard choice is --shard-seed")


def preprocess_job(args):
    """The validated ``PreprocessJob`` for parsed `preprocess` or `run` arguments.

    Raises:
        UserError: a flag's value is invalid (the message names the flag).
    """
    from ..spark.preprocess import PreprocessJob

    def build():
        plan = PlanOptions(fractions=args.split, seed=args.seed, uncertain=args.uncertain,
                           membership=args.membership, classes=_classes(args), views=args.views,
                           images_per_task=args.images_per_task, resplit=args.resplit)
        render = RenderParams(size=args.size, clahe_clip=args.clahe_clip, clahe_grid=args.clahe_grid,
                              clahe_at=args.clahe_at, flips=args.flips, jpeg_quality=args.jpeg_quality,
                              max_pixels=args.max_pixels, resize=args.resize, decode=decode_choice(args))
        return PreprocessJob(
            dataset=args.dataset, images_uri=args.images, output_uri=args.output, index_uri=args.index,
            companions=tuple(sorted(companion_uris(vars(args)).items())),
            reader_options=tuple(_READER_OPTIONS.get(args.dataset, _no_options)(args).items()),
            plan=plan, render=render, augment_splits=args.augment_splits, storage=storage_config(args),
            max_reject_fraction=args.max_reject_fraction)

    return user_errors(build)


def _classes(args):
    # Resolved now where the layout fixes its classes (before any storage is touched); where
    # the data defines them (folders, table), by the same resolver once the index is read.
    known = READERS[args.dataset].classes
    if args.classes is None or known is None:
        return args.classes
    return labels.resolve_classes(args.classes, known)


def _table_columns(args) -> dict:
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


def preprocess(args) -> int:
    from ..spark.lease import hold_output
    from ..spark.preprocess import plan_preprocess, run_preprocess
    from ..spark.session import spark_session

    job = preprocess_job(args)
    plan = plan_preprocess(job)
    with hold_output(job.output_uri, "preprocess", job.storage) as lease:
        plan, carried = _updating(job, plan, args.update)
        if carried is not None and carried.split.changes_nothing:
            return _unchanged(carried, job.output_uri)
        with phase("spark start", "startup"):
            spark = spark_session(args.master, app_name="cxrpipe preprocess")
        result = run_preprocess(spark, job, plan, lease.check, carried)
    print(summary.run_summary(result.manifest, result.seconds, result.jpeg_bytes, job.output_uri,
                              result.peak_worker_mb))
    return 0


def _updating(job, plan, update: bool):
    """(plan, None), or with --update the plan narrowed to what must be processed and the
    ``Update`` carrying the rest (read under the lease: no other job commits meanwhile)."""
    if not update:
        return plan, None
    from ..spark.update import plan_update

    with phase("update plan"):
        plan, carried = plan_update(job, plan)
    print(carried.summary())
    return plan, carried


def _unchanged(carried, output: str) -> int:
    print(f"nothing changed: version {carried.current.version or 1} of {output} stays current")
    return 0


def run(args) -> int:
    job = preprocess_job(args)
    return run_dataset(job, ShardOptions(num_shards=args.num_shards, shard_mb=args.shard_mb, seed=args.shard_seed),
                       args.master, args.update)


def run_dataset(job, shard_options: ShardOptions, master: str | None, update: bool = False) -> int:
    """`cxrpipe run`: preprocess ``job`` and shard it in one Spark pass; print the summary.

    ``shard_options``' classes and membership are replaced by the job's own selection. With
    ``update``, the output's current version supplies what has not changed (``--update``).
    """
    import dataclasses

    from ..spark.lease import hold_output
    from ..spark.preprocess import plan_preprocess
    from ..spark.run import run_all, shards_parameters
    from ..spark.session import spark_session

    plan = plan_preprocess(job)
    options = dataclasses.replace(shard_options, classes=plan.selected, membership=job.plan.membership)
    with hold_output(job.output_uri, "run", job.storage) as lease:
        plan, carried = _updating(job, plan, update)
        if carried is not None and carried.split.changes_nothing \
                and carried.current.parameters.get("shards") == shards_parameters(options):
            return _unchanged(carried, job.output_uri)
        with phase("spark start", "startup"):
            spark = spark_session(master, app_name="cxrpipe run")
        result = run_all(spark, job, plan, options, lease.check, carried)
    print(summary.run_summary(result.manifest, result.seconds, result.jpeg_bytes, job.output_uri,
                              result.peak_worker_mb))
    shards = result.manifest.files_under(layout.TFRECORDS)
    print(f"{len(shards)} shards, {sum(f['bytes'] for f in shards) / 1e6:,.1f} MB")
    return 0


def shard_options(args, dataset_classes: tuple[str, ...]) -> ShardOptions:
    """The validated ``ShardOptions`` for parsed `shards` flags and the input's classes.

    Raises:
        UserError: a flag's value is invalid.
    """
    return user_errors(lambda: ShardOptions(
        classes=labels.resolve_classes(args.classes, dataset_classes), splits=args.splits or None,
        membership=args.membership, num_shards=args.num_shards, shard_mb=args.shard_mb, seed=args.shard_seed))


def shards(args) -> int:
    from ..spark.lease import hold_output
    from ..spark.session import spark_session
    from ..spark.shards import ShardsJob, check_selection, load_input, run_shards

    config = storage_config(args)
    source = load_input(ShardsJob(args.input, args.output, storage=config, input_version=args.version))
    job = ShardsJob(args.input, args.output, shard_options(args, source.classes), config, args.version)
    check_selection(source, job.options)
    with hold_output(job.output_uri, "shards", config) as lease:
        spark = spark_session(args.master, app_name="cxrpipe shards")
        result = run_shards(spark, job, source, lease.check)
    print(summary.counts_table(result.manifest))
    print(f"\n{len(result.manifest.files)} shards, "
          f"{sum(f['bytes'] for f in result.manifest.files) / 1e6:,.1f} MB in {result.seconds:,.1f} s")
    print(f"dataset: {args.output}")
    return 0
