"""argparse ``type=`` functions: every flag's value checked at parse time, so each mistake reads
``cxrpipe CMD: error: argument --x: ... (see cxrpipe CMD --help)`` and exits 2, and each range
is stated in its ``--help``. The only home of the CLI's value checks."""

from __future__ import annotations

import argparse
import math
import re

from . import splits
from .params import parse_flips
from .shards.plan import MAX_SHARDS


class _Range:
    """Numbers of ``kind`` (int or float) between ``low`` and ``high`` (None: unbounded), each
    end closed unless named open; finite only."""

    def __init__(self, kind, low, high=None, *, low_open=False, high_open=False):
        self.kind, self.low, self.high = kind, low, high
        self.low_open, self.high_open = low_open, high_open
        self.__name__ = kind.__name__  # argparse names the type in its messages

    def __call__(self, text: str):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}") from None
        if not (math.isfinite(value) and self._within(value)):
            raise argparse.ArgumentTypeError(f"expected {self.describe()}, got {text!r}")
        return value

    def _within(self, value) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self) -> str:
        kind = "an integer" if self.kind is int else "a number"
        if self.high is None:
            return f"{kind} {'>' if self.low_open else '>='} {self.low:,}"
        if not (self.low_open or self.high_open):
            return f"{kind} from {self.low:,} to {self.high:,}"
        return f"{kind} in {self._interval(',')}"

    def _interval(self, fmt: str) -> str:
        return (("(" if self.low_open else "[") + f"{self.low:{fmt}}, {self.high:{fmt}}"
                + (")" if self.high_open else "]"))

    def __str__(self) -> str:
        if self.high is None:
            return f"({'>' if self.low_open else '>='} {self.low:g})"
        if self.low_open or self.high_open:
            return self._interval("g")
        return f"({self.low:g} to {self.high:g})" if self.kind is float else f"({self.low} to {self.high})"


def int_range(low: int, high: int | None = None) -> _Range:
    """An integer flag in [low, high] (no upper bound when high is None); ``str()`` of it is
    the range for the help text."""
    return _Range(int, low, high)


def float_range(low: float, high: float | None = None, *, low_open=False, high_open=False) -> _Range:
    """A finite number flag between low and high (``inf`` and ``nan`` refused)."""
    return _Range(float, low, high, low_open=low_open, high_open=high_open)


# Library checks name their flag ("--flips: ...") for callers outside the CLI; argparse
# already says "argument --flips:", so the CLI drops the repeat.
_FLAG_PREFIX = re.compile(r"^--[\w-]+: ")


def checked(parse, name: str | None = None):
    """An argparse ``type=`` from a ``text -> value`` function raising ValueError, whose
    message becomes the flag's error."""
    def flag_type(text: str):
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(_FLAG_PREFIX.sub("", str(exc))) from None
    flag_type.__name__ = name or parse.__name__
    return flag_type


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(","))


def _split_names(text: str) -> tuple[str, ...]:
    names = tuple(s for s in _names(text) if s)
    unknown = [s for s in names if s not in splits.SPLITS]
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r}; expected some of {','.join(splits.SPLITS)}")
    return names


def _model_dirs(text: str) -> tuple[str, ...]:
    dirs = tuple(d for d in _names(text) if d)
    if len(dirs) < 2:
        raise ValueError(f"expected two or more model directories separated by commas, got {text!r}")
    return dirs


# --classes is parsed here, one way; it is resolved against the class list where that is
# known (labels.resolve_classes), which gives the "did you mean" hints.
CLASS_LIST = checked(_names, "class list")
SPLIT_NAMES = checked(_split_names, "split list")
FRACTIONS = checked(splits.parse_fractions, "fractions")
FLIPS = checked(parse_flips, "flips")
MODEL_DIRS = checked(_model_dirs, "model list")

# Numeric flags shared by the commands that take them.
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
COUNT = int_range(1)                      # at least one: epochs, batches, samples, nodes
VERSION = int_range(1, 999_999)           # a dataset version (_manifests/vNNNNNN.json)
POSITIVE = float_range(0.0, low_open=True)   # a learning rate, seconds between polls
DROPOUT = float_range(0.0, 1.0, high_open=True)
CROP = float_range(0.25, 1.0)             # crop side over resized side; 1: no crop
ACCUMULATE = int_range(1, 1024)           # batches a gradient update averages
RECALL = float_range(0.0, 1.0, low_open=True)
RESAMPLES = int_range(0, 100_000)         # bootstrap resamples; 0 turns the intervals off
BINS = int_range(1, 1000)                 # calibration bins
MAP_THRESHOLD = float_range(0.0, 1.0, low_open=True)  # a fraction of a heatmap's maximum
