"""Reconstruction losses and image-quality scores for autoencoders (keras.ops only, so every backend works).

The network emits logits; the reconstruction is ``sigmoid(logits)``, so it
always lies in [0, 1] like the images read by :func:`segcoder.data.io.read_image`.

A *weighted* loss or score takes targets with one extra, last channel: a per-pixel
weight (1 on the blanked patches and 0 elsewhere, for a loss on the hidden pixels
only). Keras' ``sample_weight`` cannot carry it: the SSIM term has no per-pixel
value to weigh, and the weights would reach the PSNR metric too.
"""

from __future__ import annotations

import keras
from keras import ops

RECONSTRUCTION_LOSSES = ("mse", "mae", "ssim+l1")

# Weight of (1 - SSIM) / 2 in "ssim+l1"; the rest goes to L1 (Zhao et al. 2017, "Loss Functions for
# Image Restoration with Neural Networks", found 0.84 best for their MS-SSIM + L1 mix).
SSIM_WEIGHT = 0.84
SSIM_WINDOW = 7  # side of the square window over which local statistics are taken
_C1, _C2 = 0.01**2, 0.03**2  # SSIM stabilisers for a data range of 1


def ssim_map(x, y, window: int = SSIM_WINDOW):
    """Per-window SSIM of two (B, H, W, C) images in [0, 1] (uniform window, 'valid' positions only)."""
    # A depthwise convolution with a uniform kernel: several times faster than average_pool on PyTorch's CPU.
    channels = x.shape[-1]
    kernel = ops.full((window, window, channels, 1), 1.0 / window**2, dtype="float32")

    def mean(t):
        return ops.depthwise_conv(t, kernel, strides=1, padding="valid", data_format="channels_last")

    mx, my = mean(x), mean(y)
    vx = mean(x * x) - mx * mx
    vy = mean(y * y) - my * my
    cxy = mean(x * y) - mx * my
    num = (2.0 * mx * my + _C1) * (2.0 * cxy + _C2)
    den = (mx * mx + my * my + _C1) * (vx + vy + _C2)
    return num / den


def split_weights(target):
    """(images, weights) of a weighted target: all channels but the last, and the last (B, H, W, 1)."""
    target = ops.cast(target, "float32")
    return target[..., :-1], target[..., -1:]


def _weighted_mean(values, weights):
    """Mean of ``values`` (B, H, W, C) with per-pixel ``weights`` (B, H, W, 1); 0 where no weight."""
    channels = values.shape[-1]
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights) * channels, 1e-6)


def reconstruction_loss(kind: str, target, logits, weighted: bool = False):
    """The loss ``kind`` between the target images and ``sigmoid(logits)``, both (B, H, W, C).

    With ``weighted``, ``target`` carries a last weight channel (see the module docstring),
    and each term is averaged with those weights.
    """
    if weighted:
        target, weights = split_weights(target)
    else:
        target, weights = ops.cast(target, "float32"), None
    recon = ops.sigmoid(ops.cast(logits, "float32"))

    def mean(values, w=weights):
        return ops.mean(values) if w is None else _weighted_mean(values, w)

    if kind == "mse":
        return mean(ops.square(recon - target))
    l1 = mean(ops.abs(recon - target))
    if kind == "mae":
        return l1
    # SSIM windows are weighted by the mean weight of the pixels they cover.
    window_weights = None if weights is None else ops.average_pool(
        weights, SSIM_WINDOW, strides=1, padding="valid", data_format="channels_last")
    ssim = mean(ssim_map(recon, target), window_weights)
    return SSIM_WEIGHT * (1.0 - ssim) / 2.0 + (1.0 - SSIM_WEIGHT) * l1


@keras.saving.register_keras_serializable(package="segcoder")
class ReconstructionLoss(keras.losses.Loss):
    """MSE, MAE or SSIM+L1 between the input image and the sigmoid of the network's logits.

    Example:
        >>> model.compile(optimizer="adam", loss=ReconstructionLoss("ssim+l1"))
        >>> model.fit(noisy_images, clean_images)
    """

    def __init__(self, kind="mse", weighted=False, name=None, **kwargs):
        if kind not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, not {kind!r}")
        super().__init__(name=name or kind.replace("+", "_"), **kwargs)
        self.kind, self.weighted = kind, weighted

    def call(self, y_true, y_pred):
        return reconstruction_loss(self.kind, y_true, y_pred, self.weighted)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "weighted": self.weighted}


@keras.saving.register_keras_serializable(package="segcoder")
class PSNR(keras.metrics.Mean):
    """Mean peak signal-to-noise ratio (dB, peak 1) of ``sigmoid(logits)`` against the target, per batch.

    Over every pixel; ``weighted`` only drops the target's weight channel.
    """

    def __init__(self, weighted=False, name="psnr", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weighted = weighted

    def update_state(self, y_true, y_pred, sample_weight=None):
        target = split_weights(y_true)[0] if self.weighted else ops.cast(y_true, "float32")
        mse = ops.mean(ops.square(ops.sigmoid(ops.cast(y_pred, "float32")) - target))
        psnr = -10.0 * ops.log(ops.maximum(mse, 1e-10)) / ops.log(10.0)
        return super().update_state(psnr, sample_weight=sample_weight)

    def get_config(self):
        return {**super().get_config(), "weighted": self.weighted}
