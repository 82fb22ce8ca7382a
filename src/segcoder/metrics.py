"""Training metrics from a running confusion matrix (keras.ops only).

Keras' MeanIoU needs one channel per class and an argmax; segmenters here emit a
single sigmoid channel for two classes, and skip ``ignore_label`` pixels, so the
counting is done once in :class:`ConfusionMatrixMetric` and each score derives from it.
"""

from __future__ import annotations

import keras
from keras import ops

from segcoder.data.classes import IGNORE_LABEL


def predicted_labels(logits):
    """Class index per pixel from logits (B, H, W, K); one channel means sigmoid > 0.5."""
    if logits.shape[-1] == 1:
        return ops.cast(logits[..., 0] > 0, "int32")
    return ops.cast(ops.argmax(logits, axis=-1), "int32")


class ConfusionMatrixMetric(keras.metrics.Metric):
    """Accumulates a (K, K) confusion matrix, rows = truth, columns = prediction."""

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.ignore_label = int(num_classes), ignore_label
        self.matrix = self.add_variable((self.num_classes, self.num_classes), "zeros", name="matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        k = self.num_classes
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        y_pred = ops.reshape(predicted_labels(y_pred), (-1,))
        valid = ops.cast(ops.logical_and(ops.not_equal(y_true, self.ignore_label), y_true < k), "float32")
        # truth one-hot^T @ prediction one-hot counts every (truth, prediction) pair at once; unlike
        # bincount it has a static output shape, which JAX's jit needs.
        truth = ops.one_hot(ops.where(valid > 0, y_true, ops.zeros_like(y_true)), k) * valid[:, None]
        counts = ops.matmul(ops.transpose(truth), ops.one_hot(y_pred, k))
        self.matrix.assign_add(ops.cast(counts, "float32"))

    def reset_state(self):
        self.matrix.assign(ops.zeros((self.num_classes, self.num_classes)))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_label": self.ignore_label}


@keras.saving.register_keras_serializable(package="segcoder")
class MeanIoU(ConfusionMatrixMetric):
    """Mean intersection-over-union over the classes seen in truth or prediction."""

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL, name="mean_iou", **kwargs):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)

    def result(self):
        tp = ops.diagonal(self.matrix)
        union = ops.sum(self.matrix, axis=0) + ops.sum(self.matrix, axis=1) - tp
        present = ops.cast(union > 0, "float32")
        iou = tp / ops.maximum(union, 1.0)
        return ops.sum(iou * present) / ops.maximum(ops.sum(present), 1.0)


@keras.saving.register_keras_serializable(package="segcoder")
class PixelAccuracy(ConfusionMatrixMetric):
    """Share of non-ignored pixels whose class is right."""

    def __init__(self, num_classes, ignore_label=IGNORE_LABEL, name="pixel_accuracy", **kwargs):
        super().__init__(num_classes, ignore_label, name=name, **kwargs)

    def result(self):
        return ops.sum(ops.diagonal(self.matrix)) / ops.maximum(ops.sum(self.matrix), 1.0)
