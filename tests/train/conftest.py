"""One synthetic shard dataset for every trainer test, built once through the CLI.

`cxrpipe synth` draws 1,000 NIH-like phantoms with planted findings; `cxrpipe run` keeps the
classes the phantoms draw most distinctly (a bigger heart, fluid at a base, a large dense
disc, and none), at 96 px with horizontal flips, in 2 shards per (split, class).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import pytest

from cxrpipe.cli import main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CLASSES = ("Cardiomegaly", "Effusion", "Mass", "No Finding")
STORED_SIZE = 96


MODEL_SIZE = 48


class Shards(NamedTuple):
    root: str                 # a local dataset root
    classes: tuple[str, ...]  # the classes it holds partitions of, in manifest order


@pytest.fixture(scope="session")
def shards(spark, tmp_path_factory) -> Shards:
    """The trainer tests' shard dataset."""
    base = tmp_path_factory.mktemp("trainer-data")
    raw, root = base / "raw", base / "shards"
    assert main(["synth", "--layout", "nih", "--out", str(raw), "--n", "1000",
                 "--image-size", "192"]) == 0
    assert main(["run", "--dataset", "nih", "--index", str(raw / "Data_Entry_2017.csv"),
                 "--images", str(raw / "images"), "--output", str(root), "--num-shards", "2",
                 "--classes", ",".join(CLASSES), "--size", str(STORED_SIZE), "--flips", "h"]) == 0
    return Shards(str(root), CLASSES)


class Trained(NamedTuple):
    out: str         # a model directory: classifier, card, metrics
    image_size: int  # the model's input side


@pytest.fixture(scope="session")
def trained(shards, tmp_path_factory) -> Trained:
    """A tiny classifier on the shards (small backbone, no autoencoders), evaluated so that
    its card holds tuned thresholds: the model `predict` and `export` tests use."""
    out = str(tmp_path_factory.mktemp("model"))
    quiet = ["--progress", "none"]
    assert main(["train", "classifier", "--dataset", shards.root, "--out", out, "--backbone", "small",
                 "--no-autoencoders", "--image-size", str(MODEL_SIZE), "--epochs", "2",
                 "--steps-per-epoch", "4", "--batch-size", "16", *quiet]) == 0
    assert main(["evaluate", "--out", out, *quiet]) == 0
    return Trained(out, MODEL_SIZE)


@pytest.fixture(scope="session")
def members(trained, shards, tmp_path_factory) -> list[str]:
    """Three small classifiers for the ensemble tests: ``trained`` and two more with seeds 1 and 2,
    each evaluated (so each card holds tuned thresholds)."""
    dirs = [trained.out]
    for seed in (1, 2):
        out = str(tmp_path_factory.mktemp(f"member-{seed}"))
        assert main(["train", "classifier", "--dataset", shards.root, "--out", out, "--backbone", "small",
                     "--no-autoencoders", "--image-size", str(MODEL_SIZE), "--epochs", "2", "--seed", str(seed),
                     "--steps-per-epoch", "4", "--batch-size", "16", "--progress", "none"]) == 0
        assert main(["evaluate", "--out", out, "--bootstrap", "50", "--progress", "none"]) == 0
        dirs.append(out)
    return dirs


@pytest.fixture(autouse=True)
def _float32_policy():
    """Each test starts and ends with Keras' float32 policy (mixed precision is global)."""
    import keras

    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")
