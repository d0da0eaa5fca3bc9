"""Ensemble voting against values worked out by hand and with plain loops."""

from __future__ import annotations

import numpy as np
import pytest

from cxrpipe.train import metrics, voting


def test_soft_vote_is_the_mean_probability():
    a, b, c = np.array([[0.2, 0.9]]), np.array([[0.4, 0.3]]), np.array([[0.9, 0.0]])
    assert voting.soft_vote([a, b, c]) == pytest.approx(np.array([[0.5, 0.4]]))


def test_majority_is_more_than_half():
    assert [voting.majority(n) for n in (1, 2, 3, 4, 5)] == [1.0, 1.0, 2 / 3, 3 / 4, 3 / 5]


def test_hard_vote_counts_members_at_their_own_thresholds():
    scores = [np.array([[0.5, 0.1], [0.2, 0.8]]), np.array([[0.3, 0.6], [0.3, 0.6]]),
              np.array([[0.9, 0.9], [0.0, 0.2]])]
    thresholds = [[0.5, 0.5], [0.4, 0.7], [0.95, 0.1]]  # a score equal to its threshold votes yes
    expected = np.array([[(1 + 0 + 0) / 3, (0 + 0 + 1) / 3], [(0 + 0 + 0) / 3, (1 + 0 + 1) / 3]])
    assert voting.hard_vote(scores, thresholds) == pytest.approx(expected)


def test_a_missing_threshold_makes_that_class_unknown_only():
    scores = [np.array([[0.5, 0.5]]), np.array([[0.5, 0.5]])]
    fractions = voting.hard_vote(scores, [[0.4, np.nan], [0.4, 0.4]])
    assert fractions[0, 0] == 1.0 and np.isnan(fractions[0, 1])
    report = voting.hard_report(["A", "B"], np.array([[1, 0]]), fractions, 2)
    assert report["per_class"]["B"] == {"vote_auc": None, "at_majority": None}


def test_hard_report_scores_the_vote_fraction_and_the_majority():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, (200, 1))
    members = [np.clip(labels + rng.normal(0, 0.6, labels.shape), 0, 1) for _ in range(3)]
    fractions = voting.hard_vote(members, [[0.5]] * 3)
    report = voting.hard_report(["A"], labels, fractions, 3)["per_class"]["A"]
    yes = sum((m[:, 0] >= 0.5).astype(int) for m in members) >= 2  # a loop over members, by count
    truth = labels[:, 0] == 1
    assert report["at_majority"]["tp"] == int((yes & truth).sum())
    assert report["at_majority"]["tn"] == int((~yes & ~truth).sum())
    assert report["vote_auc"] == metrics.roc_auc(labels[:, 0], fractions[:, 0])
    assert set(np.unique(fractions)) <= {0, 1 / 3, 2 / 3, 1}


def test_members_must_share_classes_and_source():
    assert voting.common_classes({"a": ("X", "Y"), "b": ("Y", "X")}) == ("X", "Y")
    with pytest.raises(ValueError, match=r"member b was trained on other classes than a: lacks \['Y'\], adds \['Z'\]"):
        voting.common_classes({"a": ("X", "Y"), "b": ("X", "Z")})
    assert voting.common_source({"a": ("s3://d", 2), "b": ("s3://d", 2)}) == ("s3://d", 2)
    with pytest.raises(ValueError, match="member b was trained on s3://d version 3, a on s3://d version 2"):
        voting.common_source({"a": ("s3://d", 2), "b": ("s3://d", 3)})


def test_columns_follow_the_ensemble_order():
    scores = np.array([[0.1, 0.2, 0.3]])
    assert voting.columns(scores, ("A", "B", "C"), ("C", "A", "B")).tolist() == [[0.3, 0.1, 0.2]]
