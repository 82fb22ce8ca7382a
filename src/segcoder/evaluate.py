"""Scoring a trained run against image/mask folders at full resolution."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segcoder._atomic import write_text
from segcoder.boundary import boundary_f1
from segcoder.data.dataset import load_pair
from segcoder.data.masks import label_table, scan_pairs
from segcoder.data.pairs import find_pairs
from segcoder.predict import Segmenter, load
from segcoder.scores import confusion_matrix, scores


def evaluate_pairs(segmenter: Segmenter, pairs, lut: np.ndarray, **predict_options) -> dict:
    """Scores from one confusion matrix summed over all pairs, plus the mean boundary F1 over images.

    Ignored pixels are excluded. ``predict_options`` go to ``Segmenter.predict_labels`` (e.g. ``tta="flip"``).
    """
    k = segmenter.classes.num_classes
    matrix = np.zeros((k, k), np.int64)
    boundary = []
    for pair in pairs:
        image, labels = load_pair(pair, lut, segmenter.channels)
        predicted = segmenter.predict_labels(image, **predict_options)
        matrix += confusion_matrix(labels, predicted, k)
        boundary.append(boundary_f1(labels, predicted, k))
    result = scores(matrix, segmenter.classes.names)
    boundary = [b for b in boundary if b is not None]
    result["boundary_f1"] = round(float(np.mean(boundary)), 6) if boundary else None
    result["images"] = len(pairs)
    return result


def evaluate(run_dir, images, masks, json_path=None, **predict_options) -> dict:
    """Evaluate the run in ``run_dir`` on the pairs of ``images``/``masks``; optionally write JSON.

    Example:
        >>> evaluate("runs/membrane", "val/images", "val/masks")["mean_iou"]
        0.81
    """
    segmenter = load(run_dir)
    pairs = find_pairs(images, masks)
    lut = label_table(segmenter.classes, scan_pairs(pairs), Path(run_dir) / "classes.json")
    result = evaluate_pairs(segmenter, pairs, lut, **predict_options)
    if json_path is not None:
        write_text(json_path, json.dumps(result, indent=2) + "\n")
    return result
