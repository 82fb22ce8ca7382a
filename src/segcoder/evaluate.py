"""Scoring a trained run against image/mask folders at full resolution."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from segcoder._atomic import write_text
from segcoder.data.dataset import load_pair
from segcoder.data.masks import label_table, scan_pairs
from segcoder.data.pairs import find_pairs
from segcoder.predict import Segmenter, load
from segcoder.scores import confusion_matrix, scores


def evaluate_pairs(segmenter: Segmenter, pairs, lut: np.ndarray) -> dict:
    """Scores from one confusion matrix summed over all pairs; ignored pixels excluded."""
    k = segmenter.classes.num_classes
    matrix = np.zeros((k, k), np.int64)
    for pair in pairs:
        image, labels = load_pair(pair, lut, segmenter.channels)
        matrix += confusion_matrix(labels, segmenter.predict_labels(image), k)
    result = scores(matrix, segmenter.classes.names)
    result["images"] = len(pairs)
    return result


def evaluate(run_dir, images, masks, json_path=None) -> dict:
    """Evaluate the run in ``run_dir`` on the pairs of ``images``/``masks``; optionally write JSON.

    Example:
        >>> evaluate("runs/membrane", "val/images", "val/masks")["mean_iou"]
        0.81
    """
    segmenter = load(run_dir)
    pairs = find_pairs(images, masks)
    lut = label_table(segmenter.classes, scan_pairs(pairs), Path(run_dir) / "classes.json")
    result = evaluate_pairs(segmenter, pairs, lut)
    if json_path is not None:
        write_text(json_path, json.dumps(result, indent=2) + "\n")
    return result
