"""argparse ``type=`` functions for numeric flags: each flag's range, checked at parse time
(exit 2, one line naming the flag) and stated in its ``--help``."""

from __future__ import annotations

import argparse
import math

from .shards import MAX_SHARDS


class _Range:
    """A closed range [low, high] of ``kind`` (int or float) values; finite only."""

    def __init__(self, kind, low, high):
        self.kind, self.low, self.high = kind, low, high
        self.__name__ = kind.__name__  # argparse names the type in its messages

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}") from None
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}")
        return value

    def describe(self) -> str:
        kind = "an integer" if self.kind is int else "a number"
        return f"{kind} from {self.low:,} to {self.high:,}"

    def __str__(self) -> str:
        return f"({self.low:g} to {self.high:g})" if self.kind is float else f"({self.low} to {self.high})"


def int_range(low: int, high: int) -> _Range:
    """An integer flag in [low, high]; ``str()`` of it is the range for the help text."""
    return _Range(int, low, high)


def float_range(low: float, high: float) -> _Range:
    """A finite number flag in [low, high] (``inf`` and ``nan`` refused)."""
    return _Range(float, low, high)


# Shared by the commands that take them.
SEED = int_range(0, 2**32 - 1)
OUTPUT_SIZE = int_range(16, 4096)         # the trainer's inputs go to 1024; 4096 bounds one image's buffers
CLAHE_CLIP = float_range(0.01, 100.0)
CLAHE_GRID = int_range(1, 64)
JPEG_QUALITY = int_range(1, 100)
MAX_PIXELS = int_range(1, 2**30)          # OpenCV refuses larger images by itself
FRACTION = float_range(0.0, 1.0)
IMAGES_PER_TASK = int_range(1, 100_000)
NUM_SHARDS = int_range(1, MAX_SHARDS)     # per (split, class)
SHARD_MB = float_range(0.1, 1_000_000.0)
PART_MB = float_range(5.0, 5120.0)        # S3's multipart limits: 5 MiB to 5 GiB a part
SYNTH_IMAGES = int_range(1, 10_000_000)
SYNTH_SIDE = int_range(32, 8192)
