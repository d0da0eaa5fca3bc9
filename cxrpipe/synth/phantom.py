"""Synthetic chest radiographs: a varied normal anatomy plus planted, learnable findings.

The chest is drawn on a small canvas (at most ``DRAW_SIDE`` pixels a side: cv2 primitives and
box blurs there cost well under a millisecond each), upscaled, and given full-resolution
quantum mottle, so a 1024 x 1024 phantom costs a few milliseconds.
"""

from __future__ import annotations

import cv2
import numpy as np

from cxrpipe.synth.anatomy import sample_anatomy
from cxrpipe.synth.draw import compose, draw_frontal, draw_lateral
from cxrpipe.synth.findings import FINDINGS, resolve_findings

DRAW_SIDE = 384


def render_phantom(rng: np.random.Generator, size: tuple[int, int], findings: tuple[str, ...],
                   lateral: bool = False) -> np.ndarray:
    """Render one chest phantom.

    The anatomy, each finding and the noise draw from streams of their own derived from
    ``rng``, so the same ``rng`` state with and without a finding gives the same chest, and a
    finding looks the same whatever else is planted with it.

    Args:
        rng: the source of all randomness (only three numbers are drawn from it).
        size: (height, width) in pixels.
        findings: names from ``FINDINGS`` or ``ALIASES`` (NIH, CheXpert or folder class
            names); ``No Finding`` and ``NORMAL`` draw nothing.
        lateral: draw a lateral view instead of a PA one; findings are validated but planted
            on frontal views only.

    Returns:
        A uint8 gray image of ``size``.

    Raises:
        ValueError: an unknown finding name, or a size below 16 pixels.
    """
    height, width = size
    if min(height, width) < 16:
        raise ValueError(f"size: expected at least 16 x 16 pixels, got {height} x {width}")
    keys = resolve_findings(findings)
    anatomy_seed, findings_seed, noise_seed = rng.integers(2**63, size=3)
    anatomy_rng = np.random.default_rng(anatomy_seed)
    anatomy = sample_anatomy(anatomy_rng)
    shape = _draw_shape(height, width)
    canvas = (draw_lateral if lateral else draw_frontal)(anatomy, shape, anatomy_rng)
    order = list(FINDINGS)
    for key in () if lateral else keys:
        FINDINGS[key](canvas, anatomy, np.random.default_rng([findings_seed, order.index(key)]))
    small = np.clip(compose(canvas, anatomy), 0, 255).astype(np.uint8)
    return _mottle(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR),
                   np.random.default_rng(noise_seed), anatomy.noise)


def _draw_shape(height: int, width: int) -> tuple[int, int]:
    scale = min(1.0, DRAW_SIDE / max(height, width))
    return max(8, round(height * scale)), max(8, round(width * scale))


def _mottle(image: np.ndarray, rng: np.random.Generator, amplitude: int) -> np.ndarray:
    """Add triangular noise of +-amplitude gray levels (the difference of two uniforms)."""
    up = rng.integers(0, amplitude, image.shape, dtype=np.uint8)
    down = rng.integers(0, amplitude, image.shape, dtype=np.uint8)
    return cv2.subtract(cv2.add(image, up), down)
