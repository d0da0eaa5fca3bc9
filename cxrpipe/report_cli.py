"""The `cxrpipe report` command: its flags and its handler."""

from __future__ import annotations

from pathlib import Path

from . import storage
from .errors import UserError


def register(subparsers, parents, formatter_class) -> None:
    """Add `report` to the CLI's subcommands.

    Args:
        subparsers: the ``add_subparsers`` object of the main parser.
        parents: shared option parsers (storage options).
        formatter_class: the CLI's help formatter.
    """
    p = subparsers.add_parser(
        "report", parents=parents, formatter_class=formatter_class,
        help="an HTML page to look at a dataset: samples per class with flips, counts, rejects",
        description="Write DIR/index.html, one self-contained page: samples per class (source, CLAHE output, each flip), "
                    "intensity histograms before/after CLAHE, counts per split x class, class "
                    "co-occurrence, N/N_l weights, rejects by reason and the run's parameters. "
                    "Reads the manifest, the index and rejects tables and the sampled images only.")
    p.add_argument("uri", metavar="URI", help="a preprocess or run dataset root (s3:// or a folder)")
    p.add_argument("--out", required=True, metavar="DIR", help="local folder to write index.html to")
    p.add_argument("--seed", type=int, default=0, help="chooses the samples (same seed, same page)")
    p.add_argument("--per-class", type=int, default=3, help="sampled images shown per class")
    p.set_defaults(handler=report)


def report(args) -> int:
    """Write the report and print where it is."""
    from .report import write_report

    if args.per_class < 1:
        raise UserError(f"--per-class must be at least 1, got {args.per_class}")
    if storage.is_s3(str(args.out)):
        raise UserError(f"--out {args.out}: give a local folder (a browser opens the page from disk)")
    config = storage.StorageConfig.from_env(args.s3_endpoint)
    storage.check_reachable(args.uri, config)
    path = write_report(args.uri, Path(args.out), config, seed=args.seed, per_class=args.per_class)
    print(f"report: {path.resolve()}")
    return 0
