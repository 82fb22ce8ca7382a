"""The convolutional autoencoder turned segmenter: the shared encoder and a decoder without skips."""

from __future__ import annotations

import keras
from keras import layers

from segcoder.models.blocks import conv2d, conv_block, to_external, up_block
from segcoder.models.encoder import build_encoder


def build_autoencoder(channels, out_channels, depth=4, filters=32, norm="batch", data_format="channels_last",
                      fused=False):
    """An encoder-decoder with no skip connections; everything passes the bottleneck.

    With ``out_channels == channels`` and a reconstruction loss it is a plain
    autoencoder; with class logits it is a segmenter.
    """
    encoder = build_encoder(channels, depth, filters, norm, data_format, fused)
    image = keras.Input((None, None, channels), name="image")
    x = encoder(image)[-1]
    for stage in reversed(range(depth)):
        x = up_block(x, filters * 2**stage, data_format, f"dec{stage}", fused)
        x = conv_block(x, filters * 2**stage, norm, data_format, f"dec{stage}", fused)
    x = conv2d(fused, out_channels, 1, data_format=data_format, name="head")(x)
    logits = to_external(x, data_format)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(image, logits, name="autoencoder")
