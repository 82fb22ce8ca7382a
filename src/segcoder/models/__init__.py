"""Model registry: ``create_model(name, ...)`` is the one way to build an architecture."""

from __future__ import annotations

from segcoder.models.autoencoder import build_autoencoder
from segcoder.models.batchnorm import FusedBatchNormalization
from segcoder.models.blocks import preferred_data_format
from segcoder.models.conv import FusedConv2D, FusedConv2DTranspose
from segcoder.models.relu import InplaceReLU
from segcoder.models.encoder import ENCODER_NAME, build_encoder
from segcoder.models.unet import build_unet

MODEL_BUILDERS = {"unet": build_unet, "autoencoder": build_autoencoder}


def output_channels(num_classes: int) -> int:
    """One sigmoid channel for two classes, one softmax channel per class otherwise."""
    return 1 if num_classes == 2 else num_classes


def create_model(name, channels, num_classes, depth=4, filters=32, norm="batch", data_format=None, fused=False):
    """Build a segmenter by name.

    Args:
        fused: build :class:`FusedBatchNormalization`, :class:`FusedConv2D` and :class:`InplaceReLU`, the same layers with
            PyTorch's fused kernels on the torch backend (training runs this way). False builds stock
            layers only, which is what is saved, so a ``.keras`` file loads with plain Keras.

    Example:
        >>> model = create_model("unet", channels=1, num_classes=2, depth=3, filters=8)
        >>> model.output_shape
        (None, None, None, 1)
    """
    from segcoder.errors import SegcoderError

    if name not in MODEL_BUILDERS:
        raise SegcoderError(f"unknown model '{name}'; choose one of {sorted(MODEL_BUILDERS)}")
    return MODEL_BUILDERS[name](
        channels, output_channels(num_classes), depth=depth, filters=filters, norm=norm,
        data_format=data_format or preferred_data_format(), fused=fused,
    )


__all__ = ["ENCODER_NAME", "FusedBatchNormalization", "FusedConv2D", "FusedConv2DTranspose", "InplaceReLU", "MODEL_BUILDERS", "build_encoder", "create_model", "output_channels"]
