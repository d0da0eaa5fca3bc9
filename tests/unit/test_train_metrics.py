"""The trainer's evaluation figures against hand-computed values, a brute-force AUC and
analytically known cases (bootstrap intervals, calibration, the published mean-AUC sets)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cxrpipe.labels import CHEXPERT_CLASSES, NIH_CLASSES, NO_FINDING
from cxrpipe.train import bootstrap, calibration, metrics


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
                   "recall": pytest.approx(2 / 3), "specificity": 0.5, "precision": pytest.approx(2 / 3)}
    nothing_called = metrics.confusion([1, 0], [0.1, 0.2], 0.5)
    assert nothing_called["precision"] is None and nothing_called["recall"] == 0.0


def test_report_tunes_on_one_split_and_scores_the_other():
    test_labels = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    test_scores = np.array([[0.9, 0.1], [0.2, 0.3], [0.4, 0.2], [0.6, 0.4]])
    val_labels = np.array([[1, 1], [0, 0], [1, 0]])
    val_scores = np.array([[0.8, 0.7], [0.1, 0.2], [0.3, 0.1]])
    report = metrics.evaluation_report(["A", "B"], (test_labels, test_scores),
                                       (val_labels, val_scores), target_recall=1.0,
                                       resamples=50, seed=0, bins=4)
    a = report["per_class"]["A"]
    assert a["auc"] == pytest.approx(0.75)             # (0.9 > both) + (0.4 > 0.2 only) = 3/4
    assert a["at_target_recall"]["threshold"] == 0.3   # lowest val positive
    assert (a["at_target_recall"]["tp"], a["at_target_recall"]["fp"]) == (2, 1)
    assert (a["at_0.5"]["tp"], a["at_0.5"]["fn"]) == (1, 1)
    assert report["per_class"]["B"]["auc"] is None     # no positive in the test split
    assert report["mean_auc"] == pytest.approx(0.75)   # over the classes that have one
    text = metrics.format_report(report)
    assert "A" in text and "n/a" in text and "mean AUC 0.750 over 1 classes" in text
    assert report["per_class"]["B"]["auc_ci"] is None  # never defined: no resample has a positive
    assert "50 resamples of the 4 test cases (seed 0)" in text and "ECE over 4 equal-width bins" in text
    assert "mean AUC chexpert5 n/a" in text and "not in the model: Atelectasis" in text


def separable(cases: int, seed: int):
    """Two classes whose scores rise with the label, plus noise: AUCs near 0.8."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, (cases, 2))
    return labels, labels * 0.5 + rng.normal(0, 0.5, (cases, 2))


def test_auc_interval_holds_the_estimate_narrows_with_cases_and_repeats():
    widths = []
    for cases in (100, 1600):
        labels, scores = separable(cases, seed=1)
        cis = bootstrap.intervals(metrics.roc_auc, labels, scores, resamples=200, seed=0)
        for i, ci in enumerate(cis):
            assert ci["low"] < metrics.roc_auc(labels[:, i], scores[:, i]) < ci["high"]
            assert ci["resamples"] == 200
        widths.append(cis[0]["high"] - cis[0]["low"])
    # the standard error shrinks as 1/sqrt(cases): 16x the cases, about a quarter the width
    assert widths[1] < widths[0] / 2
    labels, scores = separable(100, seed=1)
    again = [bootstrap.intervals(metrics.roc_auc, labels, scores, 200, seed) for seed in (5, 5, 6)]
    assert again[0] == again[1] and again[0] != again[2]


def test_a_resample_with_one_label_is_skipped_for_that_class_only():
    labels = np.zeros((20, 2), dtype=int)
    labels[0, 0] = 1                 # class 0: one positive, absent from ~36% of resamples
    labels[:10, 1] = 1               # class 1: half positive, always both labels
    scores = np.linspace(1, 0, 20)[:, None].repeat(2, axis=1)
    first, second = bootstrap.intervals(metrics.roc_auc, labels, scores, resamples=300, seed=0)
    assert 150 < first["resamples"] < 250 and second["resamples"] == 300
    assert first["low"] == first["high"] == 1.0   # the positive outranks every negative
    assert bootstrap.intervals(metrics.roc_auc, np.zeros((5, 1)), np.ones((5, 1)), 10, 0) == [None]
    with pytest.raises(ValueError, match="resamples"):
        bootstrap.intervals(metrics.roc_auc, labels, scores, 0, 0)


def test_sensitivity_and_specificity_by_hand():
    # at 0.5: positives 0.9, 0.6 called, 0.2 missed; negatives 0.7 called, 0.3, 0.1, 0.05 not
    got = metrics.confusion([1, 1, 1, 0, 0, 0, 0], [0.9, 0.6, 0.2, 0.7, 0.3, 0.1, 0.05], 0.5)
    assert got["recall"] == pytest.approx(2 / 3) and got["specificity"] == pytest.approx(3 / 4)
    assert metrics.confusion([1, 1], [0.9, 0.2], 0.5)["specificity"] is None   # no negative


def test_ece_is_zero_for_calibrated_scores():
    # each bin's score equals its share of positives: 1 of 4 at 0.25, 3 of 4 at 0.75
    labels = [1, 0, 0, 0, 1, 1, 1, 0]
    scores = [0.25] * 4 + [0.75] * 4
    assert calibration.expected_calibration_error(calibration.reliability(labels, scores, 10)) == 0.0
    # and, drawn at random, labels ~ Bernoulli(score): zero up to sampling noise
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 1, 200_000)
    labels = (rng.uniform(0, 1, 200_000) < scores).astype(int)
    assert calibration.expected_calibration_error(calibration.reliability(labels, scores, 10)) < 0.01


def test_ece_and_reliability_of_a_known_miscalibration():
    # 10 cases at 0.9 of which 6 positive (gap 0.3), 10 at 0.1 of which none (gap 0.1):
    # ECE = 10/20 * 0.3 + 10/20 * 0.1 = 0.2; the unknown label (-1) at 0.5 is left out.
    labels = [1] * 6 + [0] * 4 + [0] * 10 + [-1]
    scores = [0.9] * 10 + [0.1] * 10 + [0.5]
    curve = calibration.reliability(labels, scores, 10)
    assert calibration.expected_calibration_error(curve) == pytest.approx(0.2)
    assert curve[9] == {"low": 0.9, "high": 1.0, "mean_predicted": pytest.approx(0.9),
                        "observed": pytest.approx(0.6), "count": 10}
    assert curve[1]["observed"] == 0.0 and curve[1]["count"] == 10
    assert curve[5] == {"low": 0.5, "high": 0.6, "mean_predicted": None, "observed": None, "count": 0}
    # a score of exactly 1 falls in the last bin
    assert [b["count"] for b in calibration.reliability([1, 0], [1.0, 0.0], 2)] == [1, 1]
    assert calibration.expected_calibration_error(calibration.reliability([-1], [0.3], 10)) is None


def test_the_published_sets_come_from_the_class_lists():
    assert len(metrics.MEAN_SETS["nih14"]) == 14 and NO_FINDING not in metrics.MEAN_SETS["nih14"]
    assert set(metrics.MEAN_SETS["nih14"]) < set(NIH_CLASSES)
    assert metrics.MEAN_SETS["chexpert5"] == ("Cardiomegaly", "Edema", "Consolidation", "Atelectasis",
                                              "Pleural Effusion")   # CheXpert's column order
    assert set(metrics.MEAN_SETS["chexpert5"]) < set(CHEXPERT_CLASSES)


def test_mean_auc_over_the_published_sets():
    # NIH's 15 classes: 13 findings at 0.8, Hernia 0.6, No Finding 0.1 (left out of nih14)
    nih = {name: 0.8 for name in NIH_CLASSES} | {"Hernia": 0.6, NO_FINDING: 0.1}
    means = metrics.mean_auc_sets(nih)
    assert means["nih14"] == {"mean_auc": pytest.approx((13 * 0.8 + 0.6) / 14), "missing": [], "undefined": []}
    # NIH says Effusion where CheXpert says Pleural Effusion: no CheXpert-5 mean for an NIH model
    assert means["chexpert5"] == {"mean_auc": None, "missing": ["Pleural Effusion"], "undefined": []}
    chexpert = {name: 0.5 for name in CHEXPERT_CLASSES} | {
        "Atelectasis": 0.7, "Cardiomegaly": 0.9, "Consolidation": 0.6, "Edema": 0.8, "Pleural Effusion": 1.0}
    assert metrics.mean_auc_sets(chexpert)["chexpert5"]["mean_auc"] == pytest.approx(0.8)
    # a class the model has but whose AUC is undefined on this split also withholds the mean
    undefined = metrics.mean_auc_sets(chexpert | {"Edema": None})["chexpert5"]
    assert undefined == {"mean_auc": None, "missing": [], "undefined": ["Edema"]}


def test_roc_corners_by_hand_and_their_area_is_the_auc():
    # scores 0.9+ 0.8- 0.7+ 0.3- 0.2+: each distinct score lowers the threshold by one case
    assert metrics.roc_curve([1, 0, 1, 0, 1], [0.9, 0.8, 0.7, 0.3, 0.2]) == [
        [0, 0], [0, 1 / 3], [0.5, 1 / 3], [0.5, 2 / 3], [1, 2 / 3], [1, 1]]
    rng = np.random.default_rng(3)
    labels = np.where(rng.random(400) < 0.05, -1, rng.integers(0, 2, 400))
    scores = rng.integers(0, 30, 400) / 29 + 0.2 * (labels == 1)  # ties: diagonal steps count half
    corners = np.array(metrics.roc_curve(labels, scores, max_points=10_000))
    area = float(np.sum(np.diff(corners[:, 0]) * (corners[1:, 1] + corners[:-1, 1]) / 2))
    assert area == pytest.approx(pairwise_auc(labels[labels >= 0], scores[labels >= 0]), abs=1e-12)
    assert metrics.roc_curve([1, 1], [0.2, 0.3]) is None


def test_long_roc_curves_keep_their_ends_and_at_most_max_points():
    rng = np.random.default_rng(5)
    labels, scores = rng.integers(0, 2, 5000), rng.random(5000)
    thinned = metrics.roc_curve(labels, scores, max_points=50)
    full = metrics.roc_curve(labels, scores, max_points=10**9)
    assert len(full) == 5001 and len(thinned) == 50
    assert thinned[0] == [0, 0] and thinned[-1] == [1, 1]
    assert all(p in full for p in thinned)  # corners of the curve, none made up
    report = metrics.class_report((labels, scores), None, 0.9, 10)
    assert len(report["roc"]) == metrics.ROC_POINTS
