"""Per-class evaluation of multi-label scores. Pure numpy: no TensorFlow.

Labels are 1 (positive), 0 (negative) or -1 (unknown: an uncertain label under the
``ignore`` policy); unknown entries are left out of every figure of their class. A case is
called positive when its score is at least the threshold.
"""

from __future__ import annotations

import math

import numpy as np

from cxrpipe.summary import table


def roc_auc(labels, scores) -> float | None:
    """Area under the ROC curve by the rank formula (Mann-Whitney U), ties counted half.

    AUC = (R+ - n+ (n+ + 1) / 2) / (n+ n-), where R+ is the sum of the positives' ranks
    among all scores (tied scores share their average rank).

    Returns:
        The AUC, or None when the class has no positive or no negative case.
    """
    labels, scores = _known(labels, scores)
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum = average_ranks(scores)[positives].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values) -> np.ndarray:
    """1-based ranks of ``values`` in ascending order; equal values share their average rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(first + (counts + 1) / 2, counts)
    return ranks


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
        ``threshold``, ``tp``, ``fp``, ``fn``, ``tn``, ``recall`` = tp / (tp + fn) and
        ``precision`` = tp / (tp + fp) (None where the denominator is 0).
    """
    labels, scores = _known(labels, scores)
    called, actual = scores >= threshold, labels == 1
    tp, fp = int((called & actual).sum()), int((called & ~actual).sum())
    fn, tn = int((~called & actual).sum()), int((~called & ~actual).sum())
    return {"threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "recall": _ratio(tp, tp + fn), "precision": _ratio(tp, tp + fp)}


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _known(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in shape: {labels.shape} vs {scores.shape}")
    known = labels >= 0
    return labels[known].astype(np.int64), scores[known]


def class_report(test: tuple, tuning: tuple | None, target_recall: float) -> dict:
    """One class's figures on the test split, with the threshold tuned on another split.

    Args:
        test: (labels, scores) of the class on the test split.
        tuning: (labels, scores) on the split that picks the threshold (val), or None.
        target_recall: the recall the tuned threshold aims at.
    """
    labels, scores = test
    known = np.asarray(labels)[np.asarray(labels) >= 0]
    tuned = threshold_for_recall(*tuning, target_recall) if tuning is not None else None
    return {
        "auc": roc_auc(labels, scores),
        "positives": int((known == 1).sum()), "negatives": int((known == 0).sum()),
        "at_0.5": confusion(labels, scores, 0.5),
        "at_target_recall": confusion(labels, scores, tuned) if tuned is not None else None,
    }


def evaluation_report(classes, test: tuple, tuning: tuple | None, target_recall: float) -> dict:
    """Every class's ``class_report`` and the mean AUC over the classes that have one.

    Args:
        classes: class names, in the columns' order.
        test: (labels, scores) arrays of shape (cases, classes) on the test split.
        tuning: the same on the threshold split, or None.
        target_recall: see ``class_report``.
    """
    per_class = {}
    for i, name in enumerate(classes):
        column = (test[0][:, i], test[1][:, i])
        tuned = (tuning[0][:, i], tuning[1][:, i]) if tuning is not None else None
        per_class[name] = class_report(column, tuned, target_recall)
    aucs = [r["auc"] for r in per_class.values() if r["auc"] is not None]
    return {"classes": list(classes), "target_recall": target_recall,
            "mean_auc": float(np.mean(aucs)) if aucs else None,
            "cases": int(len(test[0])), "per_class": per_class}


def format_report(report: dict) -> str:
    """The report as two plain-text tables: AUC and rates, then the confusion counts."""
    rows, counts = [], []
    for name, r in report["per_class"].items():
        half, tuned = r["at_0.5"], r["at_target_recall"] or {}
        rows.append([name, r["positives"], r["negatives"], _num(r["auc"]),
                     _num(half["recall"]), _num(half["precision"]), _num(tuned.get("threshold")),
                     _num(tuned.get("recall")), _num(tuned.get("precision"))])
        counts.append([name] + [half[k] for k in ("tp", "fp", "fn", "tn")]
                      + [tuned.get(k) for k in ("tp", "fp", "fn", "tn")])
    target = f"{report['target_recall']:g}"
    header = ["class", "pos", "neg", "AUC", "recall@0.5", "prec@0.5", f"thr(recall {target})",
              "recall@thr", "prec@thr"]
    lines = [table(header, rows), f"mean AUC {_num(report['mean_auc'])} over "
             f"{sum(r['auc'] is not None for r in report['per_class'].values())} classes, "
             f"{report['cases']:,} test cases", "",
             table(["confusion", "TP@0.5", "FP@0.5", "FN@0.5", "TN@0.5",
                    "TP@thr", "FP@thr", "FN@thr", "TN@thr"], counts)]
    return "\n".join(lines)


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
