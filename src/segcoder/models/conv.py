"""A 2D convolution that hands its bias and a ready kernel to PyTorch's convolution.

Keras' ``Conv2D`` on PyTorch passes the kernel as a transposed view, which the
convolution copies into a contiguous tensor on every call (and again in the
backward pass), and adds the bias as a separate pass over the output.
:class:`FusedConv2D` makes the kernel contiguous once per training step, and
once per weight change at inference, in the input's memory format
(channels_last on the default torch path), and gives the bias to the
convolution itself. :class:`FusedConv2DTranspose` does the same for the
learned upsampling. Anything they do not cover (other backends, graph tracing,
strides with "same" padding, LoRA, quantisation, groups) runs the stock code.
"""

from __future__ import annotations

import keras
from keras import layers

from segcoder.models.batchnorm import _torch_eager


@keras.saving.register_keras_serializable(package="segcoder")
class FusedConv2D(layers.Conv2D):
    """``keras.layers.Conv2D`` with the kernel layout and bias handled by PyTorch's convolution.

    Same arguments, weights and config as the stock layer.

    Example:
        >>> conv = FusedConv2D(32, 3, padding="same", data_format="channels_first")
    """

    def _covered(self, inputs) -> bool:
        k = self.kernel_size
        return (
            _torch_eager(inputs) and self.groups == 1 and not self.lora_enabled and self.quantization_mode is None
            and (self.padding == "valid" or (tuple(self.strides) == (1, 1) and k[0] % 2 == 1 and k[1] % 2 == 1))
        )

    def _torch_kernel(self, x, order=(3, 2, 0, 1)):
        """The kernel as (out, in, kh, kw) in ``x``'s memory format.

        PyTorch's CPU convolution wants kernel and input in the same memory format. The copy is
        made on every call: a cache keyed on the tensor version went stale during training (the
        fused optimizer updates weights without bumping the version), so validation and best-
        checkpoint selection saw old weights.
        """
        import torch

        kernel = self.kernel.value if hasattr(self.kernel, "value") else self.kernel
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        return kernel.permute(*order).contiguous(memory_format=layout)

    def call(self, inputs):
        if not self._covered(inputs):
            return super().call(inputs)
        import torch.nn.functional as F

        if self.padding == "same":
            padding = tuple(d * (k - 1) // 2 for k, d in zip(self.kernel_size, self.dilation_rate))
        else:
            padding = 0
        x = inputs if self.data_format == "channels_first" else inputs.permute(0, 3, 1, 2)
        bias = None
        if self.use_bias:
            bias = self.bias.value if hasattr(self.bias, "value") else self.bias
        out = F.conv2d(x, self._torch_kernel(x), bias, tuple(self.strides), padding, tuple(self.dilation_rate))
        if self.data_format != "channels_first":
            out = out.permute(0, 2, 3, 1)
        return self.activation(out) if self.activation is not None else out


@keras.saving.register_keras_serializable(package="segcoder")
class FusedConv2DTranspose(layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` with kernel layout and bias handled by PyTorch ("valid" padding only).

    Same arguments, weights and config as the stock layer.
    """

    _torch_kernel = FusedConv2D._torch_kernel

    def _covered(self, inputs) -> bool:
        return (
            _torch_eager(inputs) and self.padding == "valid" and self.output_padding is None
            and tuple(self.dilation_rate) == (1, 1) and not getattr(self, "lora_enabled", False)
            and all(k >= s for k, s in zip(self.kernel_size, self.strides))
        )

    def call(self, inputs):
        if not self._covered(inputs):
            return super().call(inputs)
        import torch.nn.functional as F

        x = inputs if self.data_format == "channels_first" else inputs.permute(0, 3, 1, 2)
        bias = None
        if self.use_bias:
            bias = self.bias.value if hasattr(self.bias, "value") else self.bias
        # Keras stores (kh, kw, out, in); PyTorch wants (in, out, kh, kw).
        out = F.conv_transpose2d(x, self._torch_kernel(x, order=(3, 2, 0, 1)), bias, tuple(self.strides))
        if self.data_format != "channels_first":
            out = out.permute(0, 2, 3, 1)
        return self.activation(out) if self.activation is not None else out
