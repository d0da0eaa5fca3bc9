"""Ensembles of classifiers: soft and hard voting over members' scores. Pure numpy.

Soft voting scores a case with the mean of the members' probabilities; it is a classifier like
any other and gets the full report of ``metrics.evaluation_report`` (intervals, a threshold
tuned on the validation split, calibration).

Hard voting asks each member for its decision at its own tuned threshold (the one its own
`cxrpipe evaluate` wrote into its card) and scores a case with the fraction of members that
call it positive. That fraction takes only members + 1 values, so its AUC is the AUC of a coarse
score (a few ROC corners); the decision the vote makes is the strict majority (more than half
the members: both of two, two of three), reported as sensitivity/specificity at that point.
"""

from __future__ import annotations

import numpy as np

from cxrpipe.summary import table
from cxrpipe.train import metrics


def common_classes(members: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The class list every member was trained on, in the first member's order.

    Members must hold the same classes (in any order): a class some members lack would be
    voted on by fewer members than another, and hard voting's majority would change meaning.

    Args:
        members: member name (its directory) -> its classes.

    Raises:
        ValueError: a member whose classes differ from the first's, naming both differences.
    """
    (first, classes), *rest = members.items()
    for name, theirs in rest:
        lacks, extra = sorted(set(classes) - set(theirs)), sorted(set(theirs) - set(classes))
        if lacks or extra:
            raise ValueError(f"member {name} was trained on other classes than {first}: "
                             f"lacks {lacks or 'none'}, adds {extra or 'none'}")
    return tuple(classes)


def common_source(members: dict[str, tuple]) -> tuple:
    """The (dataset, version) every member was trained on.

    Raises:
        ValueError: a member trained on another dataset or version, naming it and both.
    """
    (first, source), *rest = members.items()
    for name, theirs in rest:
        if tuple(theirs) != tuple(source):
            raise ValueError(f"member {name} was trained on {_source(theirs)}, {first} on "
                             f"{_source(source)}: score them on one dataset with --dataset")
    return tuple(source)


def _source(source: tuple) -> str:
    dataset, version = source
    return f"{dataset} version {version}" if version is not None else f"{dataset} (unversioned)"


def columns(scores: np.ndarray, classes, order) -> np.ndarray:
    """``scores`` (cases, len(classes)) with its columns rearranged into ``order``."""
    position = {name: i for i, name in enumerate(classes)}
    return scores[:, [position[name] for name in order]]


def soft_vote(member_scores: list[np.ndarray]) -> np.ndarray:
    """The mean probability of the members, per case and class."""
    return np.mean(np.stack(member_scores), axis=0)


def majority(members: int) -> float:
    """The vote fraction of a strict majority of ``members`` (more than half of them)."""
    return (members // 2 + 1) / members


def hard_vote(member_scores: list[np.ndarray], thresholds: list) -> np.ndarray:
    """The fraction of members calling each case positive at their own thresholds.

    Args:
        member_scores: per member, scores (cases, classes).
        thresholds: per member, one threshold per class (a number; NaN where it has none).

    Returns:
        Fractions (cases, classes) in {0, 1/n, ..., 1}; NaN in a class where some member has
        no threshold (its vote is unknown).
    """
    limits = np.asarray(thresholds, dtype=np.float64)[:, None, :]
    votes = (np.stack(member_scores) >= limits).sum(axis=0) / len(member_scores)
    return np.where(np.isnan(limits).any(axis=0), np.nan, votes)


def hard_report(classes, labels: np.ndarray, fractions: np.ndarray, members: int) -> dict:
    """Per class: the AUC of the vote fraction and the confusion at a strict majority.

    A class whose fraction is NaN (a member without a threshold for it) gets None for both.
    """
    at = majority(members)
    per_class = {}
    for i, name in enumerate(classes):
        column = fractions[:, i]
        known = not np.isnan(column).any()
        per_class[name] = {
            "vote_auc": metrics.roc_auc(labels[:, i], column) if known else None,
            "at_majority": metrics.confusion(labels[:, i], column, at) if known else None,
        }
    return {"majority": at, "per_class": per_class}


def member_report(classes, labels: np.ndarray, scores: np.ndarray) -> dict:
    """One member's AUC and ROC corners per class on the ensemble's cases, and their mean."""
    per_class = {name: {"auc": metrics.roc_auc(labels[:, i], scores[:, i]),
                        "roc": metrics.roc_curve(labels[:, i], scores[:, i])}
                 for i, name in enumerate(classes)}
    aucs = [r["auc"] for r in per_class.values() if r["auc"] is not None]
    return {"mean_auc": float(np.mean(aucs)) if aucs else None, "per_class": per_class}


def format_ensemble(report: dict) -> str:
    """The ensemble's per-class AUCs next to each member's, and the hard vote, as plain text."""
    members = list(report["members"])
    hard = report["hard"]
    rows = []
    for name in report["classes"]:
        soft, vote = report["soft"]["per_class"][name], hard["per_class"].get(name) or {}
        at = vote.get("at_majority") or {}
        rows.append([name, _num(soft["auc"]), _span(soft["auc_ci"]),
                     *(_num(report["member_metrics"][m]["per_class"][name]["auc"]) for m in members),
                     _num(vote.get("vote_auc")), _num(at.get("recall")), _num(at.get("specificity"))])
    header = ["class", "soft AUC", "95% CI", *(f"M{i + 1} AUC" for i in range(len(members))),
              "vote AUC", "sens@maj", "spec@maj"]
    lines = [table(header, rows),
             f"mean AUC: soft vote {_num(report['soft']['mean_auc'])}; "
             + "; ".join(f"M{i + 1} {_num(report['member_metrics'][m]['mean_auc'])}" for i, m in enumerate(members)),
             *(f"M{i + 1} = {m}" for i, m in enumerate(members))]
    if hard["available"]:
        lines.append(f"hard vote: fraction of members positive at their own tuned thresholds; "
                     f"vote AUC ranks cases by that fraction; sens/spec at a strict majority "
                     f"(fraction >= {hard['majority']:.3g})")
    else:
        lines.append(f"no hard vote: {hard['reason']}")
    return "\n".join(lines)


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _span(ci) -> str:
    return f"{ci['low']:.3f}-{ci['high']:.3f}" if ci else "n/a"
