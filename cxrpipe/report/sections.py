"""The sections of the report page, each a function of ``ReportData`` returning HTML. Pure.

Every piece of text that comes from data (class names, image ids, reject details, parameter
values) goes through ``html.escape``.
"""

from __future__ import annotations

import json
from html import escape

import numpy as np

from ..manifest import FORMAT, FORMAT_VERSION, Manifest
from . import svg
from .model import ReportData, ShownSample

SPLIT_ORDER = ("train", "val", "test")
SPLIT_COLORS = {"train": "#3e6f9e", "val": "#e0a43a", "test": "#5c9e6a"}
OTHER_SPLIT_COLOR = "#8a94a3"
BEFORE_COLOR, AFTER_COLOR = "#8a94a3", "#d9622b"
VERSION_TITLES = {"none": "CLAHE output", "hflip": "h-flip ↔", "vflip": "v-flip ↕", "hvflip": "hv-flip 180°"}
TILE = 150


def splits_of(manifest: Manifest) -> list[str]:
    """The manifest's splits, train/val/test first."""
    found = set(manifest.counts) | set(manifest.images)
    return [s for s in SPLIT_ORDER if s in found] + sorted(found - set(SPLIT_ORDER))


def images_per_split(manifest: Manifest, cls: str) -> dict[str, int]:
    """Source images written to a class partition, per split (its unflipped JPEGs)."""
    counts = manifest.counts
    return {s: counts.get(s, {}).get(cls, {}).get("none", 0) for s in splits_of(manifest)}


def section(anchor: str, title: str, intro: str, body: str) -> str:
    """One titled section; ``intro`` and ``body`` are HTML already."""
    return (f'<section id="{escape(anchor)}"><h2>{escape(title)}</h2>'
            f'<p class="intro">{intro}</p>{body}</section>')


def _table(header: list[str], rows: list[list[str]], numeric=None) -> str:
    """An HTML table of cells that are HTML already.

    Args:
        numeric: indexes of the columns aligned right (default: every column but the first).
    """
    numeric = set(range(1, len(header))) if numeric is None else set(numeric)

    def cls(i: int) -> str:
        return ' class="num"' if i in numeric else ""

    head = "".join(f"<th{cls(i)}>{h}</th>" for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


# ------------------------------------------------------------------ samples


def samples_section(data: ReportData) -> str:
    """Per class: a few sampled images as source, CLAHE output and each flip, side by side."""
    render = data.manifest.render_params()
    columns = ["none", *render.flips]
    cards = "".join(_class_card(data, cls, columns) for cls in data.manifest.partitions())
    augmented = data.manifest.preprocessing_option("augment_splits")
    intro = (f"Up to {data.per_class} images per class, chosen by a hash of the image id with seed "
             f"{data.seed} (the same seed shows the same images), from splits that get flips "
             f"({escape(', '.join(augmented) or 'none')}) first. The source is shown "
             "shrunk with its own aspect ratio; the other tiles are the JPEGs the pipeline wrote, byte "
             "for byte. An h-flip mirrors left and right (the heart changes side), a v-flip turns the "
             "image upside down, an hv-flip does both (a 180° turn). Under each id, the image's intensity "
             f'histogram <span style="color:{BEFORE_COLOR}">before</span> and '
             f'<span style="color:{AFTER_COLOR}">after</span> CLAHE. Hover over a tile to enlarge it.')
    return section("samples", "Samples per class", intro, cards)


def _class_card(data: ReportData, cls: str, columns: list[str]) -> str:
    per_split = images_per_split(data.manifest, cls)
    counts = " · ".join(f"{n:,} {escape(s)}" for s, n in per_split.items())
    shown = data.samples.get(cls, [])
    head = (f'<div class="card-head"><h3>{escape(cls)}</h3><span class="muted">{counts} images</span></div>')
    if not shown:
        return f'<div class="card" data-class="{escape(cls)}">{head}<p class="muted">No image in this class.</p></div>'
    header = "".join(f"<div class=\"colhead\">{escape(t)}</div>"
                     for t in ["image", "source", *[VERSION_TITLES.get(c, c) for c in columns]])
    rows = "".join(_sample_row(s, columns, data.manifest.classes) for s in shown)
    style = f"grid-template-columns: 210px repeat({len(columns) + 1}, {TILE}px)"
    return (f'<div class="card" data-class="{escape(cls)}">{head}'
            f'<div class="scroll"><div class="grid" style="{style}">{header}{rows}</div></div></div>')


def _sample_row(shown: ShownSample, columns: list[str], classes: list[str]) -> str:
    s = shown.sample
    labels = [c for c, hot in zip(classes, s.multi_hot) if hot]
    chips = "".join(f'<span class="chip">{escape(c)}</span>' for c in labels)
    info = (f'<div class="info"><code>{escape(s.image_id)}</code>'
            f'<div class="chips"><span class="chip split-{escape(s.split)}">{escape(s.split)}</span>{chips}</div>'
            f'<span class="muted small">{escape(s.source_format)} {s.source_width}×{s.source_height}</span>'
            f'{_mini_histogram(shown)}</div>')
    tiles = [_tile(shown.source_uri, f"source of {s.image_id}", shown.source_note, "source")]
    written = dict(s.versions)
    for aug in columns:
        note = "JPEG missing from the dataset" if aug in written else f"not flipped: {s.split} is not augmented"
        tiles.append(_tile(shown.version_uris.get(aug), f"{aug} of {s.image_id}", note, aug))
    return info + "".join(tiles)


def _mini_histogram(shown: ShownSample) -> str:
    if shown.before is None:
        return ""
    return svg.mini_histograms([("before", list(shown.before), BEFORE_COLOR), ("after", list(shown.after), AFTER_COLOR)],
                               f"intensity of {shown.sample.image_id}: before CLAHE (gray) and after (orange)")


def _tile(uri: str | None, alt: str, note: str, kind: str) -> str:
    if uri is None:
        return f'<div class="tile empty"><span>{escape(note)}</span></div>'
    return (f'<div class="tile"><img src="{uri}" alt="{escape(alt)}" title="{escape(alt)}" '
            f'data-kind="{escape(kind)}" decoding="sync"></div>')


# ------------------------------------------------------------------ intensities


def histogram_stats(counts) -> dict[str, float]:
    """Mean, standard deviation and the 1st/99th percentile of a 256-bin histogram."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if not total:
        return {"mean": 0.0, "std": 0.0, "p1": 0.0, "p99": 0.0}
    levels = np.arange(len(counts))
    mean = float((counts * levels).sum() / total)
    std = float(np.sqrt((counts * (levels - mean) ** 2).sum() / total))
    cumulative = np.cumsum(counts) / total
    return {"mean": mean, "std": std, "p1": float(np.searchsorted(cumulative, 0.01)),
            "p99": float(np.searchsorted(cumulative, 0.99))}


def intensity_section(data: ReportData) -> str:
    """Histograms of pixel intensity before and after CLAHE, over the sampled images."""
    p = data.manifest.render_params()
    size = p.size
    intro = (f"Over the {data.histogram_images} distinct images sampled above, not the whole dataset. "
             f"<b>Before</b>: each source decoded to 8-bit gray and resized to {size}×{size} (area "
             f"interpolation), as the pipeline does. <b>After</b>: the CLAHE JPEG it wrote "
             f"(clip {escape(str(p.clahe_clip))}, {escape(str(p.clahe_grid))}×"
             f"{escape(str(p.clahe_grid))} tiles, applied at the {escape(str(p.clahe_at))}).")
    if not data.histogram_images:
        return section("intensities", "Pixel intensity before and after CLAHE", intro,
                       '<p class="muted">No sampled source could be read.</p>')
    chart = svg.histograms([("before CLAHE", list(data.before), BEFORE_COLOR),
                            ("after CLAHE", list(data.after), AFTER_COLOR)],
                           "Pixel intensity before and after CLAHE")
    before, after = histogram_stats(data.before), histogram_stats(data.after)
    rows = [[name, f"{before[k]:.1f}", f"{after[k]:.1f}"]
            for name, k in [("mean", "mean"), ("standard deviation", "std"),
                            ("1st percentile", "p1"), ("99th percentile", "p99")]]
    table = _table(["gray level", "before", "after"], rows)
    return section("intensities", "Pixel intensity before and after CLAHE", intro,
                   f'<div class="chart-row"><div class="chart">{chart}</div><div>{table}</div></div>')


# ------------------------------------------------------------------ counts and weights


def counts_section(data: ReportData) -> str:
    """Source images per class, stacked by split, and the JPEGs written per augmentation."""
    m = data.manifest
    splits = splits_of(m)
    names = m.partitions()
    per_class = {cls: images_per_split(m, cls) for cls in names}
    series = [(s, [per_class[c][s] for c in names], SPLIT_COLORS.get(s, OTHER_SPLIT_COLOR)) for s in splits]
    chart = svg.stacked_bars(names, series, "Source images per class and split")
    intro = ("Source images in each class partition, by split (a multi-label image counts in each of its "
             "classes). The table below counts the JPEGs written, flips included.")
    return section("counts", "Images per split × class", intro,
                   f'<div class="chart">{chart}</div><details><summary>JPEGs written per split × class × '
                   f'augmentation</summary>{_jpeg_table(m, splits)}</details>')


def _jpeg_table(m: Manifest, splits: list[str]) -> str:
    augs = [a for a in VERSION_TITLES if any(a in per for s in splits for per in m.counts.get(s, {}).values())]
    rows = []
    for s in splits:
        for cls in m.partitions():
            per = m.counts.get(s, {}).get(cls)
            if per:
                rows.append([escape(s), escape(cls)] + [f"{per.get(a, 0):,}" for a in augs]
                            + [f"{sum(per.values()):,}"])
    return _table(["split", "class", *augs, "total"], rows, numeric=range(2, len(augs) + 3))


def cooccurrence_section(data: ReportData) -> str:
    """The class × class co-occurrence heat map, from the index."""
    chart = svg.heatmap(list(data.manifest.classes), data.cooccurrence, "Class co-occurrence")
    intro = ("Images positive for both classes, each image counted once (all splits). The diagonal "
             "(blue) is each class's own count; off the diagonal (orange), darker means more images "
             "carry both findings.")
    return section("cooccurrence", "Class co-occurrence", intro, f'<div class="chart">{chart}</div>')


def weights_section(data: ReportData) -> str:
    """The N/N_l class weights per split, with N_l beside each weight."""
    m = data.manifest
    weights, positives, images = m.class_weights, m.positives, m.images
    splits = [s for s in splits_of(m) if s in weights]
    rows = []
    for i, cls in enumerate(m.classes):
        cells = [escape(cls)]
        for s in splits:
            w = weights[s].get(cls)
            n_l = positives.get(s, [0] * len(m.classes))[i]
            cells.append('<span class="muted">—</span>' if w is None
                         else f'{w:,.2f} <span class="muted small">({n_l:,})</span>')
        rows.append(cells)
    header = ["class"] + [f"{escape(s)} <span class=\"muted small\">N={images.get(s, 0):,}</span>" for s in splits]
    intro = ("The weights the trainer's loss uses: N images of the split over N<sub>l</sub> of them "
             "positive for the class (N<sub>l</sub> in brackets; — where no image of the split has the class).")
    return section("weights", "Class weights N/N_l", intro, _table(header, rows))


# ------------------------------------------------------------------ rejects and parameters


def rejects_section(data: ReportData) -> str:
    """Rejected inputs by reason, with example keys and what went wrong."""
    m, summary = data.manifest, data.rejects
    inputs = m.inputs
    if not summary.counts:
        body = f'<p class="ok">No input was rejected (0 of {inputs:,}).</p>'
        return section("rejects", "Rejected inputs", "Inputs that could not be used, by reason.", body)
    rows = []
    for reason, n in sorted(summary.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        examples = "".join(f'<div><code>{escape(e["source"] or e["image_id"])}</code> '
                           f'<span class="muted small">{escape(e["detail"] or "")}</span></div>'
                           for e in summary.examples.get(reason, []))
        rows.append([f'<span class="chip reason">{escape(reason)}</span>', f"{n:,}",
                     f"{n / inputs:.1%}" if inputs else "", examples])
    intro = (f"{sum(summary.counts.values()):,} of {inputs:,} inputs could not be used; every one is a row "
             "of <code>rejects/</code> with its reason. Examples are the first few by image id.")
    return section("rejects", "Rejected inputs", intro,
                   _table(["reason", "inputs", "share", "examples (source key and detail)"], rows, numeric=(1, 2)))


def flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dicts as (dotted key, value) pairs, sorted by key."""
    pairs = []
    for key in sorted(values):
        value = values[key]
        if isinstance(value, dict) and value:
            pairs.extend(flatten(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs


def parameters_section(data: ReportData) -> str:
    """The run's parameters and code version, as the manifest records them."""
    m = data.manifest
    facts = [("dataset root", data.dataset_uri), ("kind", m.kind), ("source dataset", m.dataset),
             ("cxrpipe code version", m.code_version),
             ("manifest format", f"{FORMAT} v{FORMAT_VERSION}"),
             ("classes, in order", ", ".join(m.classes))]
    rows = [[escape(k), f"<code>{escape(str(v))}</code>"] for k, v in facts]
    pairs = "".join(f'<div class="kv"><span>{escape(k)}</span><code>{escape(_show(v))}</code></div>'
                    for k, v in flatten(m.parameters))
    return section("parameters", "Parameters and code version",
                   "What produced this dataset, as its manifest records it (— means not set: the default).",
                   _table(["run", ""], rows, numeric=()) + f'<div class="kvs">{pairs}</div>')


def _show(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value) if value else "[]"
    return json.dumps(value)
