"""The model directory's card: what `train classifier` records and `evaluate` adds, and that
it reads back as written (so `predict` and `export` need nothing else)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cxrpipe.dataset import open_dataset
from cxrpipe.errors import UserError
from cxrpipe.storage import StorageConfig
from cxrpipe.train import modeldir


def test_the_card_records_what_prediction_needs(trained, shards):
    card = modeldir.read(trained.out)
    manifest = open_dataset(shards.root, StorageConfig()).manifest
    assert card.render == manifest.render_params() and card.render.size == 96
    assert card.render.flips == ("hflip",)  # as recorded; predict renders the primary only
    assert card.classes == shards.classes and card.image_size == trained.image_size
    assert card.input_transform == modeldir.INPUT_TRANSFORM
    assert (Path(trained.out) / card.model).is_file()
    assert card.dataset == shards.root and card.dataset_version == manifest.version == 1


def test_train_and_evaluate_read_the_dataset_version_asked_for(trained, shards, capsys):
    from cxrpipe.cli import main

    # The dataset has one version: asking for another is the reader's one-line error, in both.
    assert main(["evaluate", "--out", trained.out, "--version", "2", "--progress", "none"]) == 2
    assert "version 2" in capsys.readouterr().err
    assert main(["train", "classifier", "--dataset", shards.root, "--version", "3", "--out", trained.out + "-v3",
                 "--backbone", "small", "--epochs", "1", "--progress", "none"]) == 2
    assert "version 3" in capsys.readouterr().err


def test_evaluate_records_the_tuned_thresholds(trained):
    card = modeldir.read(trained.out)
    report = json.loads((Path(trained.out) / modeldir.METRICS_FILE).read_text())
    assert card.thresholds is not None and card.thresholds.split == "val"
    for name, value in zip(card.classes, card.threshold_values()):
        tuned = report["per_class"][name]["at_target_recall"]
        assert value == (tuned["threshold"] if tuned else None)
    assert any(v is not None for v in card.threshold_values())


def test_the_card_round_trips_and_refuses_other_formats(trained, tmp_path):
    card = modeldir.read(trained.out)
    modeldir.write(tmp_path, card)
    assert modeldir.read(tmp_path) == card
    body = card.to_dict()
    (tmp_path / modeldir.CONFIG_FILE).write_text(json.dumps({**body, "format_version": 0}))
    with pytest.raises(UserError, match="version 0"):
        modeldir.read(tmp_path)
    (tmp_path / modeldir.CONFIG_FILE).write_text(json.dumps({**body, "colour": 1}))
    with pytest.raises(UserError, match="unknown fields colour"):
        modeldir.read(tmp_path)
    with pytest.raises(UserError, match="not a model directory"):
        modeldir.read(tmp_path / "nowhere")


def test_no_thresholds_before_evaluate(trained):
    card = dataclasses.replace(modeldir.read(trained.out), thresholds=None)
    assert card.threshold_values() is None
    assert modeldir.with_thresholds(card, {"threshold_split": None}) is card
