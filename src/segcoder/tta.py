"""Test-time augmentation: predict flipped (and rotated) copies of a batch and average the logits.

A segmentation network is not exactly symmetric, so averaging its answers over
the flips of an image, mapped back, removes part of its error at the cost of
one forward pass per view.

Example:
    >>> logits = tta_logits(segmenter.predict_logits_batch, batch, "flip")   # 4 passes
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from segcoder.errors import SegcoderError

# Views averaged by each mode, as (k quarter turns, horizontal flip first).
TTA_VIEWS = {
    "none": [(0, False)],
    "flip": [(0, False), (0, True), (2, True), (2, False)],  # identity, left-right, up-down, both
    "d4": [(k, flip) for k in range(4) for flip in (False, True)],  # flips and 90-degree rotations
}
TTA_MODES = tuple(TTA_VIEWS)


def check_tta(mode: str) -> str:
    if mode not in TTA_VIEWS:
        raise SegcoderError(f"--tta must be one of {', '.join(TTA_MODES)}, not '{mode}'")
    return mode


def _forward(batch: np.ndarray, k: int, flip: bool) -> np.ndarray:
    if flip:
        batch = batch[:, :, ::-1]
    return np.rot90(batch, k, axes=(1, 2))


def _inverse(batch: np.ndarray, k: int, flip: bool) -> np.ndarray:
    batch = np.rot90(batch, -k, axes=(1, 2))
    return batch[:, :, ::-1] if flip else batch


def tta_logits(predict_batch: Callable[[np.ndarray], np.ndarray], batch: np.ndarray, mode: str = "flip") -> np.ndarray:
    """Mean logits over the views of ``mode`` for an NHWC batch.

    Args:
        predict_batch: NHWC float32 -> NHWC logits; sides must stay multiples of the stride,
            which flips and quarter turns of a padded batch do.
        batch: NHWC float32 input.
        mode: "none", "flip" (4 views) or "d4" (8 views: flips and 90-degree rotations).
    """
    views = TTA_VIEWS[check_tta(mode)]
    total = None
    for k, flip in views:
        view = np.ascontiguousarray(_forward(batch, k, flip))
        logits = _inverse(np.asarray(predict_batch(view), dtype=np.float32), k, flip)
        total = logits.astype(np.float32, copy=True) if total is None else total + logits
    return total / np.float32(len(views))
