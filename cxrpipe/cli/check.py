"""`cxrpipe verify`, `inspect` and `report`: reading a finished dataset back."""

from __future__ import annotations

from pathlib import Path

from .. import storage, summary
from ..errors import UserError
from ..flagtypes import COUNT
from .options import add_seed, add_version, storage_config

SHOWN = 20   # unlisted files printed one per line; the rest are counted
PER_CLASS = 3


def register(subparsers, store, spark) -> None:
    """Add `verify`, `inspect` and `report` to the CLI's ``subparsers``."""
    p = subparsers.add_parser("verify", parents=[spark, store],
                              help="re-read a dataset against its manifest; exit 1 on any mismatch (a Spark "
                                   "job for S3 or large datasets, or with --master)")
    p.add_argument("uri", metavar="URI", help="a dataset root (preprocess, shards or run output)")
    p.add_argument("--strict", action="store_true",
                   help="files under the root that no manifest lists are an error, not a warning")
    add_version(p)
    p.set_defaults(handler=verify)
    p = subparsers.add_parser("inspect", parents=[store], help="counts per split x class, rejects by reason, class weights")
    p.add_argument("uri", metavar="URI", help="a dataset root (preprocess, shards or run output)")
    add_version(p)
    p.set_defaults(handler=inspect)
    _register_report(subparsers, store)


def _register_report(subparsers, store) -> None:
    p = subparsers.add_parser(
        "report", parents=[store],
        help="an HTML page to look at a dataset: samples per class with flips, counts, rejects",
        description="Write DIR/index.html, one self-contained page: samples per class (source, CLAHE output, each flip), "
                    "intensity histograms before/after CLAHE, counts per split x class, class "
                    "co-occurrence, N/N_l weights, rejects by reason and the run's parameters. "
                    "Reads the manifest, the index and rejects tables and the sampled images only.")
    p.add_argument("uri", metavar="URI", help="a preprocess or run dataset root (s3:// or a folder)")
    p.add_argument("--out", required=True, metavar="DIR", help="local folder to write index.html to")
    add_seed(p, "the choice of sampled images (same seed, same page)")
    p.add_argument("--per-class", type=COUNT, default=PER_CLASS, help=f"sampled images shown per class {COUNT}")
    add_version(p)
    p.set_defaults(handler=report)


def verify(args) -> int:
    return check_dataset(args.uri, storage_config(args), args.master, args.strict, args.version)


def check_dataset(uri: str, config: storage.StorageConfig, master: str | None, strict: bool = False,
                  version: int | None = None) -> int:
    """`cxrpipe verify`: re-read the dataset at ``uri``, print what differs; 1 if anything does."""
    from ..verify import thread_map, verify_dataset

    def choose_map(built):
        from ..spark.verify import spark_map, wants_spark

        if not wants_spark(uri, built, master):
            return thread_map
        from ..spark.session import spark_session

        return spark_map(spark_session(master, app_name="cxrpipe verify"))

    verdict = verify_dataset(uri, config, choose_map, version)
    problems = verdict.problems + ([f"{len(verdict.unlisted)} file(s) under the root are listed by no "
                                    "manifest (--strict)"] if strict and verdict.unlisted else [])
    for problem in verdict.problems:
        print(f"MISMATCH {problem}")
    for path in verdict.unlisted[:SHOWN]:
        print(f"UNLISTED {path}")
    if verdict.unlisted:
        print(f"warning: {len(verdict.unlisted):,} file(s) under {uri} are listed by no manifest "
              "(left by an earlier run, or put there by hand); --strict makes them an error")
    print(f"verify {uri}: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


def inspect(args) -> int:
    from ..dataset import open_dataset

    built = open_dataset(args.uri, storage_config(args), args.version).manifest
    sizes = sum(f["bytes"] for f in built.files)
    version = f"version {built.version}, " if built.version else ""
    print(f"{args.uri}: {version}{built.kind} of {built.dataset}, cxrpipe {built.code_version}")
    print(f"{built.inputs:,} inputs, {len(built.files)} files listed ({sizes / 1e6:,.1f} MB)\n")
    print(summary.counts_table(built), "", summary.shards_table(built), "",
          summary.rejects_table(built), "", summary.weights_table(built), sep="\n")
    return 0


def report(args) -> int:
    """Write the report and print where it is."""
    from ..report import write_report

    if storage.is_s3(str(args.out)):
        raise UserError(f"--out {args.out}: give a local folder (a browser opens the page from disk)")
    config = storage_config(args)
    storage.check_reachable(args.uri, config)
    path = write_report(args.uri, Path(args.out), config, seed=args.seed, per_class=args.per_class,
                        version=args.version)
    print(f"report: {path.resolve()}")
    return 0
