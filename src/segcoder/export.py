"""Exporting a run folder's model to other runtimes (ONNX).

The ONNX file takes the same input as the Keras model, a float32 batch
(N, H, W, C) in [0, 1], and returns the same logits (N, H, W, K); batch,
height and width are free (height and width multiples of the stride).

Example:
    >>> export_onnx("runs/membrane")            # writes runs/membrane/model.onnx
    >>> segcoder.predict.load("runs/membrane", engine="onnx").predict(image)
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from segcoder._atomic import atomic_path
from segcoder.errors import SegcoderError
from segcoder.run import MODEL_FILE, check_run_dir, load_run_config

ONNX_FILE = "model.onnx"
FORMATS = ("onnx",)
DEFAULT_OPSET = 17  # supported by every onnxruntime since 1.14


def _export_torch(model, path: str, channels: int, stride: int, opset: int) -> None:
    """Trace the Keras model (a torch Module on this backend) with free batch, height and width."""
    import numpy as np
    import torch

    sample = torch.from_numpy(np.zeros((1, 2 * stride, 2 * stride, channels), np.float32))
    free = {0: "batch", 1: "height", 2: "width"}
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about every Python int it meets in Keras' layer code (padding, shape checks);
        # none of them depends on the input size, which the parity test checks at two sizes.
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (sample,), path, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": free, "logits": free}, opset_version=opset, dynamo=False)


def export_model(model, path: str | Path, stride: int, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` (HWC images in, HWC logits out) to ``path`` as ONNX, atomically.

    Args:
        model: a Keras segmenter (stock layers) as saved in a run folder.
        path: the ``.onnx`` file to write.
        stride: the network's total downsampling; the trace uses a sample of twice this side.
        opset: ONNX opset version.
    """
    import keras

    path = Path(path)
    channels = int(model.input_shape[-1])
    with atomic_path(path) as tmp:
        onnx_tmp = tmp + ".onnx"
        try:
            if keras.backend.backend() == "torch":
                _export_torch(model, onnx_tmp, channels, stride, opset)
            else:
                model.export(onnx_tmp, format="onnx", opset_version=opset, verbose=False)
        except ImportError as exc:
            raise SegcoderError(f"{path}: ONNX export needs the '{exc.name}' package; pip install it") from None
        os.replace(onnx_tmp, tmp)
    return path


def export_onnx(run_dir: str | Path, out: str | Path | None = None, opset: int = DEFAULT_OPSET) -> Path:
    """Export a finished run's ``model.keras`` to ONNX (default: ``RUN_DIR/model.onnx``).

    Args:
        run_dir: a finished training run folder.
        out: where to write the ``.onnx`` file; default inside ``run_dir``, where ``--engine onnx`` finds it.
        opset: ONNX opset version.
    """
    import keras

    run_dir = check_run_dir(run_dir)
    config, _ = load_run_config(run_dir)
    out = Path(out) if out else run_dir / ONNX_FILE
    if out.suffix != ".onnx":
        raise SegcoderError(f"{out}: an ONNX file name must end in .onnx")
    model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
    return export_model(model, out, 2**config.model.depth, opset)


def export(run_dir: str | Path, format: str = "onnx", out: str | Path | None = None, **options) -> Path:
    """Export a run folder's model in ``format`` (only "onnx" so far)."""
    if format not in FORMATS:
        raise SegcoderError(f"--format must be one of {', '.join(FORMATS)}, not '{format}'")
    return export_onnx(run_dir, out, **options)
