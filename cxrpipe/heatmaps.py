"""Attention maps as arrays: normalising a class activation map, bringing it to an image's
size, colouring it over the image, and scoring it against a box. Pure numpy and OpenCV.

A map is float (h, w) with values >= 0; a box is ``(x, y, w, h)`` in the pixel coordinates of
the image the map was brought to (x right, y down, as NIH's ``BBox_List_2017.csv`` writes it).
"""

from __future__ import annotations

import cv2
import numpy as np

# How much of the overlay is the heatmap's colour where the map is at its maximum.
OVERLAY_ALPHA = 0.45


def normalise(cam: np.ndarray) -> np.ndarray:
    """A map scaled to [0, 1] by its maximum; an all-zero (or negative) map stays zero.

    Grad-CAM's ReLU leaves no negative values; the clip keeps the contract for any input.
    """
    cam = np.clip(np.asarray(cam, dtype=np.float64), 0.0, None)
    top = cam.max() if cam.size else 0.0
    return cam / top if top > 0 else np.zeros_like(cam)


def upsample(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """A (h, w) map stretched to (height, width) bilinearly, as the image was stretched to its
    square: the map covers the whole image, corner to corner."""
    return cv2.resize(np.asarray(cam, dtype=np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def overlay(gray: np.ndarray, heat: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """The gray image with the map in OpenCV's JET colours (blue low, red high) over it.

    Args:
        gray: uint8 (H, W) image.
        heat: map in [0, 1] of any size (brought to (H, W) here).
        alpha: the colour's weight where the map is 1; it fades with the map, so cold
            regions show the radiograph itself.

    Returns:
        uint8 (H, W, 3) BGR image, ready for ``cv2.imencode``.

    Raises:
        ValueError: ``gray`` is not 2-D uint8.
    """
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"overlay: expected a 2-D uint8 image, got {gray.dtype} {gray.shape}")
    heat = np.clip(upsample(heat, *gray.shape), 0.0, 1.0)
    colour = cv2.applyColorMap(np.round(heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    weight = (alpha * heat)[..., None]
    base = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR).astype(np.float32)
    return np.round(base * (1 - weight) + colour * weight).astype(np.uint8)


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 image (gray or BGR)."""
    ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"encode_png: OpenCV failed to encode a {image.shape} image")
    return buffer.tobytes()


def peak(heat: np.ndarray) -> tuple[float, float]:
    """(x, y) of the map's maximum, at the pixel's centre (the first one on ties)."""
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return col + 0.5, row + 0.5


def inside(point: tuple[float, float], box) -> bool:
    """Whether (x, y) lies in the box ``(x, y, w, h)``, edges included."""
    x, y = point
    bx, by, bw, bh = box
    return bx <= x <= bx + bw and by <= y <= by + bh


def box_mask(box, height: int, width: int) -> np.ndarray:
    """Boolean (height, width): the pixels whose centres lie in the box."""
    bx, by, bw, bh = box
    cols = np.arange(width) + 0.5
    rows = np.arange(height) + 0.5
    in_x = (cols >= bx) & (cols <= bx + bw)
    in_y = (rows >= by) & (rows <= by + bh)
    return in_y[:, None] & in_x[None, :]


def iou(mask: np.ndarray, other: np.ndarray) -> float:
    """Intersection over union of two boolean masks (0 when both are empty)."""
    union = np.logical_or(mask, other).sum()
    return float(np.logical_and(mask, other).sum() / union) if union else 0.0


def score_box(heat: np.ndarray, box, threshold: float) -> tuple[bool, float]:
    """(hit, IoU) of one map against one box.

    Args:
        heat: map in [0, 1] at the box's coordinates' resolution.
        box: ``(x, y, w, h)`` in that map's pixels.
        threshold: the map is thresholded at ``threshold`` times its maximum; an all-zero
            map (no evidence) covers nothing and misses.

    Returns:
        Whether the map's peak lies in the box, and the IoU of the thresholded map and the box.
    """
    if not np.any(heat > 0):
        return False, 0.0
    region = heat >= threshold * heat.max()
    return inside(peak(heat), box), iou(region, box_mask(box, *heat.shape))
