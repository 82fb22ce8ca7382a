"""Segmentation losses on logits that skip ignored pixels (keras.ops only, so every backend works).

Keras' stock cross-entropy and Dice losses have no notion of an ignored
label for dense masks, and need one-hot targets; these take the (B, H, W)
integer label map directly and leave ``ignore_label`` pixels out of both.
"""

from __future__ import annotations

import keras
from keras import ops

from segcoder.data.classes import IGNORE_LABEL


def _valid_and_labels(y_true, ignore_label):
    y_true = ops.cast(y_true, "int32")
    valid = ops.not_equal(y_true, ignore_label)
    labels = ops.where(valid, y_true, ops.zeros_like(y_true))
    return ops.cast(valid, "float32"), labels


def class_probabilities(logits):
    """Per-class probabilities (B, H, W, K) from logits; one sigmoid channel means two classes."""
    logits = ops.cast(logits, "float32")
    if logits.shape[-1] == 1:
        p = ops.sigmoid(logits)
        return ops.concatenate([1.0 - p, p], axis=-1)
    return ops.softmax(logits, axis=-1)


def masked_cross_entropy(y_true, logits, ignore_label=IGNORE_LABEL, class_weights=None):
    """Mean cross-entropy over the pixels that are not ignored."""
    valid, labels = _valid_and_labels(y_true, ignore_label)
    logits = ops.cast(logits, "float32")
    if logits.shape[-1] == 1:
        x = logits[..., 0]
        y = ops.cast(labels, "float32")
        # Numerically stable binary cross-entropy with logits.
        per_pixel = ops.relu(x) - x * y + ops.log1p(ops.exp(-ops.abs(x)))
        num_classes = 2
    else:
        num_classes = logits.shape[-1]
        log_probs = ops.log_softmax(logits, axis=-1)
        per_pixel = -ops.sum(ops.one_hot(labels, num_classes) * log_probs, axis=-1)
    weights = valid
    if class_weights is not None:
        weights = weights * ops.take(ops.convert_to_tensor(class_weights, "float32"), labels)
    return ops.sum(per_pixel * weights) / ops.maximum(ops.sum(weights), 1.0)


def soft_dice_loss(y_true, logits, ignore_label=IGNORE_LABEL, smooth=1.0):
    """1 - mean soft Dice over classes, counted over the batch's non-ignored pixels."""
    valid, labels = _valid_and_labels(y_true, ignore_label)
    probs = class_probabilities(logits)
    num_classes = probs.shape[-1]
    onehot = ops.one_hot(labels, num_classes) * valid[..., None]
    probs = probs * valid[..., None]
    axes = tuple(range(len(probs.shape) - 1))
    intersection = ops.sum(probs * onehot, axis=axes)
    total = ops.sum(probs, axis=axes) + ops.sum(onehot, axis=axes)
    dice = (2.0 * intersection + smooth) / (total + smooth)
    return 1.0 - ops.mean(dice)


def masked_focal_loss(y_true, logits, ignore_label=IGNORE_LABEL, gamma=2.0, class_weights=None):
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true)**gamma, over non-ignored pixels."""
    valid, labels = _valid_and_labels(y_true, ignore_label)
    probs = class_probabilities(logits)
    onehot = ops.one_hot(labels, probs.shape[-1])
    p_true = ops.clip(ops.sum(probs * onehot, axis=-1), 1e-7, 1.0)
    per_pixel = -ops.power(1.0 - p_true, gamma) * ops.log(p_true)
    weights = valid
    if class_weights is not None:
        weights = weights * ops.take(ops.convert_to_tensor(class_weights, "float32"), labels)
    return ops.sum(per_pixel * weights) / ops.maximum(ops.sum(weights), 1.0)


def tversky_loss(y_true, logits, ignore_label=IGNORE_LABEL, alpha=0.3, beta=0.7, smooth=1.0):
    """1 - mean Tversky index (Salehi et al. 2017); beta > alpha weighs misses above false alarms."""
    valid, labels = _valid_and_labels(y_true, ignore_label)
    probs = class_probabilities(logits) * valid[..., None]
    onehot = ops.one_hot(labels, probs.shape[-1]) * valid[..., None]
    axes = tuple(range(len(probs.shape) - 1))
    tp = ops.sum(probs * onehot, axis=axes)
    fp = ops.sum(probs * (1.0 - onehot), axis=axes)
    fn = ops.sum((1.0 - probs) * onehot, axis=axes)
    return 1.0 - ops.mean((tp + smooth) / (tp + alpha * fp + beta * fn + smooth))


# Loss terms by name; a loss spec sums terms joined by "+", e.g. "ce+dice" or "focal+tversky".
LOSS_TERMS = ("ce", "dice", "focal", "tversky")


def parse_loss(spec: str) -> list[str]:
    """Split a loss spec into its terms, or raise ValueError naming the valid ones."""
    terms = [t.strip() for t in str(spec).split("+")]
    if not terms or any(t not in LOSS_TERMS for t in terms) or len(set(terms)) != len(terms):
        raise ValueError(f"loss must be one or more of {', '.join(LOSS_TERMS)} joined by '+', not {spec!r}")
    return terms


@keras.saving.register_keras_serializable(package="segcoder")
class SegmentationLoss(keras.losses.Loss):
    """A sum of cross-entropy, Dice, focal and Tversky terms (default ``ce+dice``), ignoring ``ignore_label`` pixels.

    Args:
        kind: terms joined by "+", from ce, dice, focal, tversky.
        ignore_label: training label that counts for nothing.
        class_weights: optional per-class weights for the ce and focal terms.

    Example:
        >>> model.compile(optimizer="adam", loss=SegmentationLoss("focal+dice"))
    """

    def __init__(self, kind="ce+dice", ignore_label=IGNORE_LABEL, class_weights=None, name=None, **kwargs):
        super().__init__(name=name or kind.replace("+", "_"), **kwargs)
        self.terms = parse_loss(kind)
        self.kind, self.ignore_label = kind, ignore_label
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        terms = {
            "ce": lambda: masked_cross_entropy(y_true, y_pred, self.ignore_label, self.class_weights),
            "dice": lambda: soft_dice_loss(y_true, y_pred, self.ignore_label),
            "focal": lambda: masked_focal_loss(y_true, y_pred, self.ignore_label, class_weights=self.class_weights),
            "tversky": lambda: tversky_loss(y_true, y_pred, self.ignore_label),
        }
        loss = 0.0
        for term in self.terms:
            loss = loss + terms[term]()
        return loss

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "ignore_label": self.ignore_label,
                "class_weights": self.class_weights}
