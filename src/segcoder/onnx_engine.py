"""Predicting with a run's ONNX export through onnxruntime (``segcoder predict --engine onnx``).

:class:`OnnxSegmenter` is a :class:`segcoder.predict.Segmenter` whose one
engine call, ``predict_logits_batch``, runs the ONNX graph; tiling, TTA,
probabilities and mask values come from the base class unchanged.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segcoder.errors import SegcoderError
from segcoder.export import ONNX_FILE
from segcoder.predict import Segmenter
from segcoder.run import check_run_dir, load_run_config


class OnnxSegmenter(Segmenter):
    """A run's ONNX model in an onnxruntime session, with the run's classes and settings.

    Args:
        session: an ``onnxruntime.InferenceSession`` of the exported model.
        config: the run's :class:`segcoder.config.RunConfig`.
        classes: the run's :class:`segcoder.data.classes.ClassMap`.
    """

    def __init__(self, session, config, classes):
        self.model, self.session, self.config, self.classes = None, session, config, classes
        inputs = session.get_inputs()
        self.input_name = inputs[0].name
        self.channels = int(inputs[0].shape[-1])
        self.stride = 2**config.model.depth
        self.image_scale = config.data.image_scale

    def predict_logits_batch(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, H, W, K) for a float32 batch (N, H, W, C), sides multiples of the stride."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run(None, {self.input_name: batch})[0]


def make_session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session for ``path``; ``threads`` None lets onnxruntime use every core."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise SegcoderError("--engine onnx needs onnxruntime; pip install onnxruntime") from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=ort.get_available_providers())
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable files
        raise SegcoderError(f"{path}: onnxruntime cannot load it ({exc.__class__.__name__}); export it again") from None


def load_onnx_segmenter(run_dir: str | Path, path: str | Path | None = None) -> OnnxSegmenter:
    """Load a run folder for prediction with its ONNX export (``RUN_DIR/model.onnx`` unless ``path``)."""
    run_dir = check_run_dir(run_dir)
    path = Path(path) if path else run_dir / ONNX_FILE
    if not path.is_file():
        raise SegcoderError(f"{path}: no ONNX model; run 'segcoder export {run_dir} --format onnx' first")
    config, classes = load_run_config(run_dir)
    return OnnxSegmenter(make_session(path), config, classes)
