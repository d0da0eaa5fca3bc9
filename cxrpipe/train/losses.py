"""The classifier's loss and training metric, both aware of unknown (-1) labels."""

from __future__ import annotations

import keras
from keras import ops

EPSILON = 1e-7


@keras.saving.register_keras_serializable(package="cxrpipe")
class WeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy per class with the positive term weighted by N/N_l.

    For one case, with w_l = N/N_l (N images, N_l of them positive for class l; from the
    manifest), y_l its label and p_l the sigmoid output:

        loss = mean over known l of  -(w_l y_l log p_l + (1 - y_l) log(1 - p_l))

    so each class's rare positives weigh as much as its negatives. Labels of -1 (uncertain,
    under the ``ignore`` policy) are left out of the mean.

    Args:
        positive_weights: w_l, one per class, in the model's output order.
    """

    def __init__(self, positive_weights, name: str = "weighted_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.positive_weights = [float(w) for w in positive_weights]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        p = ops.clip(ops.cast(y_pred, "float32"), EPSILON, 1.0 - EPSILON)
        known = ops.cast(y_true >= 0, "float32")
        y = y_true * known
        weights = ops.convert_to_tensor(self.positive_weights, dtype="float32")
        per_class = -(weights * y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p)) * known
        return ops.sum(per_class, axis=-1) / ops.maximum(ops.sum(known, axis=-1), 1.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "positive_weights": self.positive_weights}


@keras.saving.register_keras_serializable(package="cxrpipe")
class MaskedAUC(keras.metrics.AUC):
    """Keras' ROC AUC averaged over the classes, skipping unknown (-1) labels."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        known = ops.cast(y_true >= 0, "float32")
        if sample_weight is not None:
            known = known * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
        return super().update_state(ops.maximum(y_true, 0.0), y_pred, sample_weight=known)
