"""Boundary F1 score (BF), the contour metric the SegNet paper reports (Csurka et al. 2013).

For each class present in an image, the predicted and true class boundaries
are matched within a distance tolerance of 0.75% of the image diagonal:
precision is the share of predicted boundary pixels near a true one, recall
the share of true boundary pixels near a predicted one, and BF their harmonic
mean. An image's score is the mean over the classes in its ground truth, and a
dataset's the mean over images.
"""

from __future__ import annotations

import cv2
import numpy as np

from segcoder.data.classes import IGNORE_LABEL

TOLERANCE = 0.0075  # share of the image diagonal


def class_boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (bool) with a 4-neighbour outside it (image edges do not count as boundary)."""
    m = mask.astype(np.uint8)
    eroded = cv2.erode(m, np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8), borderType=cv2.BORDER_REPLICATE)
    return (m - eroded).astype(bool)


def _distance_to(boundary: np.ndarray) -> np.ndarray:
    """Euclidean distance from every pixel to the nearest pixel of ``boundary``."""
    if not boundary.any():
        return np.full(boundary.shape, np.inf, np.float32)
    return cv2.distanceTransform((~boundary).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def boundary_f1(truth: np.ndarray, predicted: np.ndarray, num_classes: int, tolerance: float = TOLERANCE):
    """Mean BF over the classes in ``truth`` for one image, or None when it has no labelled pixel.

    Ignored pixels of ``truth`` are left out of both boundaries.
    """
    valid = truth != IGNORE_LABEL
    theta = tolerance * float(np.hypot(*truth.shape))
    scores = []
    for c in range(num_classes):
        true_c = (truth == c) & valid
        if not true_c.any():
            continue
        true_edge = class_boundary(true_c)
        pred_edge = class_boundary((predicted == c) & valid)
        if not true_edge.any() and not pred_edge.any():
            scores.append(1.0)  # the class fills all labelled pixels in both
            continue
        precision = float((_distance_to(true_edge)[pred_edge] <= theta).mean()) if pred_edge.any() else 0.0
        recall = float((_distance_to(pred_edge)[true_edge] <= theta).mean()) if true_edge.any() else 0.0
        scores.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    return float(np.mean(scores)) if scores else None
