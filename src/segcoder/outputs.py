"""Writing prediction outputs: index mask, colour mask and overlay PNGs, each atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segcoder._atomic import atomic_path
from segcoder.data.classes import ClassMap


def color_mask(values: np.ndarray, classes: ClassMap) -> np.ndarray:
    """RGB uint8 image painting each pixel's class in its display colour."""
    palette = np.zeros((65536 if values.dtype == np.uint16 else 256, 3), np.uint8)
    for c in classes.classes:
        if c.id < len(palette):
            palette[c.id] = c.color
    return palette[values]


def overlay(image: np.ndarray, colors: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend the colour mask over the image (float [0, 1], gray or RGB) as RGB uint8."""
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
    blended = (1 - alpha) * rgb * 255.0 + alpha * colors.astype(np.float32)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def save_png(array: np.ndarray, path: Path) -> Path:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return path


def write_outputs(out_dir: Path, stem: str, image: np.ndarray, values: np.ndarray, classes: ClassMap) -> list[Path]:
    """Write ``<stem>_mask.png`` (class ids), ``<stem>_color.png`` and ``<stem>_overlay.png``."""
    colors = color_mask(values, classes)
    return [
        save_png(values, out_dir / f"{stem}_mask.png"),
        save_png(colors, out_dir / f"{stem}_color.png"),
        save_png(overlay(image, colors), out_dir / f"{stem}_overlay.png"),
    ]
