"""The encoder every architecture shares, as a sub-model named ``encoder``."""

from __future__ import annotations

import keras
from keras import layers

from segcoder.models.blocks import conv_block, to_internal

ENCODER_NAME = "encoder"


def build_encoder(channels: int, depth: int, filters: int, norm: str, data_format: str,
                  fused: bool = False) -> keras.Model:
    """A convolutional encoder: ``depth`` stages of conv block + 2x2 max-pool, then a bottleneck block.

    Args:
        channels: input image channels (1 gray, 3 RGB).
        depth: number of 2x downsamplings; the output stride is ``2**depth``.
        filters: filters of the first stage, doubled at each stage.
        norm: "batch", "group" or "none".
        data_format: layout inside the network ("channels_first" or "channels_last").
        fused: use :class:`FusedBatchNormalization` (same weights, faster on PyTorch) for ``norm="batch"``.

    Returns:
        A model mapping (H, W, C) images to ``depth`` skip features (full resolution first)
        followed by the bottleneck feature, all in ``data_format``.
    """
    image = keras.Input((None, None, channels), name="image")
    x = to_internal(image, data_format)
    skips = []
    for stage in range(depth):
        x = conv_block(x, filters * 2**stage, norm, data_format, f"enc{stage}", fused)
        skips.append(x)
        x = layers.MaxPooling2D(2, data_format=data_format, name=f"enc{stage}_pool")(x)
    bottleneck = conv_block(x, filters * 2**depth, norm, data_format, "bottleneck", fused)
    return keras.Model(image, [*skips, bottleneck], name=ENCODER_NAME)
