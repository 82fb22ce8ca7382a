"""Training curves as a PNG (matplotlib, headless)."""

from __future__ import annotations

import csv
from pathlib import Path

from segcoder._atomic import atomic_path


SEGMENTATION_PANELS = (("loss", "loss"), ("mean_iou", "mean IoU"))


def _number(text):
    """A history value as float, or None where CSVLogger wrote "NA" or nothing."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def plot_curves(history_csv: Path, out_png: Path, panels=SEGMENTATION_PANELS) -> Path | None:
    """One panel per (history key, title), training and validation curves per epoch side by side."""
    plt = _pyplot()
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    epochs = [int(r["epoch"]) + 1 for r in rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = [_number(r.get(prefix + key)) for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, [float("nan") if v is None else v for v in values], style,
                        label=(prefix or "train_") + key)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _save(fig, out_png)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_png: Path) -> Path:
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    _pyplot().close(fig)
    return out_png


def plot_confusion(matrix, names: list[str], out_png: Path) -> Path:
    """The confusion matrix, each row normalised to the share of that true class."""
    import numpy as np

    plt = _pyplot()
    matrix = np.asarray(matrix, np.float64)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.5, 2.5 + 0.45 * len(names))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    shown = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(names) <= 16:
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{rows[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if rows[i, j] > 0.5 else "black")
    fig.colorbar(shown, ax=ax, fraction=0.046)
    ax.set_title("confusion matrix (share of each true class)", fontsize=10)
    fig.tight_layout()
    return _save(fig, out_png)


def plot_class_iou(per_class: dict, out_png: Path) -> Path:
    """A horizontal bar per class: its IoU, with the mean as a line."""
    plt = _pyplot()
    names = list(per_class)
    values = [per_class[n]["iou"] or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(names)))
    ax.barh(range(len(names)), values, color="#4c72b0")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.axvline(sum(values) / max(len(values), 1), color="#c44e52", linestyle="--", label="mean")
    for i, v in enumerate(values):
        ax.text(min(v + 0.01, 0.9), i, f"{v:.3f}", va="center", fontsize=8)
    ax.set_xlabel("IoU")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return _save(fig, out_png)


def plot_prediction_grid(rows, out_png: Path, title: str = "") -> Path:
    """One row per image: image | truth | prediction (RGB uint8 arrays of equal size within a row)."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), 3, figsize=(9, 3 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c, (array, label) in enumerate(zip(row, ("image", "truth", "prediction"))):
            axes[r, c].imshow(array, cmap="gray" if array.ndim == 2 else None)
            axes[r, c].set_axis_off()
            if r == 0:
                axes[r, c].set_title(label)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, out_png)
