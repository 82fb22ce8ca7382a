"""A prediction-only copy of a trained model with each batch norm folded into its convolution.

At inference a batch norm is a fixed per-channel scale and shift, so it can be
merged into the convolution before it: ``W' = W * s`` and ``b' = beta - mean * s``
with ``s = gamma / sqrt(var + eps)``. The copy is the same architecture built
with ``norm="none"`` (stock layers, every backend), and skips one full pass
over every activation per layer, which is what a hand-written PyTorch model in
eval mode still pays. Its convolutions are :class:`FusedConv2D`, which give
the folded bias to PyTorch's convolution instead of adding it in another pass;
the copy is for prediction only and is never saved.
"""

from __future__ import annotations

import numpy as np
from keras import layers


def _all_layers(model) -> dict:
    """Every layer by name, looking inside nested sub-models (the shared encoder)."""
    found = {}
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found.update(_all_layers(layer))
        found[layer.name] = layer
    return found


def _bn_for(conv_name: str) -> str:
    """``enc0_conv1`` -> ``enc0_1_bn``: the naming of :func:`segcoder.models.blocks.conv_block`."""
    block, conv = conv_name.rsplit("_conv", 1)
    return f"{block}_{conv}_bn"


def fold_batchnorm(model, model_config):
    """A copy of ``model`` without batch norm layers, predicting the same logits in inference mode.

    Args:
        model: a model built by :func:`segcoder.models.create_model` (stock or fused batch norm).
        model_config: its :class:`segcoder.config.ModelConfig` (name, depth, filters, norm, data_format).

    Returns:
        ``model`` itself when it has no batch norm; otherwise a new model with folded weights.

    Example:
        >>> fast = fold_batchnorm(keras.saving.load_model("runs/x/model.keras"), config.model)
    """
    from segcoder.models import MODEL_BUILDERS

    m = model_config
    if m.norm != "batch":
        return model
    source = _all_layers(model)
    out_channels = int(model.output_shape[-1])
    channels = int(model.input_shape[-1])
    folded = MODEL_BUILDERS[m.name](channels, out_channels, depth=m.depth, filters=m.filters, norm="none",
                                    data_format=m.data_format or "channels_last", fused=True)
    for name, layer in _all_layers(folded).items():
        if not layer.weights or hasattr(layer, "layers"):
            continue
        bn = source.get(_bn_for(name)) if isinstance(layer, layers.Conv2D) and "_conv" in name else None
        if bn is None:
            layer.set_weights(source[name].get_weights())
            continue
        (kernel,) = source[name].get_weights()
        gamma, beta, mean, var = (np.asarray(w, np.float64) for w in bn.get_weights())
        scale = gamma / np.sqrt(var + bn.epsilon)
        layer.set_weights([(kernel * scale).astype(kernel.dtype), (beta - mean * scale).astype(kernel.dtype)])
    return folded
