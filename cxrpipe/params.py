"""How an image is rendered: ``RenderParams`` and the names its fields take. Pure and light.

Kept apart from ``imageops`` (which imports OpenCV) so that the CLI can read the defaults and
choices for ``--help`` without loading OpenCV; ``imageops`` re-exports everything here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

from cxrpipe.layout import AUGMENTATIONS

__all__ = ["CLAHE_AT", "DECODES", "FLIP_NAMES", "RESIZES", "RenderParams", "format_flips", "parse_flips"]

FLIP_NAMES = AUGMENTATIONS[1:]          # in the canonical order of layout.AUGMENTATIONS
CLAHE_AT = ("output", "source")         # after the resize (the original notebook) or at full size
RESIZES = ("exact", "fast")
DECODES = ("auto", "exact", "reduced")

_FLIP_TOKENS = {"h": "hflip", "v": "vflip", "hv": "hvflip"}

# libjpeg's JPEG_MAX_DIMENSION: a larger square could not be encoded.
_MAX_SIZE = 65500
# The CLAHE lookup tables hold grid² × 256 entries; this keeps them in the megabytes.
_MAX_CLAHE_GRID = 256


def parse_flips(text: str) -> tuple[str, ...]:
    """Parse the ``--flips`` option into flip names in canonical order.

    Args:
        text: a comma list of ``h``, ``v``, ``hv`` (in any order, repeats allowed), or
            ``none`` alone.

    Returns:
        The flip names, e.g. ``"v,h"`` → ``("hflip", "vflip")``; ``"none"`` → ``()``.

    Raises:
        ValueError: a token other than those, naming it and the valid ones.
    """
    tokens = [token.strip() for token in text.split(",")]
    if tokens == ["none"]:
        return ()
    for token in tokens:
        if token not in _FLIP_TOKENS:
            raise ValueError(f"--flips: unknown token {token!r} in {text!r}; expected a comma "
                             f"list of {', '.join(_FLIP_TOKENS)}, or 'none' alone")
    chosen = {_FLIP_TOKENS[token] for token in tokens}
    return tuple(name for name in FLIP_NAMES if name in chosen)


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_flips(value) -> bool:
    return (isinstance(value, tuple) and len(set(value)) == len(value)
            and all(isinstance(name, str) and name in FLIP_NAMES for name in value))


# (field, what is expected, check): one table drives RenderParams validation.
_PARAM_CHECKS = (
    ("size", f"an integer from 1 to {_MAX_SIZE}", lambda v: _is_int(v) and 1 <= v <= _MAX_SIZE),
    ("clahe_clip", "a finite number > 0",
     lambda v: isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0),
    ("clahe_grid", f"an integer from 1 to {_MAX_CLAHE_GRID}",
     lambda v: _is_int(v) and 1 <= v <= _MAX_CLAHE_GRID),
    ("clahe_at", f"one of {list(CLAHE_AT)}", lambda v: isinstance(v, str) and v in CLAHE_AT),
    ("flips", f"a tuple of distinct names from {list(FLIP_NAMES)}", _is_flips),
    ("jpeg_quality", "an integer from 1 to 100", lambda v: _is_int(v) and 1 <= v <= 100),
    ("max_pixels", "an integer >= 1", lambda v: _is_int(v) and v >= 1),
    ("resize", f"one of {list(RESIZES)}", lambda v: isinstance(v, str) and v in RESIZES),
    ("decode", f"one of {list(DECODES)}", lambda v: isinstance(v, str) and v in DECODES),
)


@dataclass(frozen=True)
class RenderParams:
    """How ``imageops.render`` turns one source image into its versions.

    The defaults reproduce the original pipeline: CLAHE (clip 2, 8×8 tiles) after a
    299×299 area resize, and the original plus three flips per input. ``resize="fast"``
    (see ``imageops.resize_area``) trades pixel fidelity for speed and is off by default.
    ``decode``: ``"auto"`` decodes a JPEG at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling)
    where the decoded image keeps ``imageops.AUTO_REDUCE_MARGIN`` × ``size`` on its shorter
    side and CLAHE runs at the output, which measured within 1 gray level of a full decode;
    ``"exact"`` always decodes in full; ``"reduced"`` takes the smallest scale keeping
    ``size``, with either ``clahe_at``, and moves pixels more. docs/performance.md gives the
    figures.
    """

    size: int = 299
    clahe_clip: float = 2.0
    clahe_grid: int = 8
    clahe_at: str = "output"
    flips: tuple[str, ...] = ("hflip", "vflip", "hvflip")
    jpeg_quality: int = 95
    max_pixels: int = 50_000_000
    resize: str = "exact"
    decode: str = "auto"

    def __post_init__(self):
        """Raises ValueError naming the field, what was expected and what came."""
        for field, expected, check in _PARAM_CHECKS:
            value = getattr(self, field)
            if not check(value):
                raise ValueError(f"RenderParams.{field}: expected {expected}, got {value!r}")


def format_flips(flips: tuple[str, ...]) -> str:
    """The ``--flips`` text of flip names: the inverse of ``parse_flips``."""
    tokens = {name: token for token, name in _FLIP_TOKENS.items()}
    return ",".join(tokens[name] for name in flips) or "none"
