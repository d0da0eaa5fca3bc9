"""The image core: CLAHE, square resize, flips and JPEG encoding, and ``render`` tying them up.

Arrays in, arrays out; ``render`` takes a source file's bytes and returns the JPEG bytes of
every version to write. Decoding lives in ``cxrpipe.decode`` and is re-exported here.
Nothing here touches OpenCV's global state (thread count and the like): that is the
caller's policy.
"""

from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Callable

import cv2
import numpy as np

from cxrpipe.decode import decode_gray8, decode_with_header, probe
from cxrpipe.errors import ImageRejected
from cxrpipe.layout import AUGMENTATIONS
# The parameters live in a module without OpenCV (the CLI reads their defaults); re-exported.
from cxrpipe.params import CLAHE_AT, DECODES, RESIZES, RenderParams, parse_flips

__all__ = [
    "AUGMENTATIONS", "AUTO_REDUCE_MARGIN", "CLAHE_AT", "DECODES", "FLIPS", "RESIZES", "RenderParams",
    "Rendered", "clahe", "decode_gray8", "encode_jpeg", "flip", "parse_flips", "probe", "render", "resize_area",
]

# cv2.flip codes: 1 mirrors left-right, 0 top-bottom, -1 both (a 180° rotation).
# Flips in the canonical order of layout.AUGMENTATIONS.
_FLIP_CODES = {"hflip": 1, "vflip": 0, "hvflip": -1}
FLIPS: "MappingProxyType[str, Callable[[np.ndarray], np.ndarray]]" = MappingProxyType({
    name: partial(cv2.flip, flipCode=_FLIP_CODES[name]) for name in AUGMENTATIONS[1:]})

# Chest films are near 1:1.3; past 5:1 the square output would be a smear, not a radiograph.
MAX_ASPECT = 5


def clahe(img: np.ndarray, clip: float = 2.0, grid: int = 8) -> np.ndarray:
    """Contrast limited adaptive histogram equalization of an 8-bit gray image.

    Args:
        img: 2-D uint8 (or uint16) array.
        clip: OpenCV's clipLimit.
        grid: tiles per side (tileGridSize is grid × grid).

    Returns:
        An array of img's shape and type.
    """
    return cv2.createCLAHE(clipLimit=clip, tileGridSize=(grid, grid)).apply(img)


def resize_area(img: np.ndarray, size: int, method: str = "exact") -> np.ndarray:
    """Resize to size × size with area interpolation, ignoring the aspect ratio.

    The square output, aspect not kept, is what the original pipeline fed its models.

    Args:
        img: 2-D array.
        size: output side in pixels.
        method: ``"exact"``, one area resize; ``"fast"``, first an integer shrink per axis
            (OpenCV's much cheaper integer-ratio area path) by the largest factor that
            divides that side and keeps it >= size, then the area resize. Box averages of
            box averages: close to, not equal to, the exact resize.

    Returns:
        A (size, size) array of img's type.

    Raises:
        ValueError: an unknown method.
    """
    if method not in RESIZES:
        raise ValueError(f"resize method: expected one of {list(RESIZES)}, got {method!r}")
    if method == "fast":
        height, width = img.shape[:2]
        fx, fy = _integer_factor(width, size), _integer_factor(height, size)
        if fx * fy > 1:
            img = cv2.resize(img, (width // fx, height // fy), interpolation=cv2.INTER_AREA)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)



def _integer_factor(side: int, size: int) -> int:
    """The largest k dividing side with side / k >= size (1 when there is none)."""
    return max(k for k in range(1, max(side // size, 1) + 1) if side % k == 0)


def flip(img: np.ndarray, augmentation: str) -> np.ndarray:
    """Apply one augmentation by name.

    Args:
        img: 2-D array.
        augmentation: one of ``AUGMENTATIONS``; ``"none"`` returns img itself.

    Returns:
        The flipped array (a new one unless augmentation is ``"none"``).

    Raises:
        ValueError: an unknown augmentation name.
    """
    if augmentation == "none":
        return img
    if augmentation not in FLIPS:
        raise ValueError(f"augmentation: expected one of {list(AUGMENTATIONS)}, "
                         f"got {augmentation!r}")
    return FLIPS[augmentation](img)


def encode_jpeg(img: np.ndarray, quality: int = 95) -> bytes:
    """Encode a gray image as a baseline single-channel JPEG.

    Args:
        img: 2-D uint8 array.
        quality: libjpeg quality, 1..100.

    Returns:
        The JPEG file's bytes.

    Raises:
        ValueError: img is not 2-D uint8, or OpenCV fails to encode it.
    """
    if img.ndim != 2 or img.dtype != np.uint8:
        raise ValueError(f"encode_jpeg: expected a 2-D uint8 array, got {img.dtype} {img.shape}")
    ok, buffer = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"encode_jpeg: OpenCV failed to encode a {img.shape} image")
    return buffer.tobytes()


# How a decoded source becomes the base version, by RenderParams.clahe_at.
_PIPELINES = {
    # As the original notebook: equalize the small image the model sees.
    "output": lambda gray, p: clahe(resize_area(gray, p.size, p.resize), p.clahe_clip, p.clahe_grid),
    # Equalize at full resolution, where the tiles cover the anatomy at native scale.
    "source": lambda gray, p: resize_area(clahe(gray, p.clahe_clip, p.clahe_grid), p.size, p.resize),
}
# A DCT-scaled decode then an area resize differs from a full decode then the same resize at
# the edges of the scaled pixels, and CLAHE amplifies it. Measured after CLAHE on phantoms
# (docs/performance.md): with the decoded side 1-2x the output the mean difference was
# 1.0-1.9 gray levels, from 3x on 0.4-0.85.
AUTO_REDUCE_MARGIN = 3


@dataclass(frozen=True)
class Rendered:
    """The JPEG versions of one source image, and what its header said.

    ``versions`` holds ``("none", jpeg)`` first, then one ``(flip name, jpeg)`` per flip in
    ``RenderParams.flips`` order.
    """

    source_format: str
    source_width: int
    source_height: int
    versions: tuple[tuple[str, bytes], ...]


def render(data: bytes, params: RenderParams) -> Rendered:
    """Decode one source image and produce its CLAHE-enhanced, resized JPEG versions.

    Deterministic: the same bytes and params give the same output bytes.

    Args:
        data: the source file's bytes (PNG, JPEG or DICOM).
        params: the rendering parameters.

    Returns:
        The source's format and size and every version's JPEG bytes.

    Raises:
        ImageRejected: the input cannot be used (see ``decode_gray8``), or its sides are more
            than ``MAX_ASPECT``:1 apart (``extreme_aspect``); nothing partial is returned.
    """
    fmt, width, height, gray = decode_with_header(data, params.max_pixels, _reduce_to(params))
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageRejected("extreme_aspect", f"{width}x{height}: sides more than {MAX_ASPECT}:1 apart "
                            f"would be stretched into a {params.size}x{params.size} square")
    base = _PIPELINES[params.clahe_at](gray, params)
    images = (("none", base),) + tuple((name, FLIPS[name](base)) for name in params.flips)
    versions = tuple((name, encode_jpeg(img, params.jpeg_quality)) for name, img in images)
    return Rendered(fmt, width, height, versions)


def _reduce_to(params: RenderParams) -> int | None:
    """The smallest side a reduced JPEG decode may leave (None: decode in full)."""
    if params.decode == "reduced":
        return params.size
    # CLAHE at full resolution sees the scaled pixels themselves: 2.7 gray levels apart.
    if params.decode == "auto" and params.clahe_at == "output":
        return params.size * AUTO_REDUCE_MARGIN
    return None
