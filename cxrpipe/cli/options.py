"""The CLI's one parser class, one help formatter and the option groups several commands share.

Defaults come from the dataclasses the options configure and choices from the registries, so
``--help`` and the code cannot disagree; nothing here imports OpenCV, Spark, boto3 or TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses

from .. import flagtypes as ft
from ..errors import UserError
from ..labels import MEMBERSHIPS
from ..shards.plan import ShardOptions
from ..storage import StorageConfig

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
CHECKSUMS = {"auto": None, "on": True, "off": False}


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Every option's default in --help, and descriptions and epilogs kept as written.

    Options without a value by default (None, off, an empty list) say in their help what
    that means, so "(default: None)" is left out.
    """

    def _get_help_string(self, action):
        if has_no_default(action.default):
            return action.help
        return super()._get_help_string(action)


def has_no_default(value) -> bool:
    """Whether an option's default means "not given" (and is left out of --help)."""
    return value is None or value is False or value is argparse.SUPPRESS or (isinstance(value, list) and not value)


class Parser(argparse.ArgumentParser):
    """Every command's parser: a mistaken flag gets one line naming it, not the usage block."""

    def __init__(self, *args, formatter_class=Formatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def default(cls, name: str):
    """The default of dataclass ``cls``'s field ``name`` (its factory's value if it has one)."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def group() -> argparse.ArgumentParser:
    """A parent parser holding options to share (``parents=[...]``)."""
    return argparse.ArgumentParser(add_help=False)


def storage_options() -> argparse.ArgumentParser:
    p = group()
    p.add_argument("--s3-endpoint", default=None, metavar="URL",
                   help="an S3-compatible endpoint (default: AWS_ENDPOINT_URL, else AWS)")
    p.add_argument("--s3-region", default=None, metavar="REGION",
                   help="the buckets' AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the "
                        "profile, else the EC2 instance's own)")
    p.add_argument("--s3-checksums", default="auto", choices=list(CHECKSUMS),
                   help="CRC32 checksums on uploads and reads: auto is on for AWS, off for --s3-endpoint "
                        "(many S3-compatible servers reject them)")
    p.add_argument("--s3-part-mb", type=ft.PART_MB, default=default(StorageConfig, "part_bytes") / 2**20,
                   help=f"multipart part size for streamed shards, MiB {ft.PART_MB}")
    p.add_argument("--log-level", default="WARNING", choices=LOG_LEVELS,
                   help="how much cxrpipe logs (Spark's own log stays at WARN)")
    return p


def spark_options() -> argparse.ArgumentParser:
    p = group()
    p.add_argument("--master", default=None, help="Spark master URL (default: the spark-submit's, else local[*])")
    return p


def add_classes(p, selects: str, names: str = "as the manifest spells them; Unlabeled: images with no "
                "positive class") -> None:
    """``--classes``, the same flag on preprocess, run, shards and train (``selects``: what
    the chosen classes are for)."""
    p.add_argument("--classes", type=ft.CLASS_LIST, default=None, metavar="A,B,...",
                   help=f"comma list of classes {selects}, {names} (default: all)")


def add_membership(p) -> None:
    p.add_argument("--membership", default=default(ShardOptions, "membership"), choices=MEMBERSHIPS,
                   help="exclusive: only images with this class alone (the pure sets)")


def add_seed(p, seeds: str, value: int = 0) -> None:
    """``--seed``, with help saying what it seeds in this command (``value``: its default)."""
    p.add_argument("--seed", type=ft.SEED, default=value, help=f"seed of {seeds} {ft.SEED}")


def add_version(p, reads: str = "the dataset") -> None:
    """``--version N``: which committed version of a dataset root to read (default: the current)."""
    p.add_argument("--version", type=ft.VERSION, default=None, metavar="N",
                   help=f"read version N of {reads} (`cxrpipe versions URI` lists them; default: the current "
                        f"one) {ft.VERSION}")


def shard_count_options() -> argparse.ArgumentParser:
    p = group()
    count = p.add_mutually_exclusive_group()
    count.add_argument("--num-shards", type=ft.NUM_SHARDS, default=default(ShardOptions, "num_shards"),
                       help=f"shards per (split, class) {ft.NUM_SHARDS}")
    count.add_argument("--shard-mb", type=ft.SHARD_MB, default=default(ShardOptions, "shard_mb"),
                       help=f"target shard size in MB, used when --num-shards is not given {ft.SHARD_MB}")
    p.add_argument("--shard-seed", type=ft.SEED, default=default(ShardOptions, "seed"),
                   help=f"seed of record order and shard choice {ft.SEED}")
    return p


def storage_config(args) -> StorageConfig:
    """The storage configuration the storage flags ask for (some commands have only some)."""
    return user_errors(lambda: StorageConfig.from_env(
        args.s3_endpoint, getattr(args, "s3_part_mb", None), getattr(args, "s3_region", None),
        CHECKSUMS[getattr(args, "s3_checksums", "auto")]))


def user_errors(build):
    """Turn a ValueError raised while building a job from flags into the one-line UserError."""
    try:
        return build()
    except ValueError as exc:
        raise UserError(str(exc)) from None
