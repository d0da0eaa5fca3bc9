"""`cxrpipe train`'s flags: the class resolver's hints, and choices kept in step with the trainer."""

from __future__ import annotations

from cxrpipe.cli import main
from cxrpipe.train import backbones, distribute, loop, settings

QUIET = ["--progress", "none"]


def test_a_near_miss_class_gets_did_you_mean(shards, tmp_path, capsys):
    argv = ["train", "autoencoders", "--dataset", shards.root, "--out", str(tmp_path), *QUIET,
            "--classes", "Effusion,no finding"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "'no finding': did you mean 'No Finding'?" in err and "\n" not in err


def test_the_choices_are_the_trainers_registries():
    assert settings.BACKBONES == tuple(backbones.BACKBONES)
    assert settings.DISTRIBUTE == tuple(distribute.STRATEGIES)
    assert settings.INPUT_SHARDING == ("auto", *distribute.POLICIES)
    assert loop.Settings is settings.Settings
