"""U-Net: the shared encoder plus a decoder with skip connections."""

from __future__ import annotations

import keras
from keras import layers

from segcoder.models.blocks import channel_axis, conv2d, conv_block, to_external, up_block
from segcoder.models.encoder import build_encoder


def build_unet(channels, out_channels, depth=4, filters=32, norm="batch", data_format="channels_last",
               fused=False):
    """A U-Net returning per-pixel logits of shape (H, W, out_channels)."""
    encoder = build_encoder(channels, depth, filters, norm, data_format, fused)
    image = keras.Input((None, None, channels), name="image")
    *skips, x = encoder(image)
    for stage in reversed(range(depth)):
        x = up_block(x, filters * 2**stage, data_format, f"dec{stage}", fused)
        x = layers.Concatenate(axis=channel_axis(data_format), name=f"dec{stage}_skip")([x, skips[stage]])
        x = conv_block(x, filters * 2**stage, norm, data_format, f"dec{stage}", fused)
    x = conv2d(fused, out_channels, 1, data_format=data_format, name="head")(x)
    logits = to_external(x, data_format)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(image, logits, name="unet")
