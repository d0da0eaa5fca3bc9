"""Pixels for the report: sources shrunk for display, intensity histograms, data URIs. Pure."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from cxrpipe.imageops import encode_jpeg, resize_area

DISPLAY_QUALITY = 90
_MIME = {b"\xff\xd8": "image/jpeg", b"\x89P": "image/png"}


def data_uri(data: bytes) -> str:
    """A ``data:`` URI of JPEG or PNG bytes, so the page needs no file beside it.

    Raises:
        ValueError: the bytes are neither JPEG nor PNG.
    """
    mime = _MIME.get(data[:2])
    if mime is None:
        raise ValueError(f"data_uri: expected JPEG or PNG bytes, got ones starting {data[:4].hex()}")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def fit_within(gray: np.ndarray, side: int) -> np.ndarray:
    """Shrink (never enlarge) so the longer side is at most ``side``, keeping the aspect ratio."""
    height, width = gray.shape
    scale = side / max(height, width)
    if scale >= 1:
        return gray
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def source_views(gray: np.ndarray, size: int) -> tuple[bytes, np.ndarray]:
    """What the report makes of a decoded source.

    Args:
        gray: the source decoded to 8-bit gray, at full resolution.
        size: the dataset's output side.

    Returns:
        A JPEG of the source shrunk to fit ``size`` with its own aspect ratio (for display),
        and the source resized to size × size as the pipeline does before CLAHE (for the
        "before" histogram, so both histograms count the same number of pixels).
    """
    shown = encode_jpeg(fit_within(gray, size), DISPLAY_QUALITY)
    return shown, resize_area(gray, size)


def intensity_histogram(gray: np.ndarray) -> np.ndarray:
    """Pixel counts per 8-bit gray level (256 bins)."""
    if gray.dtype != np.uint8:
        raise ValueError(f"intensity_histogram: expected uint8 pixels, got {gray.dtype}")
    return np.bincount(gray.ravel(), minlength=256).astype(np.int64)


def decode_jpeg_gray(data: bytes) -> np.ndarray:
    """Decode an output JPEG (8-bit gray) of the dataset.

    Raises:
        ValueError: OpenCV cannot decode it.
    """
    gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise ValueError("not a decodable JPEG")
    return gray
