"""The trainer's evaluation figures against hand-computed values and a brute-force AUC."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cxrpipe.train import metrics


def pairwise_auc(labels, scores) -> float:
    """AUC as the share of (positive, negative) pairs ordered right, ties counted half."""
    pos = [s for l, s in zip(labels, scores) if l == 1]
    neg = [s for l, s in zip(labels, scores) if l == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_auc_by_hand():
    # positives 0.9, 0.7, 0.2 against negatives 0.8, 0.3: 2 + 1 + 0 of 6 pairs.
    assert metrics.roc_auc([1, 0, 1, 0, 1], [0.9, 0.8, 0.7, 0.3, 0.2]) == pytest.approx(0.5)
    # a tie between a positive and a negative counts half: (0.5 + 1 + 2) / 4
    assert metrics.roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.8, 0.1]) == pytest.approx(0.875)
    assert metrics.roc_auc([0, 1], [0.1, 0.9]) == 1.0
    assert metrics.roc_auc([1, 0], [0.1, 0.9]) == 0.0


def test_auc_matches_brute_force_with_many_ties():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 300)
    scores = rng.integers(0, 12, 300) / 11  # many ties
    assert metrics.roc_auc(labels, scores) == pytest.approx(pairwise_auc(labels, scores))


def test_auc_undefined_without_both_kinds_and_skips_unknown_labels():
    assert metrics.roc_auc([1, 1], [0.2, 0.3]) is None
    assert metrics.roc_auc([0, 0, -1], [0.2, 0.3, 0.9]) is None
    # the -1 entry (score 0.95) would otherwise be a negative above every positive
    assert metrics.roc_auc([1, 0, -1, 1], [0.9, 0.1, 0.95, 0.8]) == 1.0


def test_average_ranks_share_ties():
    assert metrics.average_ranks([3, 1, 3, 2]).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_threshold_for_target_recall_by_hand():
    labels = [1, 1, 1, 1, 0, 0]
    scores = [0.9, 0.7, 0.4, 0.2, 0.5, 0.1]
    assert metrics.threshold_for_recall(labels, scores, 0.5) == 0.7    # 2 of 4 positives
    assert metrics.threshold_for_recall(labels, scores, 0.75) == 0.4   # 3 of 4
    assert metrics.threshold_for_recall(labels, scores, 0.6) == 0.4    # ceil(2.4) = 3
    assert metrics.threshold_for_recall(labels, scores, 1.0) == 0.2
    assert metrics.confusion(labels, scores, 0.4)["recall"] == 0.75
    assert metrics.threshold_for_recall([0, 0], [0.3, 0.4], 0.9) is None
    with pytest.raises(ValueError, match="target recall"):
        metrics.threshold_for_recall(labels, scores, 0.0)


def test_confusion_by_hand():
    got = metrics.confusion([1, 1, 0, 0, 1, -1], [0.9, 0.3, 0.6, 0.2, 0.5, 0.99], 0.5)
    assert got == {"threshold": 0.5, "tp": 2, "fp": 1, "fn": 1, "tn": 1,
                   "recall": pytest.approx(2 / 3), "precision": pytest.approx(2 / 3)}
    nothing_called = metrics.confusion([1, 0], [0.1, 0.2], 0.5)
    assert nothing_called["precision"] is None and nothing_called["recall"] == 0.0


def test_report_tunes_on_one_split_and_scores_the_other():
    test_labels = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    test_scores = np.array([[0.9, 0.1], [0.2, 0.3], [0.4, 0.2], [0.6, 0.4]])
    val_labels = np.array([[1, 1], [0, 0], [1, 0]])
    val_scores = np.array([[0.8, 0.7], [0.1, 0.2], [0.3, 0.1]])
    report = metrics.evaluation_report(["A", "B"], (test_labels, test_scores),
                                       (val_labels, val_scores), target_recall=1.0)
    a = report["per_class"]["A"]
    assert a["auc"] == pytest.approx(0.75)             # (0.9 > both) + (0.4 > 0.2 only) = 3/4
    assert a["at_target_recall"]["threshold"] == 0.3   # lowest val positive
    assert (a["at_target_recall"]["tp"], a["at_target_recall"]["fp"]) == (2, 1)
    assert (a["at_0.5"]["tp"], a["at_0.5"]["fn"]) == (1, 1)
    assert report["per_class"]["B"]["auc"] is None     # no positive in the test split
    assert report["mean_auc"] == pytest.approx(0.75)   # over the classes that have one
    text = metrics.format_report(report)
    assert "A" in text and "n/a" in text and "mean AUC 0.750 over 1 classes" in text
