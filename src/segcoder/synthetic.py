"""A small synthetic segmentation dataset: textured backgrounds with circles, rectangles and triangles.

It needs no network and no files outside the package, so the demo and the
tests can always run. Each shape class has its own colour cast, but colours
vary and overlap with noise, so the network has to use shape and context too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASSES = {
    "name": "segcoder synthetic shapes",
    "classes": [
        {"id": 0, "name": "background", "color": [40, 40, 40]},
        {"id": 1, "name": "circle", "color": [230, 60, 60]},
        {"id": 2, "name": "rectangle", "color": [60, 200, 80]},
        {"id": 3, "name": "triangle", "color": [70, 110, 240]},
    ],
}
_TINTS = {1: (0.9, 0.45, 0.4), 2: (0.45, 0.85, 0.45), 3: (0.4, 0.5, 0.9)}


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Gray texture: smooth blobs plus stripes of random frequency and angle."""
    coarse = rng.random((size // 8 + 2, size // 8 + 2))
    blobs = np.array(Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)) / 255.0
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle, freq = rng.uniform(0, np.pi), rng.uniform(4, 14)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
    gray = 0.25 + 0.35 * blobs + 0.15 * stripes
    return np.repeat(gray[..., None], 3, axis=-1)


def make_sample(rng: np.random.Generator, size: int = 96, max_shapes: int = 4):
    """One RGB uint8 image and its uint8 index mask."""
    image = _background(rng, size)
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(rng.integers(1, max_shapes + 1)):
        kind = int(rng.integers(1, 4))
        r = rng.uniform(0.08, 0.2) * size
        cx, cy = rng.uniform(r, size - r, size=2)
        if kind == 1:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=kind)
        elif kind == 2:
            w, h = r * rng.uniform(0.7, 1.3), r * rng.uniform(0.7, 1.3)
            draw.rectangle([cx - w, cy - h, cx + w, cy + h], fill=kind)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=kind)
    labels = np.array(mask)
    for kind, tint in _TINTS.items():
        shade = rng.uniform(0.5, 1.0)
        image[labels == kind] = np.array(tint) * shade
    image += rng.normal(0, 0.06, image.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), labels


def write_dataset(root: str | Path, n_train: int = 48, n_val: int = 12, size: int = 96, seed: int = 0) -> Path:
    """Write ``train/`` and ``val/`` image/mask folders and ``classes.json`` under ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in (("train", n_train), ("val", n_val)):
        for sub in ("images", "masks"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            image, labels = make_sample(rng, size)
            Image.fromarray(image).save(root / split / "images" / f"shape{i:03d}.png")
            Image.fromarray(labels).save(root / split / "masks" / f"shape{i:03d}.png")
    (root / "classes.json").write_text(json.dumps(CLASSES, indent=2) + "\n")
    return root
