"""The `cxrpipe` command line. User mistakes exit 2 with one line; failed jobs exit 1.

One module per command group (``data``: preprocess, shards, run; ``check``: verify, inspect,
report; ``history``: versions, diff, gc; ``synth``: synth, demo; ``emr``; ``train``: train,
evaluate; ``predict``: predict, export), each with ``register`` and its handlers; ``options``
holds the parser class, the help formatter and the shared options. Nothing outside this
package imports it. Building the parser imports no OpenCV, Spark, boto3 or TensorFlow: handlers
import what they need when they run.
"""

from __future__ import annotations

import logging
import sys
import traceback

from .. import __version__
from ..errors import JobFailed, UserError
from ..redact import RedactingFilter, redact
from . import check, data, emr, history, predict, synth, train
from .options import Parser, spark_options, storage_options

__all__ = ["build_parser", "main"]


def build_parser() -> Parser:
    """The `cxrpipe` parser with every command."""
    parser = Parser(prog="cxrpipe", description="Chest radiographs to training data, at any scale.")
    parser.add_argument("--version", action="version", version=f"cxrpipe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    store, spark = storage_options(), spark_options()
    data.register(sub, store, spark)
    synth.register(sub, store, spark)
    check.register(sub, store, spark)
    history.register(sub, store)
    emr.register(sub, [store], parse_job)
    train.register(sub, [store])
    predict.register(sub, [store])
    return parser


def parse_job(argv: list[str]) -> dict:
    """A cxrpipe job's options as `cxrpipe COMMAND ARGS` parses them (exit 2 on a bad flag)."""
    return vars(build_parser().parse_args(argv))


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
