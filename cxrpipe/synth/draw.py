"""Drawing a normal chest (frontal or lateral) on a ``Canvas``, and composing its layers."""

from __future__ import annotations

import cv2
import numpy as np

from cxrpipe.synth.anatomy import (
    N_RIBS, SIDES, Anatomy, Canvas, body_outline, lung_outline, rib_curve,
)


def draw_frontal(a: Anatomy, shape: tuple[int, int], rng: np.random.Generator) -> Canvas:
    """Draw a normal PA chest.

    Args:
        a: the anatomy.
        shape: (height, width) of the low-resolution canvas.
        rng: the source of the vessel pattern.

    Returns:
        The canvas, ready for findings and ``compose``.
    """
    cv = Canvas(shape)
    cv.base[:] = a.levels.background
    cv.paint(cv.poly(body_outline(a)), a.levels.tissue)
    for side in SIDES:
        cv.lungs[side] = cv.poly(lung_outline(a, side))
    _air(cv, a)
    _mediastinum(cv, a)
    _bones(cv, a)
    _vessels(cv, a, rng)
    return cv


def _air(cv: Canvas, a: Anatomy) -> None:
    lungs = cv.smooth(cv.lungs[-1] + cv.lungs[1], 0.004)
    _, y = cv.grid
    # Deepest in the middle of each lung and at the bases, where the least tissue overlies it.
    depth = (a.levels.tissue - a.levels.lung) * (0.6 + 0.4 * cv.smooth(lungs, 0.04))
    depth *= 0.85 + 0.15 * np.clip((y - a.apex) / 0.25, 0, 1)
    cv.base -= depth * lungs


def _mediastinum(cv: Canvas, a: Anatomy) -> None:
    dx, hy, hw, hh, angle = a.heart
    m, w = a.mid, a.mediastinum
    _, y = cv.grid
    below_diaphragm = y > a.base(1) - 0.2 * a.dome
    heart = np.maximum(cv.ellipse((m + dx, hy), (hw, hh), angle),
                       cv.ellipse((m - 0.045, hy + 0.01), (0.06, 0.075)))
    heart[below_diaphragm] = 0
    middle = cv.poly([(m - w, -0.05), (m + w, -0.05), (m + 1.1 * w, hy), (m - 1.1 * w, hy)])
    knob = cv.ellipse((m + w + 0.01, 0.29), (0.03, 0.03))
    cv.heart = np.clip(heart + middle + knob, 0, 1)
    cv.paint(cv.smooth(cv.heart, 0.004), a.levels.dense)
    dark = a.levels.dense - 50
    cv.paint(cv.smooth(cv.line([(m, -0.05), (m + 0.005, a.hilum - 0.08)], 0.028), 0.004), dark, 0.8)
    carina = (m + 0.005, a.hilum - 0.08)
    for side in SIDES:
        bronchus = cv.line([carina, (m + side * 0.07, a.hilum)], 0.014)
        cv.paint(cv.smooth(bronchus, 0.003), dark, 0.5)
    bubble = cv.ellipse((m + 0.17, a.base(1) - a.dome + 0.065), (0.045, 0.028))
    cv.paint(cv.smooth(bubble * (1 - cv.lungs[1]), 0.006), a.levels.tissue - 55, 0.8)


def _bones(cv: Canvas, a: Anatomy) -> None:
    arcs = [rib_curve(a, side, k) for side in SIDES for k in range(N_RIBS)]
    posterior = [cv.px(p) for p, _ in arcs]
    anterior = [cv.px(q) for _, q in arcs]
    level = a.levels.bone
    cv.bone += level * _polylines(cv, posterior, a.rib_width)
    # A rib is a tube: its cortex shows brighter than its middle.
    cv.bone -= 0.45 * level * _polylines(cv, posterior, 0.4 * a.rib_width)
    cv.bone += 0.3 * level * _polylines(cv, anterior, 0.8 * a.rib_width)
    for side in SIDES:
        m = a.mid
        clavicle = [(m + side * 0.035, a.apex + 0.03), (m + side * 0.16, a.apex - 0.005),
                    (m + side * 0.3, a.apex - 0.04)]
        cv.bone += 1.3 * level * cv.line(clavicle, 0.02)
    spine = cv.poly([(a.mid - 0.03, -0.05), (a.mid + 0.03, -0.05), (a.mid + 0.03, 1.5),
                     (a.mid - 0.03, 1.5)])
    discs = [cv.px([(a.mid - 0.03, y), (a.mid + 0.03, y)])
             for y in np.arange(a.rib_top, 1.0, a.rib_step * 0.6)]
    cv.bone += 0.6 * level * spine * (1 - 0.5 * _polylines(cv, discs, 0.006))
    cv.bone = cv.smooth(cv.bone, 0.002)


def _polylines(cv: Canvas, curves, width: float) -> np.ndarray:
    mask = np.zeros(cv.shape, np.float32)
    cv2.polylines(mask, curves, False, 1.0, cv.size(width), cv2.LINE_8)
    return mask


def _vessels(cv: Canvas, a: Anatomy, rng: np.random.Generator) -> None:
    marks = np.zeros(cv.shape, np.float32)
    for side in SIDES:
        hilum = np.array([a.mid + side * (a.medial + 0.035), a.hilum + 0.02])
        cv2.ellipse(marks, tuple(int(v) for v in cv.px(hilum)[0]),
                    (cv.size(0.03), cv.size(0.055)), 0, 0, 360, 0.8, -1)
        for angle, length in zip(rng.uniform(-1.2, 1.35, 13), rng.uniform(0.12, 0.26, 13)):
            start = hilum + rng.uniform(-0.02, 0.03, 2)
            for width in (0.007, 0.005, 0.003):
                angle += rng.normal(0, 0.25)
                end = start + length / 3 * np.array([side * np.cos(angle), np.sin(angle)])
                p, q = cv.px([start, end])
                cv2.line(marks, tuple(int(v) for v in p), tuple(int(v) for v in q), 1.0,
                         cv.size(width), cv2.LINE_8)
                start = end
    lungs = cv.lungs[-1] + cv.lungs[1]
    cv.marks = a.levels.vessel * cv.smooth(np.minimum(marks, 1), 0.003) * lungs


def draw_lateral(a: Anatomy, shape: tuple[int, int], rng: np.random.Generator) -> Canvas:
    """Draw a normal lateral chest (facing the image's left): one lung field, the heart in
    front of it, the spine behind. Findings are not planted on lateral views.

    Args:
        a: the anatomy.
        shape: (height, width) of the low-resolution canvas.
        rng: the source of the small variations of the lateral projection.

    Returns:
        The canvas, ready for ``compose``.
    """
    cv = Canvas(shape)
    s, levels = a.mid - 0.5, a.levels
    cv.base[:] = levels.background
    front, back = 0.15 + s + rng.uniform(-0.02, 0.02), 0.87 + s
    cv.paint(cv.poly([(front + 0.02, -0.05), (front, 0.35), (front - 0.01, 0.65),
                      (front + 0.02, 1.5), (back, 1.5), (back + 0.01, 0.6), (back, 0.2),
                      (back - 0.06, -0.05)]), levels.tissue)
    lung = cv.lungs[-1] = cv.poly(_lateral_lung(a, s))
    cv.base -= (levels.tissue - levels.lung) * lung * (0.6 + 0.4 * cv.smooth(lung, 0.05))
    cv.heart = cv.ellipse((0.36 + s, a.base(1) - 0.12), (0.15, 0.12), -30)
    cv.heart[cv.grid[1] > a.base(1) - a.dome * 0.5] = 0
    cv.paint(cv.smooth(cv.heart, 0.005), levels.dense - 10, 0.9)
    trachea = cv.line([(0.5 + s, -0.05), (0.54 + s, a.hilum - 0.05)], 0.03)
    cv.paint(cv.smooth(trachea, 0.004), levels.dense - 55, 0.7)
    _lateral_bones(cv, a, s)
    hilum = cv.ellipse((0.52 + s, a.hilum + 0.03), (0.05, 0.07))
    cv.marks = levels.vessel * cv.smooth(hilum, 0.02)
    return cv


def _lateral_bones(cv: Canvas, a: Anatomy, s: float) -> None:
    level = a.levels.bone
    for k in range(N_RIBS):
        y0, y1 = a.rib_top + k * a.rib_step, a.rib_top + (k + 0.6) * a.rib_step
        rib = [(0.80 + s, y0), (0.55 + s, y0 + 0.08), (0.3 + s, y0 + 0.16)]
        cv.bone += 0.4 * level * cv.line(rib, a.rib_width)
        vertebra = [(0.78 + s, y0 + 0.01), (0.86 + s, y0 + 0.01), (0.86 + s, y1), (0.78 + s, y1)]
        cv.bone += level * cv.poly(vertebra)
    cv.bone += level * cv.line([(0.2 + s, a.apex + 0.06), (0.18 + s, 0.55)], 0.02)
    cv.bone = cv.smooth(cv.bone, 0.002)


def _lateral_lung(a: Anatomy, s: float) -> np.ndarray:
    t = np.linspace(0.0, 1.0, 20)
    grow = np.sqrt(1 - (1 - t) ** 3)
    low_front, low_back = a.base(1) - 0.02, a.base(1) + 0.04
    front = np.stack([0.48 + s - 0.26 * grow, a.apex + t * (low_front - a.apex)], 1)
    x = 0.22 + s + t * 0.56
    diaphragm = np.stack([x, low_front + t * 0.06 - a.dome * np.sin(np.pi * t)], 1)
    back = np.stack([0.48 + s + 0.30 * grow, a.apex + t * (low_back - a.apex)], 1)[::-1]
    return np.concatenate([front, diaphragm, back])


def compose(cv: Canvas, a: Anatomy) -> np.ndarray:
    """Flatten the layers into one low-resolution float image, placed and lit as ``a`` says."""
    lungs = np.clip(cv.lungs[-1] + cv.lungs[1], 0, 1)
    # Bone shows through air far better than through the heart or the abdomen.
    image = cv.base + cv.bone * (0.3 + 0.7 * cv.smooth(lungs, 0.01)) + cv.marks * lungs
    image = np.maximum(image, cv.overlay)
    h, w = cv.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), a.tilt, a.zoom)
    matrix[:, 2] += np.array(a.shift) * cv.scale
    image = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    x, y = cv.grid
    angle, amplitude = a.gradient
    image += amplitude * ((x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle))
    return cv2.GaussianBlur(image, (0, 0), 0.6)
