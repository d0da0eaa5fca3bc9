"""The backbones of the literature: each builds at its smallest side, scales the pipeline's
[-1, 1] input as its ImageNet weights expect, and `--weights imagenet` loads Keras' cached
file without fetching anything, or says in one line that the download failed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras.applications import densenet, inception_resnet_v2, mobilenet_v2, resnet

from cxrpipe.errors import UserError
from cxrpipe.train import backbones, models

POOLED = {"inception_resnet_v2": 1536, "densenet121": 1024, "resnet50": 2048, "mobilenet_v2": 1280,
          "small": 128}
PREPROCESS = {"inception_resnet_v2": inception_resnet_v2.preprocess_input,
              "densenet121": densenet.preprocess_input, "resnet50": resnet.preprocess_input,
              "mobilenet_v2": mobilenet_v2.preprocess_input}


def sublayers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from sublayers(layer)


@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_each_backbone_builds_pooled_at_its_smallest_side(name):
    spec = backbones.BACKBONES[name]
    model = backbones.build_backbone(name, spec.min_size)
    assert model.output.shape == (None, POOLED[name])   # pooled, never flattened
    norms = [layer for layer in sublayers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and {layer.momentum for layer in norms} == {backbones.BN_MOMENTUM}
    with pytest.raises(UserError, match=f"at least {spec.min_size}"):
        backbones.build_backbone(name, spec.min_size - 1)


@pytest.mark.parametrize("name", sorted(PREPROCESS))
def test_the_model_sees_what_kerass_preprocess_input_makes_of_the_image(name):
    """The pipeline feeds [-1, 1]; inside the classifier, each family's backbone gets Keras'
    preprocess_input of the same image in [0, 255]. Tolerance 1e-5 (float32 rounding)."""
    size = backbones.BACKBONES[name].min_size
    backbone = backbones.build_backbone(name, size)
    classifier = models.build_classifier(backbone, [], 2, size, scaling=backbones.BACKBONES[name].scaling)
    pixels = np.random.default_rng(1).integers(0, 256, (2, size, size, 3)).astype("float32")
    fed = pixels / 127.5 - 1.0
    want = PREPROCESS[name](pixels.copy())
    names = [layer.name for layer in classifier.layers]
    if backbones.BACKBONES[name].scaling == "tf":      # the pipeline's input is already that
        assert "imagenet_scaling" not in names and np.allclose(fed, want, atol=1e-5)
        return
    scaling = classifier.get_layer("imagenet_scaling")
    assert names.index("imagenet_scaling") < names.index(backbone.name)
    seen = keras.Model(classifier.inputs[0], scaling.output)(fed).numpy()
    assert np.allclose(seen, want, atol=1e-4)   # values up to 255: float32 rounding


def test_the_scaling_layer_survives_save_and_load(tmp_path):
    backbone = backbones.build_backbone("resnet50", 32)
    model = models.build_classifier(backbone, [], 2, 32, scaling="caffe")
    assert model.get_layer("imagenet_scaling").mode == "caffe"
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    assert np.array_equal(model(x).numpy(), loaded(x).numpy())


class Fetched(Exception):
    """Raised by the recording get_file: what Keras would have downloaded, and nothing more."""


@pytest.mark.parametrize("name, size", [("inception_resnet_v2", 75), ("densenet121", 32), ("resnet50", 32),
                                        ("mobilenet_v2", 40), ("mobilenet_v2", 128)])
def test_the_imagenet_files_are_the_ones_keras_fetches(name, size, monkeypatch):
    """keras.applications' own call, recorded instead of run: same name, origin and hash."""
    from keras.src.utils import file_utils

    def recording(fname=None, origin=None, cache_subdir="datasets", file_hash=None, **kwargs):
        raise Fetched(fname, origin, cache_subdir, file_hash)

    monkeypatch.setattr(file_utils, "get_file", recording)
    constructor = {"inception_resnet_v2": keras.applications.InceptionResNetV2,
                   "densenet121": keras.applications.DenseNet121, "resnet50": keras.applications.ResNet50,
                   "mobilenet_v2": keras.applications.MobileNetV2}[name]
    with pytest.raises(Fetched) as fetched:
        constructor(include_top=False, weights="imagenet", input_shape=(size, size, 3), pooling="avg")
    ours = backbones.BACKBONES[name].imagenet(size)
    assert fetched.value.args == (ours.file, ours.origin, "models", ours.file_hash)


def test_imagenet_is_refused_for_the_small_backbone():
    with pytest.raises(UserError, match="not small"):
        backbones.resolve_weights("imagenet", "small", 32)


def test_local_weights_files(tmp_path):
    source = backbones.build_backbone("small", 32)
    path = tmp_path / "small.weights.h5"
    source.save_weights(path)
    loaded = backbones.build_backbone("small", 32, str(path))
    assert all(np.array_equal(a, b) for a, b in zip(source.get_weights(), loaded.get_weights()))
    with pytest.raises(UserError, match="no such file"):
        backbones.build_backbone("small", 32, str(tmp_path / "missing.h5"))
    assert backbones.resolve_weights("none", "small", 32) is None


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline(home: Path) -> dict:
    """An environment whose HTTP(S) goes to a closed local port: any fetch fails at once."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "https_proxy")}
    return {**env, "KERAS_HOME": str(home), "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy,
            "https_proxy": proxy, "http_proxy": proxy, "TF_CPP_MIN_LOG_LEVEL": "2"}


_LOAD = """
import json, sys
import numpy as np
from cxrpipe.train import backbones
name, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = backbones.build_backbone(name, size, "imagenet")
np.savez(out, *model.get_weights())
"""


@pytest.mark.parametrize("name, size", [("densenet121", 32), ("mobilenet_v2", 40)])
def test_a_cached_imagenet_file_is_loaded_and_nothing_is_fetched(name, size, tmp_path):
    """Keras' file name in KERAS_HOME/models holding weights of our own (so Keras' hash
    would not match and get_file would fetch): with the network unusable, they load."""
    keras.utils.set_random_seed(7)
    placed = backbones.BACKBONES[name].build(size)
    cached = tmp_path / "keras" / "models" / backbones.BACKBONES[name].imagenet(size).file
    cached.parent.mkdir(parents=True)
    placed.save(cached)     # Keras' legacy .h5 layout, as its ImageNet files are
    out = tmp_path / "weights.npz"
    done = subprocess.run([sys.executable, "-c", _LOAD, name, str(size), str(out)], capture_output=True,
                          text=True, env=offline(tmp_path / "keras"), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = np.load(out)
    want = placed.get_weights()
    assert len(got.files) == len(want)
    assert all(np.array_equal(got[f"arr_{i}"], w) for i, w in enumerate(want))
    assert sorted(p.name for p in cached.parent.iterdir()) == [cached.name]   # nothing else came


def test_an_absent_file_whose_download_fails_is_one_line_exit_2(shards, tmp_path):
    argv = ["train", "classifier", "--dataset", shards.root, "--out", str(tmp_path / "out"),
            "--backbone", "resnet50", "--weights", "imagenet", "--no-autoencoders",
            "--image-size", "32", "--epochs", "1", "--steps-per-epoch", "1", "--progress", "none"]
    done = subprocess.run([sys.executable, "-m", "cxrpipe.cli", *argv], capture_output=True, text=True,
                          env=offline(tmp_path / "keras"), timeout=300)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = err[-1]
    assert "cannot download" in last and "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in last
    assert str(tmp_path / "keras" / "models") in last
    assert not list((tmp_path / "keras").rglob("*.h5"))
