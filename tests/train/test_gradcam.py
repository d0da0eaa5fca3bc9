"""Grad-CAM of the classifier: the explainer is the classifier (same scores), its feature map
is the one every backbone pools, and its maps equal the closed form a GAP + dense head has."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cxrpipe.train import backbones, gradcam, models

SIZE = 32
# Inception-ResNet-v2 refuses inputs under 75 px and leaves a 1 x 1 map at 75; at 139 its map is 3 x 3.
SIDES = {"inception_resnet_v2": 139}
# The other Keras backbones stride 32: 64 px leaves them a 2 x 2 map.
SIDES.update(densenet121=64, resnet50=64, mobilenet_v2=64)


def images(n: int, side: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, side, side, 3)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_the_feature_map_is_what_each_backbone_pools(name):
    """Found by shape for every registered backbone: its global average is the backbone's output."""
    side = SIDES.get(name, SIZE)
    backbone = backbones.build_backbone(name, side)
    layer = gradcam.feature_layer(backbone)
    both = keras.Model(backbone.inputs[0], [layer.output, backbone.outputs[0]])
    feature_map, pooled = (t.numpy() for t in both(images(2, side), training=False))
    assert feature_map.ndim == 4 and feature_map.shape[1] > 1
    np.testing.assert_allclose(feature_map.mean(axis=(1, 2)), pooled, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("autoencoders", [0, 2])
def test_the_explainer_scores_equal_the_classifiers(autoencoders):
    """Tolerance 1e-6: the same layers (same weights) run in the same order."""
    aes = [models.build_autoencoder(16, name=f"ae_{i}") for i in range(autoencoders)]
    classifier = models.build_classifier(backbones.build_backbone("small", SIZE), aes, 3, SIZE)
    explainer = gradcam.explainer(classifier)
    assert len(explainer.weights) == len(classifier.weights)
    x = images(4)
    feature_map, scores = explainer(x, training=False)
    np.testing.assert_allclose(scores.numpy(), classifier(x, training=False).numpy(), atol=1e-6)
    assert feature_map.shape == (4, SIZE // 16, SIZE // 16, backbones.SMALL_WIDTHS[-1])


def test_grad_cam_equals_the_closed_form_of_a_pooled_dense_head():
    """With GAP then a sigmoid dense head (no autoencoders), d p_c / d A_k(i,j) is
    p_c (1 - p_c) W[k, c] / (h w) everywhere, so the map is ReLU(A . W[:, c]) p_c (1 - p_c) / (h w)."""
    classifier = models.build_classifier(backbones.build_backbone("small", 64), [], 3, 64)
    kernel = classifier.get_layer("findings").kernel.numpy()
    kernel += np.random.default_rng(1).normal(0, 0.5, kernel.shape)  # nonzero, mixed-sign weights
    classifier.get_layer("findings").kernel.assign(kernel)
    cam = gradcam.GradCam(gradcam.explainer(classifier))
    x = images(3, 64, seed=2)
    maps, scores = cam(x, [0, 2])
    feature_map, _ = cam.model(x, training=False)
    a = feature_map.numpy()
    h, w = a.shape[1:3]
    for slot, c in enumerate([0, 2]):
        p = scores[:, c][:, None, None]
        expected = np.maximum(a @ kernel[:, c], 0) * p * (1 - p) / (h * w)
        np.testing.assert_allclose(maps[:, slot], expected, rtol=1e-4, atol=1e-9)
    assert maps.shape == (3, 2, h, w) and maps.max() > 0


def test_the_explainer_runs_the_imagenet_scaling_before_the_backbone():
    """ResNet-50's classifier scales its input ('caffe') before the backbone: the explainer
    does too, so its scores are the classifier's and its map is ResNet-50's last one."""
    backbone = backbones.build_backbone("resnet50", 64)
    classifier = models.build_classifier(backbone, [], 3, 64, scaling="caffe")
    explainer = gradcam.explainer(classifier)
    x = images(2, 64)
    feature_map, scores = explainer(x, training=False)
    np.testing.assert_allclose(scores.numpy(), classifier(x, training=False).numpy(), atol=1e-6)
    assert feature_map.shape == (2, 2, 2, 2048)
