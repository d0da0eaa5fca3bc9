"""`cxrpipe evaluate --models DIR,DIR,...`: score an ensemble of trained classifiers.

Every member scores the same cases (one dataset, version and split); their scores are
combined by ``voting`` and the report goes to OUT/ensemble.json, OUT being the ensemble's own
folder (``--out``): no member's metrics.json or card is written.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxrpipe.dataset import open_dataset
from cxrpipe.errors import UserError
from cxrpipe.train import evaluate, metrics, modeldir, models, voting
from cxrpipe.train.settings import EvalSettings

log = logging.getLogger(__name__)

ENSEMBLE_FILE = "ensemble.json"


@dataclass(frozen=True)
class Scored:
    """The members' scores on one dataset, columns in the ensemble's class order."""

    cards: dict        # member directory -> its ModelCard
    classes: tuple[str, ...]
    root: str          # the dataset scored
    labels: np.ndarray  # test labels (cases, classes), the same for every member
    test: dict         # member -> test scores (cases, classes)
    tuning: dict       # member -> (labels, scores) of the threshold split, or None

    def soft(self) -> np.ndarray:
        """The soft vote on the test split: the members' mean probability."""
        return voting.soft_vote(list(self.test.values()))


def evaluate_ensemble(s: EvalSettings, members: tuple[Path, ...]) -> dict:
    """Score the members on ``s``'s dataset and split; write and return the ensemble's report.

    Returns:
        ``classes``, ``members``, ``soft`` (a full ``metrics.evaluation_report`` of the mean
        probability), ``hard`` (``voting.hard_report``, or why there is none), ``member_metrics``
        (each member's AUCs on the same cases), ``thresholds`` (each member's, from its card).

    Raises:
        UserError: see ``score_members``; ``s.out`` is a file.
    """
    out = _out_dir(Path(s.out))
    scored = score_members(s, members)
    soft = metrics.evaluation_report(scored.classes, (scored.labels, scored.soft()), _soft_tuning(scored.tuning),
                                     s.target_recall, resamples=s.bootstrap, seed=s.seed, bins=s.calibration_bins)
    report = {"kind": "ensemble", "classes": list(scored.classes), "members": list(scored.cards),
              "dataset": scored.root, "split": s.split,
              "threshold_split": s.threshold_split if _soft_tuning(scored.tuning) else None,
              "soft": soft, "hard": _hard(scored),
              "member_metrics": {n: voting.member_report(scored.classes, scored.labels, t)
                                 for n, t in scored.test.items()},
              "thresholds": {n: _thresholds(c, scored.classes) for n, c in scored.cards.items()}}
    (out / ENSEMBLE_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


def score_members(s: EvalSettings, members: tuple[Path, ...]) -> Scored:
    """Every member's scores on the test and threshold splits of one dataset.

    Raises:
        UserError: fewer than two members, a member that is not a model directory, members
            trained on other classes or (without --dataset) on other datasets or versions.
    """
    if len(set(members)) < 2:
        raise UserError(f"--models: an ensemble needs at least two different model directories, got {len(members)}")
    cards = {str(m): modeldir.read(m) for m in members}
    classes, (dataset, version) = _agreement(cards, s)
    source = open_dataset(dataset, s.storage, version).require_shards()
    test, tuning = {}, {}
    for name, card in cards.items():
        log.info("scoring member %s", name)
        test[name], tuning[name] = _member_scores(Path(name), card, source, classes, s)
    labels = _same_labels(test)
    return Scored(cards, classes, source.root, labels, {n: scores for n, (_, scores) in test.items()}, tuning)


def _agreement(cards: dict, s: EvalSettings) -> tuple[tuple[str, ...], tuple]:
    """The members' common classes and the (dataset, version) to score, or a UserError."""
    try:
        classes = voting.common_classes({n: c.classes for n, c in cards.items()})
        if s.dataset:
            return classes, (s.dataset, s.version)
        source = voting.common_source({n: (c.dataset, c.dataset_version) for n, c in cards.items()})
    except ValueError as exc:
        raise UserError(f"--models: {exc}") from None
    return classes, (source[0], s.version or source[1])


def _member_scores(path: Path, card: modeldir.ModelCard, source, classes, s: EvalSettings):
    """(labels, scores) on the test split and on the threshold split (or None), columns in
    ``classes`` order."""
    # evaluate's own stream and threshold-split rule, so a member scores here as it does alone
    stream = evaluate._stream(source, card.classes, card, s.batch_size)
    model = models.load_model(path / card.model)
    test = evaluate.predict(model, source, s.split, stream, s.verbose)
    tuning = evaluate._tuning_scores(model, source, stream, s)
    return _ordered(test, card.classes, classes), _ordered(tuning, card.classes, classes) if tuning else None


def _ordered(pair, own, classes):
    return tuple(voting.columns(a, own, classes) for a in pair)


def _same_labels(test: dict) -> np.ndarray:
    """The test labels every member saw; they must agree (one dataset read in a fixed order)."""
    (first, (labels, _)), *rest = test.items()
    for name, (theirs, _) in rest:
        if theirs.shape != labels.shape or not np.array_equal(theirs, labels):
            raise RuntimeError(f"members {first} and {name} read different test cases")
    return labels


def _soft_tuning(tuning: dict):
    """(labels, soft vote) on the threshold split, or None where a member has none."""
    if any(t is None for t in tuning.values()):
        return None
    pairs = list(tuning.values())
    return pairs[0][0], voting.soft_vote([scores for _, scores in pairs])


def _thresholds(card: modeldir.ModelCard, classes) -> dict | None:
    if card.thresholds is None:
        return None
    return {c: card.thresholds.values.get(c) for c in classes}


def _hard(scored: Scored) -> dict:
    """The hard vote's report, or why there is none (a member never evaluated)."""
    untuned = [n for n, c in scored.cards.items() if c.thresholds is None]
    if untuned:
        return {"available": False, "majority": None, "per_class": {},
                "reason": f"member {untuned[0]} has no tuned thresholds (run `cxrpipe evaluate --out "
                          f"{untuned[0]}` first); soft voting needs none"}
    limits = [[np.nan if t is None else t for t in _thresholds(scored.cards[n], scored.classes).values()]
              for n in scored.test]
    fractions = voting.hard_vote(list(scored.test.values()), limits)
    return {"available": True, "reason": None,
            **voting.hard_report(scored.classes, scored.labels, fractions, len(scored.test))}


def _out_dir(out: Path) -> Path:
    """The ensemble's folder, created; checked before minutes of scoring."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: name a folder for the ensemble's report")
    out.mkdir(parents=True, exist_ok=True)
    return out
