"""Class weights against imbalance, computed from the training masks.

Median-frequency balancing is the SegNet recipe (Eigen & Fergus 2015):
``freq(c)`` is the number of pixels of class c divided by the number of pixels
in the images where c appears, and ``weight(c) = median(freq) / freq(c)``.
"""

from __future__ import annotations

import numpy as np

from segcoder.data.classes import IGNORE_LABEL
from segcoder.errors import SegcoderError


def class_pixel_counts(label_maps, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class: pixels of that class, and pixels of the images that contain it (ignored pixels excluded)."""
    class_pixels = np.zeros(num_classes, np.int64)
    image_pixels = np.zeros(num_classes, np.int64)
    for labels in label_maps:
        labels = np.asarray(labels).ravel()
        counts = np.bincount(labels[labels != IGNORE_LABEL], minlength=num_classes)[:num_classes]
        class_pixels += counts
        image_pixels += np.where(counts > 0, counts.sum(), 0)
    return class_pixels, image_pixels


def median_frequency_weights(label_maps, num_classes: int) -> np.ndarray:
    """SegNet's median-frequency class weights; classes never seen get weight 0.

    Example:
        >>> median_frequency_weights([np.array([[0, 0, 0, 1]])], 2).round(3).tolist()
        [0.667, 2.0]
    """
    class_pixels, image_pixels = class_pixel_counts(label_maps, num_classes)
    seen = class_pixels > 0
    if not seen.any():
        raise SegcoderError("no labelled pixels in the training masks; class weights cannot be computed")
    freq = np.zeros(num_classes)
    freq[seen] = class_pixels[seen] / image_pixels[seen]
    weights = np.zeros(num_classes)
    weights[seen] = np.median(freq[seen]) / freq[seen]
    return weights


def parse_class_weights(spec, num_classes: int, label_maps=None) -> list[float] | None:
    """Resolve ``--class-weights``: None, "median-frequency", or a list / comma-separated string of numbers."""
    if spec is None or spec == "none":
        return None
    if spec == "median-frequency":
        return [round(float(w), 6) for w in median_frequency_weights(label_maps(), num_classes)]
    try:
        values = [float(v) for v in (spec.split(",") if isinstance(spec, str) else spec)]
    except (TypeError, ValueError):
        raise SegcoderError(
            f"--class-weights must be 'median-frequency' or {num_classes} comma-separated numbers, not {spec!r}"
        ) from None
    if len(values) != num_classes:
        raise SegcoderError(
            f"--class-weights needs {num_classes} non-negative numbers (one per trained class), got {len(values)}"
        )
    if any(v < 0 for v in values):
        raise SegcoderError(f"--class-weights must not be negative, got {','.join(f'{v:g}' for v in values)}")
    return values
