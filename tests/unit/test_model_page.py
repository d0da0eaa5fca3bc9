"""The model page's pure builder on reports made here with numpy: what it escapes, what it
says when a figure is missing, and the line chart it draws with."""

from __future__ import annotations

import re

import numpy as np

from cxrpipe.report import svg
from cxrpipe.report.modelpage import ModelInfo, ModelReport, render_model_page
from cxrpipe.train import metrics, voting

HOSTILE = "<script>alert(1)</script>"
CLASSES = ("Mass", HOSTILE)


def scores(seed: int, labels: np.ndarray) -> np.ndarray:
    return np.clip(labels * 0.3 + np.random.default_rng(seed).random(labels.shape), 0, 1)


def info(path: str, logs: dict | None = None) -> ModelInfo:
    card = {"dataset": "s3://b/d", "dataset_version": 2, "classes": list(CLASSES), "backbone": "small",
            "weights": None, "thresholds": None}
    return ModelInfo(path, card, {}, logs or {}, "s3://b/d/_manifests/v000002.json", None)


def one_model() -> dict:
    labels = np.random.default_rng(0).integers(0, 2, (80, 2))
    report = metrics.evaluation_report(CLASSES, (labels, scores(1, labels)), None, 0.9, resamples=0, seed=0, bins=5)
    return {**report, "dataset": "s3://b/d", "split": "test", "threshold_split": None}


def test_class_names_and_paths_are_escaped_and_missing_figures_said():
    html = render_model_page(ModelReport(one_model(), (info("<m>"),), "0.1.0", "2026-01-01T00:00:00+00:00"))
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<m>" not in html
    assert "No threshold was tuned" in html and "no intervals (--bootstrap 0)" in html
    assert "no training log" in html and "unreadable" in html and "none (not evaluated)" in html
    assert html.count("data-roc-class=") == 2


def test_an_ensemble_without_hard_vote_says_why_and_shows_each_member():
    labels = np.random.default_rng(0).integers(0, 2, (60, 2))
    members = {"a": scores(1, labels), "b": scores(2, labels)}
    soft = metrics.evaluation_report(CLASSES, (labels, voting.soft_vote(list(members.values()))), None, 0.9,
                                     resamples=0, seed=0, bins=5)
    evaluation = {"kind": "ensemble", "classes": list(CLASSES), "members": ["a", "b"], "dataset": "d",
                  "split": "test", "threshold_split": None, "soft": soft,
                  "hard": {"available": False, "reason": "member b has no tuned thresholds", "majority": None,
                           "per_class": {}},
                  "member_metrics": {m: voting.member_report(CLASSES, labels, s) for m, s in members.items()}}
    logs = {"classifier": {"epoch": [0.0, 1.0], "loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}}
    html = render_model_page(ModelReport(evaluation, (info("a", logs), info("b")), "0.1.0", "now"))
    assert "No hard vote: member b has no tuned thresholds." in html
    assert re.findall(r'data-lines="(\d)"', html) == ["3", "3"]   # the soft vote and two members
    assert 'data-key="auc|Mass|a"' in html and 'data-key="vote_auc|Mass"' in html
    assert 'data-history="classifier:loss"' in html and 'data-history="classifier:auc"' not in html


def test_line_chart_maps_the_ranges_onto_the_box():
    chart = svg.line_chart([("a", [(0, 0), (1, 1)], "#000"), ("dot", [(0.5, 0.5)], "#111")], "t", "x", "y",
                           (0, 1), (0, 1), diagonal=True)
    (x1, y1, x2, y2), = re.findall(r'points="([\d.]+),([\d.]+) ([\d.]+),([\d.]+)"', chart)
    circle = re.search(r'cx="([\d.]+)" cy="([\d.]+)"', chart)
    assert float(circle[1]) == (float(x1) + float(x2)) / 2 and float(circle[2]) == (float(y1) + float(y2)) / 2
    assert float(y2) < float(y1) and "stroke-dasharray" in chart  # y grows upwards; the diagonal
