"""Calibration of predicted probabilities: reliability curve and expected calibration error.
Pure numpy: no TensorFlow.

Bins are equal-width over [0, 1]; bin b holds scores in [b/B, (b+1)/B), the last one also 1.0.
Unknown labels (-1) are left out, as everywhere in ``metrics``.
"""

from __future__ import annotations

import numpy as np


def reliability(labels, scores, bins: int) -> list[dict]:
    """The reliability curve of one class.

    Returns:
        Per bin ``{"low", "high", "mean_predicted", "observed", "count"}``: the bin's edges,
        its cases' mean score and share of positives (None for an empty bin), and its cases.

    Raises:
        ValueError: ``bins`` below 1, or labels and scores of different shapes.
    """
    if bins < 1:
        raise ValueError(f"bins: expected at least 1, got {bins}")
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in shape: {labels.shape} vs {scores.shape}")
    known = labels >= 0
    labels, scores = labels[known], scores[known]
    # min(): a score of exactly 1.0 belongs to the last bin, not to a bin past the end
    which = np.minimum((scores * bins).astype(np.int64), bins - 1)
    return [_bin(b, bins, labels[which == b], scores[which == b]) for b in range(bins)]


def _bin(b: int, bins: int, labels, scores) -> dict:
    count = len(scores)
    return {"low": b / bins, "high": (b + 1) / bins,
            "mean_predicted": float(scores.mean()) if count else None,
            "observed": float((labels == 1).mean()) if count else None, "count": count}


def expected_calibration_error(curve: list[dict]) -> float | None:
    """ECE = sum over bins of (count / cases) |mean predicted - observed frequency|.

    Args:
        curve: a ``reliability`` curve.

    Returns:
        The ECE, or None when the curve holds no case.
    """
    cases = sum(b["count"] for b in curve)
    if cases == 0:
        return None
    return float(sum(b["count"] * abs(b["mean_predicted"] - b["observed"])
                     for b in curve if b["count"]) / cases)
