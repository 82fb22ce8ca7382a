"""NumPy helpers shared by prediction and training reports."""

import numpy as np


def labels_from_logits(logits: np.ndarray) -> np.ndarray:
    """Class index per pixel from (..., K) logits; one channel means sigmoid > 0.5."""
    if logits.shape[-1] == 1:
        return (logits[..., 0] > 0).astype(np.uint8)
    return logits.argmax(axis=-1).astype(np.uint8)
