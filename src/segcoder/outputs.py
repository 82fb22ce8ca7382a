"""Prediction outputs: index mask, colour mask, overlay and probability maps, each written atomically.

A single image gives PNGs (``<stem>_mask.png``, ``_color.png``, ``_overlay.png``);
a multi-page TIFF stack gives TIFF stacks of the same length (``<stem>_mask.tif``
...). Probability maps are float16, ``<stem>_prob.tif`` or ``<stem>_prob.npy``,
with one channel per trained class. :class:`OutputSet` writes any of them band
by band (:mod:`segcoder.writers`), so a huge image is never held whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segcoder._atomic import atomic_path
from segcoder.data.classes import ClassMap
from segcoder.errors import SegcoderError
from segcoder.predict import label_values, logits_to_labels, logits_to_proba
from segcoder.writers import PngStream, RawStream

OUTPUT_KINDS = ("index", "color", "overlay", "prob")
DEFAULT_SAVE = ("index", "color", "overlay")
PROB_FORMATS = ("tif", "npy")
_SUFFIX = {"index": "mask", "color": "color", "overlay": "overlay", "prob": "prob"}


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
    """Write ``<stem>_mask.png`` (class ids), ``<stem>_color.png`` and ``<stem>_overlay.png`` for in-memory arrays."""
    colors = color_mask(values, classes)
    return [
        save_png(values, out_dir / f"{stem}_mask.png"),
        save_png(colors, out_dir / f"{stem}_color.png"),
        save_png(overlay(image, colors), out_dir / f"{stem}_overlay.png"),
    ]


def parse_save(save) -> tuple[str, ...]:
    """Output kinds from ``"index,color"`` or a list; raises SegcoderError on an unknown kind."""
    kinds = [k.strip() for k in save.split(",")] if isinstance(save, str) else list(save)
    bad = [k for k in kinds if k not in OUTPUT_KINDS]
    if bad or not kinds:
        raise SegcoderError(f"--save takes a comma-separated list of {', '.join(OUTPUT_KINDS)}, not '{save}'")
    return tuple(dict.fromkeys(kinds))


def output_paths(out_dir, stem: str, kinds, stack: bool, prob_format: str = "tif") -> dict[str, Path]:
    """Where each output kind of one input goes."""
    if prob_format not in PROB_FORMATS:
        raise SegcoderError(f"--prob-format must be tif or npy, not '{prob_format}'")
    image_suffix = ".tif" if stack else ".png"
    return {
        kind: Path(out_dir) / f"{stem}_{_SUFFIX[kind]}{'.' + prob_format if kind == 'prob' else image_suffix}"
        for kind in kinds
    }


class OutputSet:
    """The chosen outputs of one input (an image or a stack), fed band by band and committed together.

    Args:
        paths: kind -> target, from :func:`output_paths`.
        classes: the run's class list (mask values and colours).
        pages, height, width: size of the input.
    """

    def __init__(self, paths: dict[str, Path], classes: ClassMap, pages: int, height: int, width: int):
        self.classes = classes
        values = classes.values()
        self.value_dtype = np.uint16 if values.max() > 255 else np.uint8
        self.streams = {}
        try:
            for kind, path in paths.items():
                channels = {"index": 1, "color": 3, "overlay": 3, "prob": classes.num_classes}[kind]
                dtype = {"index": self.value_dtype, "prob": np.float16}.get(kind, np.uint8)
                if path.suffix == ".png":
                    self.streams[kind] = PngStream(path, height, width, channels, dtype)
                else:
                    self.streams[kind] = RawStream(path, pages, height, width, channels, dtype)
        except BaseException:
            self.discard()
            raise

    @property
    def needs_image(self) -> bool:
        return "overlay" in self.streams

    def write(self, page: int, y0: int, logits: np.ndarray, image: np.ndarray | None = None) -> None:
        """Write rows ``y0 ..`` of page ``page`` from their logits (and image rows in [0, 1], for the overlay)."""
        values = label_values(self.classes, logits_to_labels(logits))
        colors = color_mask(values, self.classes) if {"color", "overlay"} & set(self.streams) else None
        for kind, stream in self.streams.items():
            if kind == "index":
                rows = values
            elif kind == "color":
                rows = colors
            elif kind == "overlay":
                rows = overlay(image, colors)
            else:
                rows = logits_to_proba(logits)
            stream.write_rows(page, y0, rows)

    def commit(self) -> list[Path]:
        return [stream.commit() for stream in self.streams.values()]

    def discard(self) -> None:
        for stream in self.streams.values():
            stream.discard()
