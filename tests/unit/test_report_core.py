"""The report's pure core: sampling, co-occurrence, rejects, SVG charts, the page's safety.

Expectations are computed here independently: a full sort instead of the streaming pick, numpy
on raw pixels instead of histogram arithmetic, an XML parser for the SVG.
"""

from __future__ import annotations

import dataclasses

import hashlib
import random
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from cxrpipe.errors import UserError
from cxrpipe.imageops import RenderParams
from cxrpipe.manifest import Manifest
from cxrpipe.report import build, page, pixels, sections, svg
from cxrpipe.report.model import ReportData, ShownSample
from cxrpipe.report.sampling import Cooccurrence, RejectSummary, SamplePicker

CLASSES = ["Effusion", "Mass", "No Finding"]
AUGS = ("none", "hflip", "vflip", "hvflip")


def index_rows(n_images: int, seed: int = 3) -> list[dict]:
    """Rows like a preprocess index: train images get four versions, others one, per positive class."""
    rng = random.Random(seed)
    rows = []
    for k in range(n_images):
        image_id = f"{k:08d}_000.png"
        split = rng.choice(["train", "train", "val", "test"])
        hot = [rng.random() < 0.3, rng.random() < 0.2]
        hot.append(not any(hot))
        positives = [c for c, h in zip(CLASSES, hot) if h]
        for aug in AUGS if split == "train" else ("none",):
            for i, cls in enumerate(positives):
                suffix = "" if aug == "none" else f"_{aug}"
                rows.append({
                    "image_id": image_id, "split": split, "partition": cls, "augmentation": aug,
                    "primary": i == 0, "path": f"images/{split}/{cls.replace(' ', '_')}/{image_id[:-4]}{suffix}.jpg",
                    "source": image_id, "source_format": "png", "source_width": 512, "source_height": 480,
                    "multi_hot": [int(h) for h in hot],
                })
    return rows


def expected_choice(rows, seed: int, per_class: int, augment_splits=("train",)) -> dict[str, list[str]]:
    """The documented rule by a full sort: flipped splits first, then SHA-256 of "seed\\0image_id"."""
    split_of: dict[str, dict[str, str]] = {}
    for r in rows:
        split_of.setdefault(r["partition"], {})[r["image_id"]] = r["split"]
    return {cls: sorted(ids, key=lambda i: (ids[i] not in augment_splits,
                                            hashlib.sha256(f"{seed}\x00{i}".encode()).digest()))[:per_class]
            for cls, ids in split_of.items()}


def pick(rows, seed=0, per_class=3, chunks=1):
    picker = SamplePicker(seed, per_class, ["train"])
    size = max(1, len(rows) // chunks)
    for start in range(0, len(rows), size):
        picker.add(rows[start:start + size])
    return picker.samples(CLASSES)


def test_streaming_pick_matches_a_full_sort_whatever_the_order_of_parts():
    rows = index_rows(300)
    want = expected_choice(rows, seed=5, per_class=4)
    for order in range(3):
        shuffled = rows[:]
        random.Random(order).shuffle(shuffled)
        got = pick(shuffled, seed=5, per_class=4, chunks=7)
        assert {c: [s.image_id for s in got[c]] for c in CLASSES} == want


def test_samples_carry_every_version_in_order_and_seeds_differ():
    rows = index_rows(300)
    got = pick(rows, seed=0)
    for cls in CLASSES:
        for s in got[cls]:
            written = [r["augmentation"] for r in rows if r["image_id"] == s.image_id and r["partition"] == cls]
            assert [a for a, _ in s.versions] == [a for a in AUGS if a in written]
            assert s.split == "train"  # enough train images: flipped splits come first
    other = pick(rows, seed=1)
    assert any([s.image_id for s in got[c]] != [s.image_id for s in other[c]] for c in CLASSES)
    assert pick(rows, per_class=1)["Mass"][0].image_id == got["Mass"][0].image_id
    with pytest.raises(ValueError, match="per_class"):
        SamplePicker(0, 0, ["train"])


def test_cooccurrence_counts_each_image_once():
    rows = index_rows(200)
    hot = {r["image_id"]: r["multi_hot"] for r in rows}
    matrix = np.array(list(hot.values()))
    co = Cooccurrence(len(CLASSES))
    co.add(rows)
    np.testing.assert_array_equal(co.matrix, matrix.T @ matrix)


def test_reject_summary_counts_and_keeps_the_first_examples_by_id():
    rows = [{"image_id": f"{k:03d}.png", "source": f"{k:03d}.png", "reason": "truncated" if k % 3 else "empty",
             "detail": f"d{k}"} for k in range(30)]
    summary = RejectSummary(examples_per_reason=2)
    summary.add(rows[15:])
    summary.add(rows[:15])
    assert summary.counts == {"truncated": 20, "empty": 10}
    assert [e["image_id"] for e in summary.examples["empty"]] == ["000.png", "003.png"]
    assert [e["image_id"] for e in summary.examples["truncated"]] == ["001.png", "002.png"]


def test_histogram_and_its_statistics_match_numpy():
    rng = np.random.default_rng(0)
    gray = np.clip(rng.normal(110, 40, (300, 280)), 0, 255).astype(np.uint8)
    counts = pixels.intensity_histogram(gray)
    assert counts.sum() == gray.size and counts[17] == np.count_nonzero(gray == 17)
    stats = sections.histogram_stats(counts)
    assert stats["mean"] == pytest.approx(gray.mean())
    assert stats["std"] == pytest.approx(gray.std())
    assert stats["p99"] == pytest.approx(np.percentile(gray, 99), abs=1)


def test_sources_are_shown_with_their_aspect_and_resized_like_the_pipeline():
    gray = np.tile(np.arange(256, dtype=np.uint8), (1000, 4))  # 1000 x 1024
    shown, resized = pixels.source_views(gray, 299)
    assert resized.shape == (299, 299)
    display = pixels.decode_jpeg_gray(shown)
    assert max(display.shape) == 299 and display.shape[1] > display.shape[0]
    assert pixels.data_uri(shown).startswith("data:image/jpeg;base64,")
    with pytest.raises(ValueError, match="JPEG or PNG"):
        pixels.data_uri(b"GIF89a")


HOSTILE = 'Mass <script>alert("x")</script> & "quotes"'


def test_charts_are_well_formed_svg_with_escaped_text():
    labels = ["Effusion", HOSTILE]
    charts = [
        svg.stacked_bars(labels, [("train", [3, 0], "#123456"), ("val", [1, 7], "#654321")], "counts"),
        svg.heatmap(labels, [[4, 1], [1, 7]], "co-occurrence"),
        svg.histograms([("before", list(range(256)), "#888888"), ("after", [1] * 256, "#d9622b")], "hist"),
    ]
    for chart, labelled in zip(charts, (True, True, False)):
        root = ET.fromstring(chart)  # raises on broken markup
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        assert "<script>" not in chart
        assert (HOSTILE in texts) == labelled
    bars = ET.fromstring(charts[0])
    assert "8" in [t.text for t in bars.iter("{http://www.w3.org/2000/svg}text")]  # the second bar's total
    assert svg.nice_step(32) == 10 and svg.nice_step(0.013, 4) == pytest.approx(0.005)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _page_data() -> ReportData:
    rows = index_rows(40)
    samples = pick(rows, per_class=2)
    jpeg = pixels.encode_jpeg(np.full((8, 8), 128, np.uint8))
    uri = pixels.data_uri(jpeg)
    shown = {c: [ShownSample(s, uri, "", {a: uri for a, _ in s.versions}) for s in samples[c]] for c in CLASSES}
    shown[HOSTILE] = []
    counts = {"train": {"Effusion": {"none": 3, "hflip": 3}}, "test": {HOSTILE: {"none": 1}}}
    render = dataclasses.asdict(RenderParams(flips=("hflip",)))
    manifest = Manifest.from_dict({
        "classes": CLASSES + [HOSTILE], "counts": counts, "images": {"train": 3, "test": 1},
        "inputs": 6, "kind": "preprocess", "dataset": "nih", "code_version": "9.9",
        "format": "cxrpipe.dataset", "format_version": 1,
        "parameters": {**render, "augment_splits": ["train"], "note": HOSTILE},
        "positives": {"train": [3, 0, 0, 0], "test": [0, 0, 0, 1]},
        "class_weights": {"train": {"Effusion": 1.0}, "test": {HOSTILE: 1.0}},
        "rejects": {"total": 2, "by_reason": {"truncated": 2}}, "excluded": {}, "files": []})
    rejects = RejectSummary()
    rejects.add([{"image_id": HOSTILE, "source": HOSTILE, "reason": "truncated", "detail": HOSTILE}] * 2)
    return ReportData("s3://b/<ds>", manifest, shown, 0, 2, np.ones(256, np.int64), np.ones(256, np.int64),
                      5, np.eye(len(CLASSES) + 1, dtype=np.int64), rejects)


def test_page_escapes_all_data_and_loads_nothing_from_outside():
    html = page.render_page(_page_data())
    parser = _Tags()
    parser.feed(html)
    assert [t for t, _ in parser.tags].count("script") == 1  # the page's own load check only
    assert HOSTILE not in html and "&lt;script&gt;" in html
    for tag, attrs in parser.tags:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith(("data:", "#")), (tag, attrs)
    assert "img-src data:" in html and "default-src 'none'" in html
    ids = {a["id"] for _, a in parser.tags if "id" in a}
    assert {"samples", "intensities", "counts", "cooccurrence", "weights", "rejects", "parameters"} <= ids
    assert page.render_page(_page_data()) == html  # no clock, no randomness


def test_manifest_problems_are_user_errors():
    def read_from(files):
        def read(uri):
            if uri not in files:
                raise FileNotFoundError(uri)
            return files[uri]
        return read

    with pytest.raises(UserError, match="no _MANIFEST.json under /x"):
        build.gather("/x", None, read=read_from({}))
    from cxrpipe import manifest

    shards = manifest.dumps(manifest.build_manifest(
        kind="shards", dataset="nih", classes=["A"], parameters={"input": "s3://b/pre"}, inputs=0, counts={},
        images={}, positives={}, rejects={}, excluded={}, files=[]))
    with pytest.raises(UserError, match=r"report on its input instead \(its input: s3://b/pre\)"):
        build.gather("/x", None, read=read_from({"/x/_MANIFEST.json": shards}))
    with pytest.raises(UserError, match="format"):
        build.gather("/x", None, read=read_from({"/x/_MANIFEST.json": b'{"format": "other"}'}))
