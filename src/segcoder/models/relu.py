"""ReLU computed in place on PyTorch, as ``nn.ReLU(inplace=True)`` does.

Keras' ``ReLU`` writes a new tensor, so every block of a network allocates one
more activation-sized buffer per step than its PyTorch twin. In segcoder's
blocks a ReLU is the only reader of its input (the convolution or batch norm
output just before it), so overwriting that input is safe; under autograd
PyTorch's version counter would raise, not compute wrongly, if it were not.
"""

from __future__ import annotations

import keras
from keras import layers

from segcoder.models.batchnorm import _torch_eager


@keras.saving.register_keras_serializable(package="segcoder")
class InplaceReLU(layers.ReLU):
    """``keras.layers.ReLU`` that overwrites its input on the torch backend (plain ReLU only).

    Use it only where nothing else reads the input, as in :func:`segcoder.models.blocks.conv_block`.
    """

    def call(self, inputs):
        plain = self.max_value is None and not self.negative_slope and not self.threshold
        if not plain or not _torch_eager(inputs) or (inputs.is_leaf and inputs.requires_grad):
            return super().call(inputs)
        import torch

        return torch.relu_(inputs)
