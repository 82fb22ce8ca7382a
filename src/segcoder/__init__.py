"""segcoder: image segmentation with convolutional encoder-decoder networks on Keras 3.

Example:
    >>> import segcoder
    >>> cfg = segcoder.RunConfig().override(**{"data.images": "imgs", "data.masks": "masks"})
    >>> segcoder.train(cfg, "runs/first")
    >>> segcoder.load("runs/first").predict(image)
"""

import os

# PyTorch is the default backend; a KERAS_BACKEND already set by the user wins.
os.environ.setdefault("KERAS_BACKEND", "torch")

from segcoder.config import RunConfig  # noqa: E402
from segcoder.errors import SegcoderError  # noqa: E402

__version__ = "0.1.0"


def train(config, out, overwrite=False, verbose="auto"):
    """Train a segmenter into the run folder ``out`` (see :func:`segcoder.train.train`)."""
    from segcoder.train import train as _train

    return _train(config, out, overwrite=overwrite, verbose=verbose)


def load(run_dir):
    """Load a finished run folder as a :class:`segcoder.predict.Segmenter`."""
    from segcoder.predict import load as _load

    return _load(run_dir)


def evaluate(run_dir, images, masks, json_path=None):
    """Score a run on image/mask folders (see :func:`segcoder.evaluate.evaluate`)."""
    from segcoder.evaluate import evaluate as _evaluate

    return _evaluate(run_dir, images, masks, json_path)


__all__ = ["RunConfig", "SegcoderError", "__version__", "evaluate", "load", "train"]
