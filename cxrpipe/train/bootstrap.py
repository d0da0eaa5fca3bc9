"""Bootstrap confidence intervals of a per-class statistic (ROC AUC in ``metrics``). Pure
numpy: no TensorFlow.

Cases (rows) are resampled with replacement, the same rows for every class so that the
classes' intervals come from the same resampled test sets; the interval is the percentile one
(numpy's linear interpolation between order statistics).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

CONFIDENCE = 0.95


Statistic = Callable[[np.ndarray, np.ndarray], "float | None"]


def intervals(statistic: Statistic, labels, scores, resamples: int, seed: int,
              confidence: float = CONFIDENCE) -> list:
    """Percentile bootstrap interval of ``statistic`` on each column.

    A resample on which a class's statistic is undefined (None: for the AUC, one kind of
    known label only) is skipped for that class, so classes may use fewer than ``resamples``.

    Args:
        statistic: (labels, scores) of one class -> a number, or None when undefined.
        labels: (cases, classes) of 1, 0 or -1 (unknown).
        scores: (cases, classes) predicted probabilities.
        resamples: how many resampled test sets to draw (at least 1).
        seed: seeds ``numpy.random.default_rng``: the same seed gives the same intervals.
        confidence: the interval's coverage, in (0, 1).

    Returns:
        Per column ``{"low", "high", "resamples"}`` (resamples: how many were used), or None
        when the statistic was defined on no resample.

    Raises:
        ValueError: ``resamples`` below 1 or ``confidence`` outside (0, 1).
    """
    if resamples < 1:
        raise ValueError(f"resamples: expected at least 1, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence}")
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    draws = _resampled(statistic, labels, scores, resamples, np.random.default_rng(seed))
    tail = 100.0 * (1.0 - confidence) / 2.0
    return [_interval(column, tail) for column in draws]


def _resampled(statistic: Statistic, labels, scores, resamples: int, rng) -> list[list[float]]:
    """Each class's statistic on each resample where it is defined."""
    cases, classes = labels.shape
    draws: list[list[float]] = [[] for _ in range(classes)]
    for _ in range(resamples):
        rows = rng.integers(0, cases, cases)  # one draw per resample: memory stays O(cases)
        for i in range(classes):
            value = statistic(labels[rows, i], scores[rows, i])
            if value is not None:
                draws[i].append(value)
    return draws


def _interval(values: list[float], tail: float) -> dict | None:
    if not values:
        return None
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return {"low": float(low), "high": float(high), "resamples": len(values)}
