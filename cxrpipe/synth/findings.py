"""Planted findings: one drawing function per finding, in a dispatch table.

Each function draws its finding onto a ``Canvas`` of a frontal chest, where a model can learn
it: the shape, density, texture and place differ from finding to finding (see each docstring).
``FINDINGS`` is keyed by the NIH names plus the CheXpert observations NIH lacks; its order is
the drawing order (changes of the anatomy first, opacities last). ``ALIASES`` maps the other
datasets' names onto it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cxrpipe.labels import NO_FINDING
from cxrpipe.synth.anatomy import SIDES, Anatomy, Canvas, lung_edges, lung_outline, rib_curve


def _side(rng: np.random.Generator) -> int:
    return int(rng.choice(SIDES))


def _sides(rng: np.random.Generator, both: float) -> tuple[int, ...]:
    return SIDES if rng.random() < both else (_side(rng),)


def _lung_point(a: Anatomy, side: int, rng: np.random.Generator, margin: float) -> tuple:
    """A point well inside one lung: between its edges, away from apex and diaphragm."""
    y = rng.uniform(a.apex + 0.1, a.base(side) - a.dome - margin)
    x = a.mid + side * rng.uniform(a.medial + margin, a.lateral - margin)
    return x, y


def _emphysema(cv: Canvas, a: Anatomy, rng) -> None:
    """Larger, darker lungs with flat diaphragms, thinned vessels and a few bullae."""
    big = replace(a, lateral=a.lateral + 0.02, apex=a.apex - 0.01, dome=0.25 * a.dome,
                  bases=tuple(b + 0.05 for b in a.bases))
    for side in SIDES:
        lung = cv.poly(lung_outline(big, side)) * (1 - cv.heart)
        soft = cv.smooth(lung, 0.004)
        gained = np.clip(soft - cv.smooth(cv.lungs[side], 0.004), 0, 1)
        cv.base -= (a.levels.tissue - a.levels.lung) * gained + 24 * soft
        cv.lungs[side] = np.maximum(cv.lungs[side], lung)
    cv.marks *= 0.45
    for _ in range(rng.integers(1, 4)):
        side = _side(rng)
        centre = (a.mid + side * rng.uniform(0.12, 0.26), rng.uniform(a.apex + 0.06, 0.32))
        r = rng.uniform(0.03, 0.05)
        cv.base -= 15 * cv.ellipse(centre, (r, r)) * cv.lungs[side]
        cv.base += 14 * cv.line(_circle(centre, r), 0.003) * cv.lungs[side]


def _circle(centre, r: float) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, 33)
    return np.stack([centre[0] + r * np.cos(t), centre[1] + r * np.sin(t)], 1)


def _bigger_heart(cv: Canvas, a: Anatomy, grow: float, taller: float) -> None:
    dx, hy, hw, hh, angle = a.heart
    heart = cv.ellipse((a.mid + dx + 0.3 * (grow - 1) * hw, hy - 0.01), (grow * hw, taller * hh),
                       angle)
    _, y = cv.grid
    heart[y > a.base(1) - 0.2 * a.dome] = 0
    cv.heart = np.maximum(cv.heart, heart)
    cv.paint(cv.smooth(heart, 0.004), a.levels.dense)


def _cardiomegaly(cv: Canvas, a: Anatomy, rng) -> None:
    """A heart 1.4-1.6 times as wide (cardiothoracic ratio around 0.6)."""
    _bigger_heart(cv, a, rng.uniform(1.4, 1.6), rng.uniform(1.1, 1.2))


def _enlarged_cardiomediastinum(cv: Canvas, a: Anatomy, rng) -> None:
    """A mediastinum 1.6-2 times as wide above a somewhat larger heart."""
    w, m, top = a.mediastinum * rng.uniform(1.6, 2.0), a.mid, a.apex + 0.02
    middle = cv.poly([(m - 0.8 * w, top), (m + 0.8 * w, top), (m + w, 0.36), (m + w, a.heart[1]),
                      (m - w, a.heart[1]), (m - w, 0.36)])
    cv.heart = np.maximum(cv.heart, middle)
    cv.paint(cv.smooth(middle, 0.004), a.levels.dense)
    _bigger_heart(cv, a, rng.uniform(1.1, 1.2), 1.05)


def _pneumothorax(cv: Canvas, a: Anatomy, rng) -> None:
    """Apical and lateral air without ribs or vessels, bounded by a thin pleural line."""
    side = _side(rng)
    anchor = np.array([a.mid + side * a.medial, a.base(side)])
    collapsed = anchor + (lung_outline(a, side) - anchor) * rng.uniform(0.6, 0.8)
    region = cv.lungs[side] * (1 - cv.poly(collapsed))
    cv.base += region * (a.levels.lung - 18 - cv.base)
    cv.bone *= 1 - region
    cv.marks *= 1 - region
    cv.base += 45 * cv.line(np.concatenate([collapsed, collapsed[:1]]), 0.003) * cv.lungs[side]


def _atelectasis(cv: Canvas, a: Anatomy, rng) -> None:
    """A dense plate-like band across one lower lung."""
    side = _side(rng)
    centre = (a.mid + side * (a.medial + a.lateral) / 2,
              a.base(side) - a.dome - rng.uniform(0.05, 0.1))
    band = cv.ellipse(centre, (rng.uniform(0.1, 0.14), rng.uniform(0.018, 0.03)),
                      side * rng.uniform(5, 25))
    cv.paint(cv.smooth(band, 0.006) * cv.cover(side), a.levels.tissue + 5, 0.85)


def _effusion(cv: Canvas, a: Anatomy, rng) -> None:
    """Fluid filling a lung base up to a meniscus that climbs the lateral chest wall."""
    x, y = cv.grid
    for side in _sides(rng, 0.3):
        top = a.base(side) - a.dome - rng.uniform(0.05, 0.15)
        lateral = np.clip((side * (x - a.mid) - a.medial) / (a.lateral - a.medial), 0, 1)
        surface = top + 0.08 * (1 - lateral) ** 1.5
        fluid = cv.cover(side) * np.clip(0.5 + (y - surface) / 0.01, 0, 1)
        cv.paint(fluid, a.levels.tissue + 5, 0.92)
        cv.bone *= 1 - 0.5 * fluid


def _infiltration(cv: Canvas, a: Anatomy, rng) -> None:
    """Ill-defined patchy opacities of middling size, scattered over both mid zones."""
    _, y = cv.grid
    patches = np.clip(cv.noise(rng, 0.07) - 0.4, 0, 1)
    zone = np.exp(-(((y - (a.apex + a.base(1)) / 2) / 0.13) ** 2))
    lungs = sum(cv.cover(side) for side in _sides(rng, 0.7))
    cv.paint(cv.smooth(patches * zone, 0.01) * lungs, a.levels.tissue, 0.75)


def _pneumonia(cv: Canvas, a: Anatomy, rng) -> None:
    """A fluffy, mottled cloud in one lower zone, dense in its middle and fading at its edges."""
    side = _side(rng)
    x, y = _lung_point(a, side, rng, 0.06)
    y = max(y, a.hilum + 0.04)
    cloud = np.zeros(cv.shape, np.float32)
    for dx, dy in rng.normal(0, 0.04, (7, 2)):
        cloud += cv.ellipse((x + dx, y + dy), (0.05, 0.045))
    mottle = 0.85 + 0.15 * np.clip(cv.noise(rng, 0.035), -1.5, 1.5)
    cloud = cv.smooth(np.minimum(cloud, 1), 0.025) * mottle
    cv.paint(np.clip(1.4 * cloud, 0, 1) * cv.cover(side), a.levels.dense - 5, 0.85)


def _consolidation(cv: Canvas, a: Anatomy, rng) -> None:
    """A whole lobe, dense and homogeneous, cut off sharply at its fissure; air bronchograms."""
    side = _side(rng)
    x, y = cv.grid
    fissure = a.hilum + rng.uniform(-0.02, 0.06) + rng.uniform(-0.1, 0.3) * (side * (x - a.mid))
    lobe = (y < fissure) if rng.random() < 0.4 else (y > fissure + 0.03)
    region = cv.cover(side) * cv.smooth(lobe.astype(np.float32), 0.002)
    cv.paint(region, a.levels.tissue + 12, 0.95)
    hilum = np.array([a.mid + side * (a.medial + 0.04), a.hilum])
    for angle in rng.uniform(-0.8, 0.9, 3):
        tip = hilum + 0.2 * np.array([side * np.cos(angle), np.sin(angle)])
        cv.base -= 30 * cv.line([hilum, (hilum + tip) / 2, tip], 0.006) * region


def _edema(cv: Canvas, a: Anatomy, rng) -> None:
    """Symmetric perihilar haze (bat wings), Kerley B lines at the bases, prominent vessels."""
    cv.marks *= 1.5
    for side in SIDES:
        centre = (a.mid + side * (a.medial + 0.09), a.hilum + 0.04)
        haze = cv.smooth(cv.ellipse(centre, (0.11, 0.15)), 0.04) * cv.cover(side)
        cv.paint(haze, a.levels.tissue, 0.6)
        for y in rng.uniform(a.base(side) - 0.2, a.base(side) - 0.03, rng.integers(6, 11)):
            edge = a.mid + side * (a.lateral - rng.uniform(0.005, 0.02))
            line = cv.line([(edge, y), (edge - side * rng.uniform(0.025, 0.04), y)], 0.003)
            cv.base += 28 * line * cv.lungs[side]


def _fibrosis(cv: Canvas, a: Anatomy, rng) -> None:
    """A fine reticular net, densest at the periphery of both lower zones."""
    x, y = cv.grid
    net = np.exp(-((cv.noise(rng, 0.025) / 0.25) ** 2))
    for side in SIDES:
        outer = np.clip((side * (x - a.mid) - a.medial) / (a.lateral - a.medial), 0, 1)
        low = np.clip((y - a.apex) / (a.base(side) - a.apex), 0, 1)
        weight = cv.lungs[side] * np.clip(1.6 * outer ** 1.2 * low ** 1.5, 0, 1)
        cv.base += 0.6 * (a.levels.tissue - a.levels.lung) * net * weight


def _mass(cv: Canvas, a: Anatomy, rng) -> None:
    """One large (4.5-7% of the chest) lobulated, dense disc inside a lung."""
    side = _side(rng)
    x, y = _lung_point(a, side, rng, 0.08)
    r = rng.uniform(0.045, 0.07)
    mass = np.zeros(cv.shape, np.float32)
    for dx, dy in rng.uniform(-0.3 * r, 0.3 * r, (3, 2)):
        mass += cv.ellipse((x + dx, y + dy), (r * rng.uniform(0.7, 1), r * rng.uniform(0.7, 1)))
    cv.paint(cv.smooth(np.minimum(mass, 1), 0.004), a.levels.dense + 5, 0.95)


def _nodule(cv: Canvas, a: Anatomy, rng) -> None:
    """One to three small (1-1.6% of the chest), well-defined, bright discs."""
    for _ in range(rng.integers(1, 4)):
        side = _side(rng)
        r = rng.uniform(0.01, 0.016)
        disc = cv.ellipse(_lung_point(a, side, rng, 0.04), (r, r))
        cv.paint(cv.smooth(disc, 0.002), a.levels.dense + 10, 0.9)


def _lung_lesion(cv: Canvas, a: Anatomy, rng) -> None:
    """CheXpert's lesion: a mass one time in three, else nodules."""
    (_mass if rng.random() < 1 / 3 else _nodule)(cv, a, rng)


def _pleural_thickening(cv: Canvas, a: Anatomy, rng) -> None:
    """A smooth bright band along the upper lateral chest wall, over the apex (pleural cap)."""
    for side in _sides(rng, 0.35):
        width = rng.uniform(0.02, 0.035)
        lateral = lung_edges(a, side)[0] - np.array([side * width / 2, -width / 2])
        band = cv.line(lateral[: int(len(lateral) * rng.uniform(0.55, 0.8))], width)
        cv.paint(cv.smooth(band, 0.004) * cv.cover(side), a.levels.tissue + 10, 0.9)


def _hernia(cv: Canvas, a: Anatomy, rng) -> None:
    """A round retrocardiac density at the base, brighter than the heart, with a gas cap."""
    centre = (a.mid + rng.uniform(0.0, 0.05), a.base(1) - a.dome - rng.uniform(0.02, 0.05))
    r = rng.uniform(0.05, 0.07)
    disc = cv.smooth(cv.ellipse(centre, (r, 0.9 * r)), 0.004)
    cv.paint(disc, a.levels.dense + 35, 0.95)
    _, y = cv.grid
    cv.base -= 60 * disc * (y < centre[1] - 0.55 * r)


def _fracture(cv: Canvas, a: Anatomy, rng) -> None:
    """A rib broken in its lateral half: a gap, the outer fragment displaced, a callus."""
    side, k = _side(rng), int(rng.integers(3, 8))
    arc = rib_curve(a, side, k)[0]
    cut = int(rng.integers(7, 11))
    outer = arc[cut:]
    cv.bone *= 1 - cv.line(outer, 1.6 * a.rib_width)
    shifted = outer + np.array([side * 0.006, rng.uniform(1.0, 1.4) * a.rib_width])
    cv.bone += 1.3 * a.levels.bone * cv.line(shifted[1:], a.rib_width)
    callus = cv.ellipse(arc[cut], (1.8 * a.rib_width, 1.8 * a.rib_width))
    cv.bone += 0.8 * a.levels.bone * cv.smooth(callus, 0.004)


def _support_devices(cv: Canvas, a: Anatomy, rng) -> None:
    """Bright tubes and lines (endotracheal, nasogastric, central venous) and a pacemaker."""
    m, level = a.mid, 250.0
    devices = {
        "tube": [(m, -0.05), (m + 0.004, a.hilum - 0.1)],
        "gastric": [(m - 0.01, -0.05), (m + 0.01, a.hilum), (m + 0.04, a.base(1)),
                    (m + 0.15, a.base(1) + 0.07)],
        "central": [(m - 0.3, a.apex - 0.03), (m - 0.08, a.apex + 0.05), (m - 0.03, a.hilum)],
    }
    chosen = [name for name in devices if rng.random() < 0.6] or ["central"]
    for name in chosen:
        cv.overlay = np.maximum(cv.overlay, level * cv.line(devices[name], 0.005))
    if rng.random() < 0.6:
        box = (m + 0.25, a.apex + 0.04)
        cv.overlay = np.maximum(cv.overlay, level * cv.ellipse(box, (0.04, 0.028), 10))
        lead = [box, (m + 0.1, a.apex + 0.06), (m + 0.02, a.hilum + 0.05), (m + 0.06, a.heart[1])]
        cv.overlay = np.maximum(cv.overlay, (level - 20) * cv.line(lead, 0.004))


FINDINGS = {
    "Emphysema": _emphysema,
    "Cardiomegaly": _cardiomegaly,
    "Enlarged Cardiomediastinum": _enlarged_cardiomediastinum,
    "Pneumothorax": _pneumothorax,
    "Fibrosis": _fibrosis,
    "Edema": _edema,
    "Infiltration": _infiltration,
    "Pneumonia": _pneumonia,
    "Consolidation": _consolidation,
    "Atelectasis": _atelectasis,
    "Effusion": _effusion,
    "Pleural_Thickening": _pleural_thickening,
    "Mass": _mass,
    "Nodule": _nodule,
    "Lung Lesion": _lung_lesion,
    "Hernia": _hernia,
    "Fracture": _fracture,
    "Support Devices": _support_devices,
}

# Names from CheXpert and folder layouts that mean one of the above (None: nothing to draw).
ALIASES = {
    NO_FINDING: None,
    "NORMAL": None,
    "PNEUMONIA": "Pneumonia",
    "Lung Opacity": "Infiltration",
    "Pleural Effusion": "Effusion",
    "Pleural Other": "Pleural_Thickening",
}


def resolve_findings(names) -> tuple[str, ...]:
    """Map finding names (NIH, CheXpert or folder class names) onto ``FINDINGS`` keys.

    Args:
        names: any iterable of names; ``No Finding`` and ``NORMAL`` draw nothing.

    Returns:
        The distinct ``FINDINGS`` keys, in drawing order.

    Raises:
        ValueError: a name that is neither a key of ``FINDINGS`` nor of ``ALIASES``.
    """
    keys = set()
    for name in names:
        if name not in FINDINGS and name not in ALIASES:
            raise ValueError(f"finding {name!r}: expected one of "
                             f"{', '.join(list(FINDINGS) + list(ALIASES))}")
        key = ALIASES.get(name, name)
        if key is not None:
            keys.add(key)
    return tuple(key for key in FINDINGS if key in keys)
