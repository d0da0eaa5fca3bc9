"""Decoded pixel arrays to 2-D uint8 gray: channel reduction and min-max scaling.

Shared by the PNG/JPEG decoders (decode.py) and the DICOM decoder (dicom.py). The min-max
scaling is split into its bounds and its arithmetic so that DICOM's lookup table can apply
the very same float32 operations to each stored value that the float path applies to
each pixel: the two give identical bytes.
"""

import cv2
import numpy as np

from cxrpipe.errors import ImageRejected


def to_gray(img: np.ndarray, three_to_gray: int, four_to_gray: int) -> np.ndarray:
    """One channel from 1 to 4: alpha dropped, colour through the given OpenCV conversion."""
    channels = 1 if img.ndim == 2 else img.shape[2]
    if img.ndim > 3 or channels not in (1, 2, 3, 4):
        raise ImageRejected("unsupported_mode", f"pixel array of shape {img.shape}")
    if channels == 1:
        return img.reshape(img.shape[:2])
    if channels == 2:
        return np.ascontiguousarray(img[:, :, 0])  # gray + alpha: the alpha is dropped
    return cv2.cvtColor(img, three_to_gray if channels == 3 else four_to_gray)


def to_uint8(gray: np.ndarray) -> np.ndarray:
    """uint8 unchanged; other integer and float types min-max scaled to 0..255."""
    if gray.dtype == np.uint8:
        return gray
    if gray.dtype.kind not in "uif":
        raise ImageRejected("unsupported_mode", f"pixel type {gray.dtype}")
    return minmax_to_uint8(gray)


def minmax_to_uint8(values: np.ndarray) -> np.ndarray:
    """Scale linearly from the array's own min-max to 0..255; a constant array gives zeros."""
    return scale_to_uint8(values, *finite_bounds(values))


def finite_bounds(values: np.ndarray) -> tuple[float, float]:
    """(min, max) of the values as floats; raises ImageRejected when either is not finite."""
    low, high = float(values.min()), float(values.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ImageRejected("undecodable", "pixel values are not finite")
    return low, high


def scale_to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map low..high linearly to 0..255 (rounded); high <= low gives zeros."""
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    # float32 holds every 16-bit value exactly and halves the temporary of float64.
    scaled = values.astype(np.float32)
    scaled -= low
    scaled *= 255.0 / (high - low)
    return np.rint(scaled, out=scaled).astype(np.uint8)


def nonzero_size(width: int, height: int, fmt: str) -> tuple[int, int]:
    """(width, height) unchanged; ImageRejected when a side is 0."""
    if width == 0 or height == 0:
        raise ImageRejected("undecodable", f"{fmt} header declares {width}x{height}")
    return width, height
