"""Resizing images, label maps and logits by a run's ``image_scale`` (e.g. half-resolution training).

OpenCV does the work (it is already installed with albumentations): area
averaging to shrink images, nearest neighbour for label maps so no new class
appears at a boundary, and bilinear interpolation to bring logits back up to
the input's size before the argmax.
"""

from __future__ import annotations

import cv2
import numpy as np


def scaled_size(height: int, width: int, factor: float) -> tuple[int, int]:
    """(height, width) after scaling by ``factor``, at least one pixel each."""
    return max(1, round(height * factor)), max(1, round(width * factor))


def _resize(array: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    out = cv2.resize(array, (size[1], size[0]), interpolation=interpolation)
    if array.ndim == 3 and out.ndim == 2:  # OpenCV drops a single channel axis
        out = out[..., None]
    return out


def resize_image(image: np.ndarray, factor: float) -> np.ndarray:
    """An (H, W, C) image scaled by ``factor``: area averaging to shrink, bilinear to enlarge."""
    if factor == 1.0:
        return image
    if image.dtype == bool:
        image = image.astype(np.uint8)
    size = scaled_size(*image.shape[:2], factor)
    return _resize(image, size, cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


def resize_labels(labels: np.ndarray, factor: float) -> np.ndarray:
    """An (H, W) label map scaled by ``factor`` with nearest-neighbour sampling."""
    if factor == 1.0:
        return labels
    return _resize(labels, scaled_size(*labels.shape[:2], factor), cv2.INTER_NEAREST)


def resize_logits(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, K) logits resized bilinearly to ``size`` = (H, W)."""
    if logits.shape[:2] == tuple(size):
        return logits
    return _resize(np.ascontiguousarray(logits, dtype=np.float32), size, cv2.INTER_LINEAR)
