"""A contact sheet of mask overlays, so a person sees at a glance whether masks line up with their images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from segcoder._atomic import atomic_path
from segcoder.data.classes import IGNORE_LABEL, ClassMap
from segcoder.data.io import read_image, read_mask
from segcoder.data.masks import to_labels

ALPHA = 0.45  # mask opacity over the image
CAPTION = 14  # pixels of caption strip under each tile


def overlay_labels(image: np.ndarray, labels: np.ndarray, classes: ClassMap) -> np.ndarray:
    """RGB uint8 image with each labelled pixel tinted in its class colour; ignored pixels stay untinted."""
    palette = np.zeros((256, 3), np.float32)
    palette[: classes.num_classes] = classes.colors()
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
    rgb = rgb * 255.0
    tinted = (1 - ALPHA) * rgb + ALPHA * palette[labels]
    out = np.where((labels == IGNORE_LABEL)[..., None], rgb, tinted)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def write_sheet(pairs, lut: np.ndarray, classes: ClassMap, path, tile: int = 192, max_tiles: int = 48) -> Path:
    """Write a grid of overlay thumbnails (first ``max_tiles`` pairs, spread evenly) to the PNG ``path``.

    Args:
        pairs: (image, mask) pairs that read without error.
        lut: mask code -> training label table of these masks.
        classes: the class list (its colours tint the overlays).
        path: PNG file to write (atomically).
        tile: longest side of each thumbnail in pixels.
    """
    path = Path(path)
    if len(pairs) > max_tiles:
        pick = np.linspace(0, len(pairs) - 1, max_tiles).round().astype(int)
        pairs = [pairs[i] for i in pick]
    cols = max(1, min(8, math.ceil(math.sqrt(len(pairs)))))
    rows = max(1, math.ceil(len(pairs) / cols))
    sheet = Image.new("RGB", (cols * tile, rows * (tile + CAPTION)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for n, (image_path, mask_path) in enumerate(pairs):
        labels = to_labels(read_mask(mask_path), lut)
        thumb = Image.fromarray(overlay_labels(read_image(image_path), labels, classes))
        thumb.thumbnail((tile, tile))
        x, y = (n % cols) * tile, (n // cols) * (tile + CAPTION)
        sheet.paste(thumb, (x + (tile - thumb.width) // 2, y + (tile - thumb.height) // 2))
        draw.text((x + 3, y + tile + 1), str(getattr(image_path, "name", image_path))[:30], fill=(230, 230, 230))
    if path.suffix.lower() != ".png":
        path = path.with_suffix(".png")
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
