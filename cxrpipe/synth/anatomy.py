"""The normal anatomy of a chest phantom: sampled parameters and the layers they draw.

Geometry is in fractions of a square frame centred in the image (x to the image's right, y
down), so the same parameters draw the same chest at any size and aspect ratio. The image's
left is the patient's right, as on a PA radiograph: the heart bulges to the image's right.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SIDES = (-1, 1)  # -1: the image's left lung (patient's right), 1: the image's right lung
N_RIBS = 10


@dataclass(frozen=True)
class Levels:
    """Gray levels (0-255) of the tissues; bone and vessel are added on top of the others."""

    background: float
    tissue: float
    lung: float
    dense: float
    bone: float
    vessel: float


@dataclass(frozen=True)
class Anatomy:
    """One patient's chest, in frame fractions (see the module docstring)."""

    mid: float                   # spine centre line
    body: float                  # half-width of the trunk
    apex: float                  # height of the lung apices
    bases: tuple[float, float]   # heights of the costophrenic angles, image-left then image-right
    dome: float                  # height of the diaphragm domes above the angles
    lateral: float               # lateral lung edge, distance from the midline
    medial: float                # medial lung edge, distance from the midline
    heart: tuple[float, float, float, float, float]  # x offset, y, half-width, half-height, angle
    mediastinum: float           # half-width of the upper mediastinum
    hilum: float                 # height of the hila
    rib_top: float
    rib_step: float
    rib_width: float
    levels: Levels
    tilt: float                  # degrees; with zoom and shift, the patient's placement
    zoom: float
    shift: tuple[float, float]
    gradient: tuple[float, float]  # direction (radians) and amplitude (gray levels)
    noise: int                   # amplitude of the quantum mottle (gray levels)

    def base(self, side: int) -> float:
        """Height of the costophrenic angle on one side."""
        return self.bases[(side + 1) // 2]


def sample_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one patient's anatomy, varying every proportion a little.

    Args:
        rng: the source of all variation.

    Returns:
        The anatomy; drawing it is deterministic.
    """
    u = rng.uniform
    tissue = u(138, 168)
    levels = Levels(background=u(4, 24), tissue=tissue, lung=tissue - u(78, 100),
                    dense=tissue + u(18, 32), bone=u(18, 28), vessel=u(12, 20))
    base = u(0.71, 0.77)
    return Anatomy(
        mid=0.5 + u(-0.015, 0.015), body=u(0.41, 0.46), apex=u(0.10, 0.14),
        bases=(base, base + u(0.0, 0.03)), dome=u(0.04, 0.07), lateral=u(0.33, 0.38),
        medial=u(0.045, 0.065),
        heart=(u(0.035, 0.06), base - u(0.10, 0.13), u(0.14, 0.165), u(0.10, 0.12), u(-22, -10)),
        mediastinum=u(0.05, 0.065), hilum=u(0.40, 0.45), rib_top=u(0.10, 0.13),
        rib_step=u(0.055, 0.064), rib_width=u(0.011, 0.014), levels=levels, tilt=u(-3, 3),
        zoom=u(0.95, 1.05), shift=(u(-0.02, 0.02), u(-0.02, 0.02)),
        gradient=(u(0, 2 * np.pi), u(8, 26)), noise=int(rng.integers(4, 9)))


class Canvas:
    """Low-resolution layers a chest is drawn on, with the frame that maps fractions to pixels.

    ``base`` is painted (soft tissue, air, heart); ``bone`` and ``marks`` (lung vessels) are
    added on top when composed; ``overlay`` (devices) wins wherever it is brighter. ``lungs``
    and ``heart`` are 0/1 masks that findings use to stay inside the organs.
    """

    def __init__(self, shape: tuple[int, int]):
        h, w = shape
        self.shape = shape
        self.scale = float(min(h, w))
        self.origin = np.array([(w - self.scale) / 2, (h - self.scale) / 2], np.float32)
        self.base = np.zeros(shape, np.float32)
        self.bone = np.zeros(shape, np.float32)
        self.marks = np.zeros(shape, np.float32)
        self.overlay = np.zeros(shape, np.float32)
        self.lungs = {side: np.zeros(shape, np.float32) for side in SIDES}
        self.heart = np.zeros(shape, np.float32)

    @property
    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Frame coordinates (x, y) of every pixel centre; shared, read-only arrays."""
        return _grid(self.shape, float(self.origin[0]), float(self.origin[1]), self.scale)

    def px(self, points) -> np.ndarray:
        """Frame fractions (N x 2) to integer pixel coordinates, for cv2."""
        points = np.asarray(points, np.float32).reshape(-1, 2)
        return np.round(self.origin + points * self.scale).astype(np.int32)

    def size(self, fraction: float) -> int:
        """A length in frame fractions, in pixels (at least 1)."""
        return max(1, int(round(fraction * self.scale)))

    def poly(self, points) -> np.ndarray:
        """A filled polygon as a 0/1 mask."""
        mask = np.zeros(self.shape, np.float32)
        cv2.fillPoly(mask, [self.px(points)], 1.0)
        return mask

    def ellipse(self, centre, axes, angle: float = 0.0) -> np.ndarray:
        """A filled ellipse (centre and half-axes in fractions, angle in degrees) as a 0/1 mask."""
        mask = np.zeros(self.shape, np.float32)
        (cx, cy), (ax, ay) = self.px(centre)[0], (self.size(axes[0]), self.size(axes[1]))
        cv2.ellipse(mask, (int(cx), int(cy)), (ax, ay), float(angle), 0, 360, 1.0, -1)
        return mask

    def line(self, points, width: float) -> np.ndarray:
        """An open polyline of the given width (a fraction) as a 0/1 mask."""
        mask = np.zeros(self.shape, np.float32)
        cv2.polylines(mask, [self.px(points)], False, 1.0, self.size(width), cv2.LINE_8)
        return mask

    def smooth(self, layer: np.ndarray, sigma: float) -> np.ndarray:
        """Blur by about ``sigma`` (a fraction): two box passes, cheap at any width."""
        k = max(1, int(round(2.45 * sigma * self.scale))) | 1
        return cv2.blur(cv2.blur(layer, (k, k)), (k, k)) if k > 1 else layer

    def noise(self, rng: np.random.Generator, cell: float) -> np.ndarray:
        """A smooth random field of unit spread whose blobs are about ``cell`` across."""
        h, w = self.shape
        cells = max(2, int(round(max(h, w) / (cell * self.scale))))
        coarse = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
        field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        return field / max(float(field.std()), 1e-6)

    def cover(self, side: int) -> np.ndarray:
        """A lung's mask grown over its own soft edge, so an opacity painted with it leaves no
        dark rim where the lung meets the chest wall."""
        return np.clip(3 * self.smooth(self.lungs[side], 0.004), 0, 1)

    def paint(self, mask: np.ndarray, level: float, alpha: float = 1.0) -> None:
        """Lay tissue of ``level`` over ``base`` where ``mask`` is, hiding the vessels under it."""
        self.base += alpha * mask * (level - self.base)
        self.marks *= 1 - alpha * mask


@lru_cache(maxsize=8)
def _grid(shape, x0: float, y0: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = shape
    xs = (np.arange(w, dtype=np.float32) + 0.5 - x0) / scale
    ys = (np.arange(h, dtype=np.float32) + 0.5 - y0) / scale
    x, y = np.meshgrid(xs, ys)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def lung_edges(a: Anatomy, side: int, n: int = 20) -> tuple[np.ndarray, ...]:
    """The lateral edge (apex down), the diaphragm (lateral to medial) and the medial edge
    (bottom up) of one lung, each N x 2 in frame fractions."""
    t = np.linspace(0.0, 1.0, n)
    base, apex_d = a.base(side), a.medial + 0.35 * (a.lateral - a.medial)
    medial_base = base - 0.3 * a.dome
    lat_d = apex_d + (a.lateral - apex_d) * np.sqrt(1 - (1 - t) ** 3)
    lateral = np.stack([a.mid + side * lat_d, a.apex + t * (base - a.apex)], 1)
    d = a.lateral + t * (a.medial - a.lateral)
    dome_y = base - t * 0.3 * a.dome - a.dome * np.sin(np.pi * t) ** 0.8
    diaphragm = np.stack([a.mid + side * d, dome_y], 1)
    med_d = apex_d - (apex_d - a.medial) * np.sqrt(1 - (1 - t) ** 4)
    medial = np.stack([a.mid + side * med_d, a.apex + t * (medial_base - a.apex)], 1)[::-1]
    return lateral, diaphragm, medial


def lung_outline(a: Anatomy, side: int) -> np.ndarray:
    """The closed outline of one lung, N x 2 in frame fractions."""
    return np.concatenate(lung_edges(a, side))


def rib_curve(a: Anatomy, side: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The posterior arc (spine outwards) and the anterior arc (lateral end inwards) of rib k."""
    u = np.linspace(0.0, 1.0, 14)
    y0 = a.rib_top + k * a.rib_step
    reach = a.lateral + 0.02
    d = 0.025 + u * (reach - 0.025)
    y = y0 - 0.018 * np.sin(np.pi * np.minimum(u / 0.7, 1.0)) + 0.06 * u ** 2
    posterior = np.stack([a.mid + side * d, y], 1)
    v = np.linspace(0.0, 1.0, 8)
    anterior = np.stack([a.mid + side * (reach - v * 0.55 * reach), y[-1] + 0.085 * v], 1)
    return posterior, anterior


def body_outline(a: Anatomy) -> np.ndarray:
    """The trunk: neck, sloping shoulders, chest wall down past the bottom of the frame."""
    m, b = a.mid, a.body
    right = [(m + 0.07, -0.05), (m + 0.08, 0.04), (m + b * 0.8, 0.08), (m + b, 0.16),
             (m + b + 0.01, 0.45), (m + b - 0.01, 0.85), (m + b - 0.03, 1.5)]
    left = [(2 * m - x, y) for x, y in reversed(right)]
    return np.array(right + left, np.float32)
