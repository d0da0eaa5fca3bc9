"""`cxrpipe evaluate --models`: an ensemble of three small classifiers trained here with
different seeds (the shared fixture's model and two more), scored by soft and hard voting."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cxrpipe.cli import main
from cxrpipe.dataset import open_dataset
from cxrpipe.storage import StorageConfig
from cxrpipe.train import ensemble, evaluate, metrics, modeldir, models, voting
from cxrpipe.train.settings import EvalSettings

QUIET = ["--progress", "none"]


def fingerprints(dirs) -> dict:
    """SHA-256 of every file each member directory holds (what the ensemble must not touch)."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for d in dirs for p in sorted(Path(d).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(members, tmp_path_factory):
    """`cxrpipe evaluate --models` over the three members: its report, what it printed, and
    the members' files before and after."""
    out = tmp_path_factory.mktemp("ensemble")
    before = fingerprints(members)
    code = main(["evaluate", "--models", ",".join(members), "--out", str(out), "--bootstrap", "50", *QUIET])
    report = json.loads((out / ensemble.ENSEMBLE_FILE).read_text())
    return {"code": code, "out": out, "report": report, "before": before, "after": fingerprints(members)}


def test_the_ensemble_writes_its_own_file_and_no_members(run, members):
    assert run["code"] == 0 and run["report"]["members"] == members
    assert run["after"] == run["before"]                 # no member's metrics.json or card rewritten
    assert not (run["out"] / modeldir.METRICS_FILE).exists()


def test_soft_vote_is_the_mean_of_the_members_probabilities(members, shards):
    """Tolerance 1e-6: each member's scores are recomputed here, one model at a time, through
    evaluate.predict (float32 outputs; CPU inference of one model on one batch order repeats)."""
    scored = ensemble.score_members(EvalSettings(out=Path("unused"), verbose=0), tuple(Path(m) for m in members))
    source = open_dataset(shards.root, StorageConfig()).require_shards()
    own = []
    for m in members:
        card = modeldir.read(m)
        stream = evaluate._stream(source, card.classes, card, 32)
        labels, scores = evaluate.predict(models.load_model(Path(m) / card.model), source, "test", stream, 0)
        assert np.array_equal(labels, scored.labels)
        own.append(scores)
    assert scored.soft().shape == (len(scored.labels), len(shards.classes))
    np.testing.assert_allclose(scored.soft(), np.mean(own, axis=0), rtol=0, atol=1e-6)
    assert not np.allclose(own[0], own[1], atol=1e-3)  # the seeds made different members


def test_each_member_is_reported_next_to_the_ensemble(run, members, shards):
    report = run["report"]
    for m in members:
        own = json.loads((Path(m) / modeldir.METRICS_FILE).read_text())  # the member's own evaluate
        for name in shards.classes:
            assert report["member_metrics"][m]["per_class"][name]["auc"] == own["per_class"][name]["auc"]
        assert report["thresholds"][m] == modeldir.read(m).thresholds.values
    soft = report["soft"]
    for name in shards.classes:
        r = soft["per_class"][name]
        assert r["auc_ci"]["low"] <= r["auc"] <= r["auc_ci"]["high"] and len(r["reliability"]) == 10
        assert r["at_target_recall"] is not None and r["roc"][0] == [0, 0] and r["roc"][-1] == [1, 1]
    assert report["threshold_split"] == "val" and report["split"] == "test"


def test_hard_vote_is_the_majority_at_each_members_threshold(run, members, shards):
    scored = ensemble.score_members(EvalSettings(out=Path("unused"), verbose=0), tuple(Path(m) for m in members))
    hard = run["report"]["hard"]
    assert hard["available"] and hard["majority"] == pytest.approx(2 / 3)
    for i, name in enumerate(shards.classes):
        votes = sum((scored.test[m][:, i] >= modeldir.read(m).thresholds.values[name]).astype(int) for m in members)
        truth, known = scored.labels[:, i] == 1, scored.labels[:, i] >= 0
        at = hard["per_class"][name]["at_majority"]
        assert at["tp"] == int(((votes >= 2) & truth & known).sum())
        assert at["fp"] == int(((votes >= 2) & ~truth & known).sum())
        assert hard["per_class"][name]["vote_auc"] == metrics.roc_auc(scored.labels[:, i], votes / 3)


def test_the_printed_table_lists_each_member(members, tmp_path, capsys):
    assert main(["evaluate", "--models", ",".join(members[:2]), "--out", str(tmp_path), "--bootstrap", "0",
                 *QUIET]) == 0
    printed = capsys.readouterr().out
    assert "M1 AUC" in printed and "M2 AUC" in printed and "M3 AUC" not in printed
    assert f"M1 = {members[0]}" in printed and f"M2 = {members[1]}" in printed
    # two members: a strict majority is both of them
    report = json.loads((tmp_path / ensemble.ENSEMBLE_FILE).read_text())
    assert report["hard"]["majority"] == 1.0 and "(fraction >= 1)" in printed


def changed(member: str, where: Path, **fields) -> str:
    """A copy of ``member`` whose card has ``fields`` replaced."""
    shutil.copytree(member, where)
    modeldir.write(where, dataclasses.replace(modeldir.read(where), **fields))
    return str(where)


def test_a_member_without_thresholds_gives_soft_voting_only(members, tmp_path, capsys):
    untuned = changed(members[1], tmp_path / "untuned", thresholds=None)
    assert main(["evaluate", "--models", f"{members[0]},{untuned}", "--out", str(tmp_path / "e"),
                 "--bootstrap", "0", *QUIET]) == 0
    printed = capsys.readouterr().out
    assert f"no hard vote: member {untuned} has no tuned thresholds" in printed
    report = json.loads((tmp_path / "e" / ensemble.ENSEMBLE_FILE).read_text())
    assert report["hard"]["available"] is False and report["soft"]["mean_auc"] is not None


@pytest.mark.parametrize("fields, says", [
    ({"classes": ("Cardiomegaly", "Effusion", "Mass")}, "lacks ['No Finding'], adds none"),
    ({"dataset_version": 7}, "version 7"),
])
def test_members_that_disagree_are_refused_in_one_line(members, tmp_path, capsys, fields, says):
    other = changed(members[1], tmp_path / "other", **fields)
    assert main(["evaluate", "--models", f"{members[0]},{other}", "--out", str(tmp_path / "e"), *QUIET]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"member {other}" in err and says in err
    assert not (tmp_path / "e" / ensemble.ENSEMBLE_FILE).exists()


def test_one_model_is_not_an_ensemble(members, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["evaluate", "--models", members[0], "--out", str(tmp_path)])
    assert exited.value.code == 2 and "two or more model directories" in capsys.readouterr().err
    assert main(["evaluate", "--models", f"{members[0]},{members[0]}", "--out", str(tmp_path), *QUIET]) == 2
    assert "at least two different" in capsys.readouterr().err
