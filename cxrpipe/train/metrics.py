"""Per-class evaluation of multi-label scores. Pure numpy: no TensorFlow.

Labels are 1 (positive), 0 (negative) or -1 (unknown: an uncertain label under the
``ignore`` policy); unknown entries are left out of every figure of their class. A case is
called positive when its score is at least the threshold. Recall is sensitivity.

The report adds what a paper's table needs: bootstrap intervals of each AUC (``bootstrap``),
calibration (``calibration``) and the mean AUC over the class sets published tables use.
"""

from __future__ import annotations

import math

import numpy as np

from cxrpipe.labels import CHEXPERT_CLASSES, NIH_CLASSES, NO_FINDING
from cxrpipe.summary import table
from cxrpipe.train import bootstrap, calibration

# The class sets of published mean AUCs: NIH's tables average its 14 findings without
# No Finding; CheXpert's competition scores 5 of its observations (Irvin et al., 2019).
_COMPETITION = {"Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"}
MEAN_SETS = {
    "nih14": tuple(c for c in NIH_CLASSES if c != NO_FINDING),
    "chexpert5": tuple(c for c in CHEXPERT_CLASSES if c in _COMPETITION),
}
# Corners kept of each ROC curve in the report: a smooth drawing, a few kB per class.
ROC_POINTS = 201
_MEAN_TITLES = {"nih14": "NIH's 14 findings, No Finding left out",
                "chexpert5": "CheXpert's 5 competition findings"}


def roc_auc(labels, scores) -> float | None:
    """Area under the ROC curve by the rank formula (Mann-Whitney U), ties counted half.

    AUC = (R+ - n+ (n+ + 1) / 2) / (n+ n-), where R+ is the sum of the positives' ranks
    among all scores (tied scores share their average rank).

    Returns:
        The AUC, or None when the class has no positive or no negative case.
    """
    scores, positives = _both_classes(labels, scores)
    if positives is None:
        return None
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    rank_sum = average_ranks(scores)[positives].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _both_classes(labels, scores):
    """(scores, positive mask) of the known cases; the mask is None when one class is absent
    (no ROC then)."""
    labels, scores = _known(labels, scores)
    positives = labels == 1
    return scores, positives if positives.any() and not positives.all() else None


def average_ranks(values) -> np.ndarray:
    """1-based ranks of ``values`` in ascending order; equal values share their average rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


def roc_curve(labels, scores, max_points: int = ROC_POINTS) -> list[list[float]] | None:
    """The ROC curve's corners, [false positive rate, true positive rate], from (0, 0) to (1, 1).

    One corner per distinct score, highest first (a case is positive at score >= threshold),
    so the trapezoids under the full curve sum to ``roc_auc`` exactly (ties make the diagonal
    steps that count half). Longer curves keep ``max_points`` corners evenly spaced along
    them, the two ends always: enough to draw, small enough for metrics.json.

    Returns:
        The corners, or None when the class has no positive or no negative case.
    """
    scores, positives = _both_classes(labels, scores)
    if positives is None:
        return None
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    order = np.argsort(-scores, kind="mergesort")
    ranked, hits = scores[order], positives[order]
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True]  # a threshold takes a whole tie
    tpr = np.r_[0, np.cumsum(hits)[last_of_tie]] / n_pos
    fpr = np.r_[0, np.cumsum(~hits)[last_of_tie]] / n_neg
    keep = np.unique(np.linspace(0, len(tpr) - 1, min(len(tpr), max_points)).round().astype(int))
    return [[float(f), float(t)] for f, t in zip(fpr[keep], tpr[keep])]


def threshold_for_recall(labels, scores, target: float) -> float | None:
    """The highest threshold whose recall is at least ``target``.

    With n+ positives, calling positive every score >= the k-th highest positive score,
    k = ceil(target n+), finds at least k of them; any higher threshold finds fewer.

    Returns:
        The threshold, or None when there is no positive case to aim at.

    Raises:
        ValueError: ``target`` outside (0, 1].
    """
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target recall must be in (0, 1], got {target}")
    labels, scores = _known(labels, scores)
    positive_scores = np.sort(scores[labels == 1])[::-1]
    if len(positive_scores) == 0:
        return None
    k = max(1, math.ceil(target * len(positive_scores) - 1e-9))
    return float(positive_scores[k - 1])


def confusion(labels, scores, threshold: float) -> dict:
    """Counts and rates at one threshold.

    Returns:
        ``threshold``, ``tp``, ``fp``, ``fn``, ``tn``, ``recall`` (sensitivity) = tp / (tp + fn),
        ``specificity`` = tn / (tn + fp) and ``precision`` = tp / (tp + fp) (None where the
        denominator is 0).
    """
    labels, scores = _known(labels, scores)
    called, actual = scores >= threshold, labels == 1
    tp, fp = int((called & actual).sum()), int((called & ~actual).sum())
    fn, tn = int((~called & actual).sum()), int((~called & ~actual).sum())
    return {"threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "recall": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
            "precision": _ratio(tp, tp + fp)}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _known(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in shape: {labels.shape} vs {scores.shape}")
    known = labels >= 0
    return labels[known].astype(np.int64), scores[known]


def class_report(test: tuple, tuning: tuple | None, target_recall: float, bins: int) -> dict:
    """One class's figures on the test split, with the threshold tuned on another split.

    Args:
        test: (labels, scores) of the class on the test split.
        tuning: (labels, scores) on the split that picks the threshold (val), or None.
        target_recall: the recall the tuned threshold aims at.
        bins: equal-width bins of the reliability curve.
    """
    labels, scores = test
    known = np.asarray(labels)[np.asarray(labels) >= 0]
    tuned = threshold_for_recall(*tuning, target_recall) if tuning is not None else None
    curve = calibration.reliability(labels, scores, bins)
    return {
        "auc": roc_auc(labels, scores), "auc_ci": None, "roc": roc_curve(labels, scores),
        "positives": int((known == 1).sum()), "negatives": int((known == 0).sum()),
        "at_0.5": confusion(labels, scores, 0.5),
        "at_target_recall": confusion(labels, scores, tuned) if tuned is not None else None,
        "ece": calibration.expected_calibration_error(curve), "reliability": curve,
    }


def evaluation_report(classes, test: tuple, tuning: tuple | None, target_recall: float, *,
                      resamples: int, seed: int, bins: int) -> dict:
    """Every class's ``class_report`` with its AUC's bootstrap interval, and mean AUCs.

    Args:
        classes: class names, in the columns' order.
        test: (labels, scores) arrays of shape (cases, classes) on the test split.
        tuning: the same on the threshold split, or None.
        target_recall: see ``class_report``.
        resamples: bootstrap resamples of the test cases (0: no intervals).
        seed: the bootstrap's seed.
        bins: equal-width calibration bins.

    Returns:
        The report: ``per_class``, ``mean_auc`` (over every class with an AUC),
        ``mean_auc_sets`` (see ``mean_auc_sets``), ``bootstrap`` and ``calibration_bins``.
    """
    per_class = {}
    for i, name in enumerate(classes):
        column = (test[0][:, i], test[1][:, i])
        tuned = (tuning[0][:, i], tuning[1][:, i]) if tuning is not None else None
        per_class[name] = class_report(column, tuned, target_recall, bins)
    if resamples:
        for name, ci in zip(classes, bootstrap.intervals(roc_auc, *test, resamples, seed)):
            per_class[name]["auc_ci"] = ci
    aucs = [r["auc"] for r in per_class.values() if r["auc"] is not None]
    return {"classes": list(classes), "target_recall": target_recall,
            "mean_auc": float(np.mean(aucs)) if aucs else None,
            "mean_auc_sets": mean_auc_sets({n: r["auc"] for n, r in per_class.items()}),
            "bootstrap": {"resamples": resamples, "seed": seed, "confidence": bootstrap.CONFIDENCE,
                          "method": "percentile; test cases resampled with replacement"},
            "calibration_bins": bins, "cases": int(len(test[0])), "per_class": per_class}


def mean_auc_sets(aucs: dict) -> dict:
    """The mean AUC over each of ``MEAN_SETS``, given only when every class of the set has one.

    Args:
        aucs: class name -> its AUC, or None where it is undefined.

    Returns:
        Per set ``{"mean_auc", "missing", "undefined"}``: the mean (None unless complete), the
        set's classes the model lacks, and those it has without an AUC on this split.
    """
    means = {}
    for key, members in MEAN_SETS.items():
        missing = [c for c in members if c not in aucs]
        undefined = [c for c in members if c in aucs and aucs[c] is None]
        complete = not (missing or undefined)
        means[key] = {"mean_auc": float(np.mean([aucs[c] for c in members])) if complete else None,
                      "missing": missing, "undefined": undefined}
    return means


def format_report(report: dict) -> str:
    """The report as plain text: AUC, intervals, rates and ECE; the means; the confusion counts."""
    rows, counts = [], []
    for name, r in report["per_class"].items():
        half, tuned, ci = r["at_0.5"], r["at_target_recall"] or {}, r["auc_ci"] or {}
        rows.append([name, r["positives"], r["negatives"], _num(r["auc"]), _span(ci), ci.get("resamples"),
                     _num(half["recall"]), _num(half["precision"]), _num(tuned.get("threshold")),
                     _num(tuned.get("recall")), _num(tuned.get("specificity")),
                     _num(tuned.get("precision")), _num(r["ece"])])
        counts.append([name] + [half[k] for k in ("tp", "fp", "fn", "tn")]
                      + [tuned.get(k) for k in ("tp", "fp", "fn", "tn")])
    target, boot = f"{report['target_recall']:g}", report["bootstrap"]
    level = f"{boot['confidence']:.0%}"
    header = ["class", "pos", "neg", "AUC", f"{level} CI", "boot", "recall@0.5", "prec@0.5",
              f"thr(recall {target})", "sens@thr", "spec@thr", "prec@thr", "ECE"]
    lines = [table(header, rows), f"mean AUC {_num(report['mean_auc'])} over "
             f"{sum(r['auc'] is not None for r in report['per_class'].values())} classes, "
             f"{report['cases']:,} test cases",
             *(_mean_line(key, m) for key, m in report["mean_auc_sets"].items()),
             _bootstrap_line(boot, report["cases"]),
             f"ECE over {report['calibration_bins']} equal-width bins; the reliability curves "
             "(per bin: mean predicted, observed frequency, count) are in metrics.json", "",
             table(["confusion", "TP@0.5", "FP@0.5", "FN@0.5", "TN@0.5",
                    "TP@thr", "FP@thr", "FN@thr", "TN@thr"], counts)]
    return "\n".join(lines)


def _mean_line(key: str, mean: dict) -> str:
    line = f"mean AUC {key} {_num(mean['mean_auc'])} ({_MEAN_TITLES[key]})"
    if mean["missing"]:
        line += f"; not in the model: {', '.join(mean['missing'])}"
    if mean["undefined"]:
        line += f"; no AUC on this split: {', '.join(mean['undefined'])}"
    return line


def _bootstrap_line(boot: dict, cases: int) -> str:
    if not boot["resamples"]:
        return "no AUC intervals (--bootstrap 0)"
    return (f"{boot['confidence']:.0%} CI: percentile bootstrap, {boot['resamples']:,} resamples of the "
            f"{cases:,} test cases (seed {boot['seed']}); boot = resamples used (both labels present)")


def _span(ci: dict) -> str:
    return f"{ci['low']:.3f}-{ci['high']:.3f}" if ci else "n/a"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
