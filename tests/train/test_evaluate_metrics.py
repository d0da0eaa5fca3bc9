"""`cxrpipe evaluate` writes the publishable figures: AUC intervals, the published mean-AUC
sets, sensitivity/specificity at the tuned threshold and calibration, as its flags ask."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cxrpipe.cli import main
from cxrpipe.labels import NIH_CLASSES, NO_FINDING
from cxrpipe.train import metrics, modeldir


def test_evaluate_writes_intervals_means_rates_and_calibration(trained, shards, tmp_path, capsys):
    out = tmp_path / "model"
    shutil.copytree(trained.out, out)  # the shared model directory stays as the fixture left it
    assert main(["evaluate", "--out", str(out), "--bootstrap", "20", "--seed", "3",
                 "--calibration-bins", "5", "--progress", "none"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / modeldir.METRICS_FILE).read_text())
    first = json.loads((Path(trained.out) / modeldir.METRICS_FILE).read_text())  # the defaults' run
    assert first["bootstrap"]["resamples"] == 1000 and first["calibration_bins"] == 10
    assert report["bootstrap"] == {**first["bootstrap"], "resamples": 20, "seed": 3}
    assert report["calibration_bins"] == 5
    for name in shards.classes:
        r = report["per_class"][name]
        assert r["auc"] == first["per_class"][name]["auc"]           # same model, same cases
        assert 0 < r["auc_ci"]["resamples"] <= 20 and r["auc_ci"]["low"] <= r["auc_ci"]["high"]
        assert len(r["reliability"]) == 5
        assert sum(b["count"] for b in r["reliability"]) == r["positives"] + r["negatives"]
        tuned = r["at_target_recall"]
        if tuned:
            assert tuned["specificity"] == pytest.approx(tuned["tn"] / (tuned["tn"] + tuned["fp"]))
    # the phantoms' 4 classes complete neither published set; each says what it lacks
    sets = report["mean_auc_sets"]
    assert sets["nih14"]["mean_auc"] is None
    assert set(sets["nih14"]["missing"]) == set(NIH_CLASSES) - set(shards.classes) - {NO_FINDING}
    assert sets["chexpert5"]["missing"] == [c for c in metrics.MEAN_SETS["chexpert5"] if c != "Cardiomegaly"]
    assert "20 resamples" in printed and "spec@thr" in printed and "ECE over 5 equal-width bins" in printed
