"""Small building blocks shared by every architecture (stock Keras layers only)."""

from __future__ import annotations

import keras
from keras import layers

from segcoder.models.batchnorm import FusedBatchNormalization
from segcoder.models.conv import FusedConv2D, FusedConv2DTranspose
from segcoder.models.relu import InplaceReLU


def preferred_data_format() -> str:
    """The tensor layout the current backend runs convolutions fastest in on this machine.

    PyTorch's convolutions are NCHW-native, so channels_first avoids a transpose
    around every layer; TensorFlow on CPU only supports channels_last convolutions.
    """
    return "channels_first" if keras.backend.backend() == "torch" else "channels_last"


def channel_axis(data_format: str) -> int:
    return 1 if data_format == "channels_first" else -1


def normalization(norm: str, filters: int, data_format: str, name: str, fused: bool = False):
    """The normalisation layer after a convolution, or None; ``fused`` picks the fused batch norm kernel."""
    axis = channel_axis(data_format)
    if norm == "batch":
        # PyTorch's default momentum: Keras' 0.99 leaves the moving statistics far behind
        # the weights on the short runs typical of small datasets, and validation suffers.
        kind = FusedBatchNormalization if fused else layers.BatchNormalization
        return kind(axis=axis, momentum=0.9, name=f"{name}_bn")
    if norm == "group":
        groups = max(g for g in (32, 16, 8, 4, 2, 1) if filters % g == 0 and g <= max(1, filters // 4))
        return layers.GroupNormalization(groups=groups, axis=axis, name=f"{name}_gn")
    return None


def conv2d(fused: bool, *args, **kwargs):
    """A ``Conv2D``; with ``fused`` the :class:`FusedConv2D` (same weights, faster on PyTorch)."""
    return (FusedConv2D if fused else layers.Conv2D)(*args, **kwargs)


def conv_block(x, filters: int, norm: str, data_format: str, name: str, fused: bool = False):
    """Two 3x3 convolutions, each followed by normalisation and ReLU."""
    for i in (1, 2):
        x = conv2d(
            fused, filters, 3, padding="same", use_bias=norm == "none", data_format=data_format,
            kernel_initializer="he_normal", name=f"{name}_conv{i}",
        )(x)
        norm_layer = normalization(norm, filters, data_format, f"{name}_{i}", fused)
        if norm_layer is not None:
            x = norm_layer(x)
        x = (InplaceReLU if fused else layers.ReLU)(name=f"{name}_relu{i}")(x)
    return x


def up_block(x, filters: int, data_format: str, name: str, fused: bool = False):
    """A learned 2x upsampling (transposed convolution)."""
    kind = FusedConv2DTranspose if fused else layers.Conv2DTranspose
    return kind(filters, 2, strides=2, data_format=data_format, name=f"{name}_up")(x)


def to_internal(image, data_format: str):
    """Images enter as (H, W, C); move channels first when the network runs that way."""
    if data_format == "channels_first":
        return layers.Permute((3, 1, 2), name="to_channels_first")(image)
    return image


def to_external(x, data_format: str):
    """Outputs leave as (H, W, K) whatever the internal layout."""
    if data_format == "channels_first":
        return layers.Permute((2, 3, 1), name="to_channels_last")(x)
    return x
