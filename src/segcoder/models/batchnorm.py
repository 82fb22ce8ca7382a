"""Batch normalisation that runs as one fused kernel on the PyTorch backend.

Keras' ``BatchNormalization`` is written with ``keras.ops``, so on PyTorch a
training step spends about six elementwise passes over each activation in the
forward pass (moments, subtract, scale, shift) and as many again in autograd's
backward, where ``torch.nn.functional.batch_norm`` takes one pass each way. On
a 2-core CPU that gap is most of the time between a Keras U-Net and the same
network in plain PyTorch (see ``benchmarks/throughput.py``).

:class:`FusedBatchNormalization` keeps the stock layer's weights, config and
maths, and only swaps the kernel when the backend is PyTorch and the call is
eager; on JAX and TensorFlow, and while Keras traces the graph, it *is* the
stock layer. Models are saved with the stock layer (see
:func:`segcoder.models.create_model`'s ``fused``), so a ``.keras`` file never
needs this class to load.
"""

from __future__ import annotations

import keras
from keras import layers


def _torch_eager(inputs) -> bool:
    """True for a real PyTorch tensor outside Keras' symbolic and stateless scopes."""
    if keras.backend.backend() != "torch":
        return False
    import torch
    from keras.src.backend.common.stateless_scope import in_stateless_scope

    return isinstance(inputs, torch.Tensor) and inputs.device.type != "meta" and not in_stateless_scope()


@keras.saving.register_keras_serializable(package="segcoder")
class FusedBatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with PyTorch's fused kernel on the torch backend.

    Same arguments, weights and saved config as the stock layer. Differences on
    PyTorch: the moving variance is updated with the unbiased batch variance
    (PyTorch's convention, n/(n-1) times Keras'); masks and renorm fall back to
    the stock code.

    Example:
        >>> bn = FusedBatchNormalization(axis=1, momentum=0.9)
    """

    def call(self, inputs, training=None, mask=None):
        if mask is not None or self.renorm or self.synchronized or not _torch_eager(inputs):
            return super().call(inputs, training=training, mask=mask)
        import torch.nn.functional as F

        axis = self.axis if self.axis >= 0 else inputs.ndim + self.axis
        x = inputs if axis == 1 else inputs.movedim(axis, 1)
        update = bool(training and self.trainable)
        # Raw variables: the kernel updates the moving statistics in place, as PyTorch's own layer does.
        outputs = F.batch_norm(
            x, self.moving_mean.value, self.moving_variance.value,
            self.gamma.value if self.scale else None, self.beta.value if self.center else None,
            training=update, momentum=1.0 - self.momentum, eps=self.epsilon,
        )
        if axis != 1:
            outputs = outputs.movedim(1, axis)
        return keras.ops.cast(outputs, self.compute_dtype)
