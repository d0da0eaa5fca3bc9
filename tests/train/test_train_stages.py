"""`cxrpipe train` and `cxrpipe evaluate` end to end, checkpoint/resume, and the learning test."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cxrpipe.cli import main
from cxrpipe.train import loop

QUIET = ["--progress", "none"]


def quick(shards, out: Path, **overrides) -> loop.Settings:
    """Settings for a fast classifier run: small backbone at 64 px, 2 steps an epoch."""
    values = dict(dataset=shards.root, out=out, image_size=64, batch_size=8, epochs=1,
                  steps_per_epoch=2, backbone="small", autoencoders=False, verbose=0)
    return loop.Settings(**{**values, **overrides})


def logged_epochs(out: Path, stage: str = "classifier") -> list[int]:
    """The epochs OUT/logs/{stage}.csv holds a row of, in file order."""
    with (Path(out) / "logs" / f"{stage}.csv").open(newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def test_learning_on_planted_findings(shards, tmp_path, capsys):
    """From shards to a trained, evaluated model with the CLI: mean test AUC >= 0.9."""
    out = str(tmp_path / "run")
    common = ["--dataset", shards.root, "--out", out, "--image-size", "64", *QUIET]
    started = time.monotonic()
    assert main(["train", "autoencoders", *common, "--ae-size", "32", "--epochs", "2"]) == 0
    trained_autoencoders = time.monotonic()
    assert main(["train", "classifier", *common, "--backbone", "small", "--epochs", "6"]) == 0
    assert main(["evaluate", "--out", out, *QUIET]) == 0
    seconds = time.monotonic() - started
    printed = capsys.readouterr().out
    report = json.loads((Path(out) / "metrics.json").read_text())
    per_class = ", ".join(f"{c} {r['auc']:.3f}" for c, r in report["per_class"].items())
    with capsys.disabled():
        print(f"\nlearning test: mean test AUC {report['mean_auc']:.3f} ({per_class}) in "
              f"{seconds:.0f} s (autoencoders {trained_autoencoders - started:.0f} s)")
    assert report["mean_auc"] >= 0.9, printed
    assert list(report["per_class"]) == list(shards.classes)
    assert report["threshold_split"] == "val" and report["split"] == "test"
    effusion = report["per_class"]["Effusion"]
    assert effusion["at_target_recall"]["recall"] is not None and effusion["positives"] > 0
    assert "mean AUC" in printed and "TP@thr" in printed
    for name in ("classifier.keras", "train_config.json", "autoencoders/No_Finding.keras",
                 "checkpoints/classifier/latest.weights.h5", "checkpoints/autoencoder-Mass"):
        assert (Path(out) / name).exists(), name
    # TensorBoard comes with the train extra: the logs must be there.
    assert list((Path(out) / "logs" / "classifier").rglob("events.out.tfevents.*"))


def test_resume_continues_where_it_stopped(shards, tmp_path):
    first = loop.train_classifier(quick(shards, tmp_path, epochs=1))
    assert first.epochs == [0]
    weights = json.loads((Path(shards.root) / "_MANIFEST.json").read_text())["class_weights"]["train"]
    assert first.model.loss.positive_weights == [weights[c] for c in shards.classes]
    resumed = loop.train_classifier(quick(shards, tmp_path, epochs=3))
    assert resumed.epochs == [1, 2]  # epoch 0 was not trained again
    assert logged_epochs(tmp_path) == [0, 1, 2]  # the CSV log goes on where the first run stopped
    # the optimizer's state came back too: 2 steps from the first run, 4 from this one
    assert int(resumed.model.optimizer.iterations.numpy()) == 6
    done = loop.train_classifier(quick(shards, tmp_path, epochs=3))
    assert done.epochs == []
    with pytest.raises(loop.UserError, match="learning_rate"):
        loop.train_classifier(quick(shards, tmp_path, epochs=4, learning_rate=0.01))
    again = loop.train_classifier(quick(shards, tmp_path, epochs=1, learning_rate=0.01, restart=True))
    assert again.epochs == [0]
    assert logged_epochs(tmp_path) == [0]  # --restart starts the log again too


def test_mirrored_strategy_and_mixed_precision_train(shards, tmp_path):
    result = loop.train_classifier(quick(shards, tmp_path, distribute="mirrored",
                                         mixed_precision=True, steps_per_epoch=1))
    assert result.path.is_file() and result.epochs == [0]


def test_user_mistakes_are_one_line(shards, tmp_path, capsys):
    base = ["--dataset", shards.root, "--out", str(tmp_path), *QUIET]
    cases = [
        (["train", "classifier", *base, "--backbone", "small"], "train autoencoders"),
        (["train", "classifier", *base, "--backbone", "densenet121", "--no-autoencoders",
          "--image-size", "24"], "densenet121 needs at least 32 pixels"),
        (["train", "classifier", *base, "--backbone", "small", "--weights", "imagenet",
          "--no-autoencoders"], "not small"),
        (["train", "classifier", *base, "--crop-fraction", "1.5"], "argument --crop-fraction"),
        (["train", "classifier", *base, "--accumulate", "0"], "argument --accumulate"),
        (["train", "autoencoders", *base, "--classes", "Tumour"], "Tumour"),
        (["train", "autoencoders", *base, "--classes", "Hernia"], "Hernia"),
        (["train", "autoencoders", *base, "--epochs", "0"], "argument --epochs: expected an integer >= 1"),
        (["evaluate", "--out", str(tmp_path / "nothing"), *QUIET], "train classifier"),
    ]
    for argv, words in cases:
        try:
            code = main(argv)
        except SystemExit as exited:  # a bad flag value stops the parser itself
            code = exited.code
        assert code == 2, argv
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_does_not_import_tensorflow():
    code = ("import sys\nfrom cxrpipe.cli import build_parser\n"
            "build_parser().parse_args(['train', 'classifier', '--dataset', 'd', '--out', 'o'])\n"
            "print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
