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


# Bound after the submodules are imported, so ``segcoder.train`` stays the function
# even though a module of the same name exists.
from segcoder.evaluate import evaluate  # noqa: E402
from segcoder.predict import load  # noqa: E402
from segcoder.train import train  # noqa: E402

__all__ = ["RunConfig", "SegcoderError", "__version__", "evaluate", "load", "train"]
