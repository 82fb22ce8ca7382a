"""Reconstruction losses and image-quality scores for autoencoders (keras.ops only, so every backend works).

The network emits logits; the reconstruction is ``sigmoid(logits)``, so it
always lies in [0, 1] like the images read by :func:`segcoder.data.io.read_image`.
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


def reconstruction_loss(kind: str, target, logits):
    """The loss ``kind`` between the target images and ``sigmoid(logits)``, both (B, H, W, C)."""
    target = ops.cast(target, "float32")
    recon = ops.sigmoid(ops.cast(logits, "float32"))
    if kind == "mse":
        return ops.mean(ops.square(recon - target))
    l1 = ops.mean(ops.abs(recon - target))
    if kind == "mae":
        return l1
    ssim = ops.mean(ssim_map(recon, target))
    return SSIM_WEIGHT * (1.0 - ssim) / 2.0 + (1.0 - SSIM_WEIGHT) * l1


@keras.saving.register_keras_serializable(package="segcoder")
class ReconstructionLoss(keras.losses.Loss):
    """MSE, MAE or SSIM+L1 between the input image and the sigmoid of the network's logits.

    Example:
        >>> model.compile(optimizer="adam", loss=ReconstructionLoss("ssim+l1"))
        >>> model.fit(noisy_images, clean_images)
    """

    def __init__(self, kind="mse", name=None, **kwargs):
        if kind not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, not {kind!r}")
        super().__init__(name=name or kind.replace("+", "_"), **kwargs)
        self.kind = kind

    def call(self, y_true, y_pred):
        return reconstruction_loss(self.kind, y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@keras.saving.register_keras_serializable(package="segcoder")
class PSNR(keras.metrics.Mean):
    """Mean peak signal-to-noise ratio (dB, peak 1) of ``sigmoid(logits)`` against the target, per batch."""

    def __init__(self, name="psnr", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        mse = ops.mean(ops.square(ops.sigmoid(ops.cast(y_pred, "float32")) - ops.cast(y_true, "float32")))
        psnr = -10.0 * ops.log(ops.maximum(mse, 1e-10)) / ops.log(10.0)
        return super().update_state(psnr, sample_weight=sample_weight)
