"""Segmentation scores derived from one confusion matrix (NumPy; used by evaluate and training reports)."""

from __future__ import annotations

import numpy as np

from segcoder.data.classes import IGNORE_LABEL


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts, rows = truth, columns = prediction; IGNORE_LABEL pixels are left out."""
    labels = labels.reshape(-1).astype(np.int64)
    predicted = predicted.reshape(-1).astype(np.int64)
    valid = (labels != IGNORE_LABEL) & (labels < num_classes)
    index = labels[valid] * num_classes + predicted[valid]
    return np.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def scores(matrix: np.ndarray, names: list[str]) -> dict:
    """IoU and Dice per class, mean IoU, global and class-average pixel accuracy.

    Classes absent from both truth and prediction get ``None`` and are left out of the means.
    """
    matrix = matrix.astype(np.float64)
    tp = np.diag(matrix)
    truth, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    union = truth + predicted - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        dice = np.where(truth + predicted > 0, 2 * tp / (truth + predicted), np.nan)
        recall = np.where(truth > 0, tp / truth, np.nan)
    total = matrix.sum()

    def clean(values):
        return [None if np.isnan(v) else round(float(v), 6) for v in values]

    return {
        "pixel_accuracy": round(float(tp.sum() / total), 6) if total else None,
        "class_accuracy": round(float(np.nanmean(recall)), 6) if np.any(truth > 0) else None,
        "mean_iou": round(float(np.nanmean(iou)), 6) if np.any(union > 0) else None,
        "mean_dice": round(float(np.nanmean(dice)), 6) if np.any(union > 0) else None,
        "per_class": {
            name: {"iou": i, "dice": d, "accuracy": r, "pixels": int(t)}
            for name, i, d, r, t in zip(names, clean(iou), clean(dice), clean(recall), truth)
        },
        "pixels": int(total),
        "confusion_matrix": matrix.astype(np.int64).tolist(),
    }


def format_scores(result: dict) -> str:
    """A short human-readable table of the scores."""
    lines = [
        f"pixel accuracy {result['pixel_accuracy']:.4f}   class accuracy {result['class_accuracy']:.4f}   "
        f"mean IoU {result['mean_iou']:.4f}   mean Dice {result['mean_dice']:.4f}"
        + (f"   boundary F1 {result['boundary_f1']:.4f}" if result.get("boundary_f1") is not None else ""),
        f"{'class':<16}{'IoU':>8}{'Dice':>8}{'acc':>8}{'pixels':>12}",
    ]
    for name, s in result["per_class"].items():
        fmt = lambda v: f"{v:8.4f}" if v is not None else f"{'-':>8}"  # noqa: E731
        lines.append(f"{name:<16}{fmt(s['iou'])}{fmt(s['dice'])}{fmt(s['accuracy'])}{s['pixels']:>12}")
    return "\n".join(lines)
