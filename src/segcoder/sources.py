"""Prediction inputs: image files, folders, and multi-page TIFF stacks, read as raw pixels.

Pixels stay in their stored dtype (8 or 16 bit) until a tile is cut out, so a
very large image costs one byte per pixel in memory, not four.

Example:
    >>> source = open_source("volume.tif")       # a 30-page stack
    >>> source.pages, source.height, source.width
    (30, 512, 512)
    >>> raw = read_page(source, 0)                # (512, 512, 1) uint8
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcoder.data.io import IMAGE_SUFFIXES, image_size, read_raw
from segcoder.data.tiff import Page, is_tiff, page_count
from segcoder.errors import SegcoderError


@dataclass(frozen=True)
class Source:
    """One input file: a single image (``stack`` False) or a stack of ``pages`` same-size images."""

    path: Path
    pages: int
    height: int
    width: int
    stack: bool


def expand_inputs(inputs) -> list[Path]:
    """Files as given, and the image files inside each folder, in order."""
    from segcoder.data.pairs import list_images

    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(list_images(path, "images"))
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise SegcoderError(f"{path}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
            found.append(path)
        else:
            raise SegcoderError(f"{path}: input not found; give image files or folders")
    if not found:
        raise SegcoderError("no input images given")
    return found


def open_source(path: str | Path) -> Source:
    """Read only the header of ``path``: its page count and size.

    Raises SegcoderError when the file cannot be read.
    """
    path = Path(path)
    pages = page_count(path) if is_tiff(path) and path.is_file() and path.stat().st_size > 0 else 1
    if pages > 1:
        h, w = image_size(Page(path, 0))
        return Source(path, pages, h, w, True)
    h, w = image_size(path)
    return Source(path, 1, h, w, False)


def read_page(source: Source, index: int = 0) -> np.ndarray:
    """The raw pixels (H, W, C) of page ``index``, in the file's own dtype (floats clipped to [0, 1])."""
    # Stored pixels, not read_image's float32, which would quadruple the memory of a huge image.
    array, _ = read_raw(Page(source.path, index) if source.stack else source.path)
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype.kind == "f":
        array = np.clip(np.nan_to_num(array, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0).astype(np.float32)
    return array


def pixel_scale(raw: np.ndarray) -> float:
    """What divides the stored values to give [0, 1], as :func:`segcoder.data.io.read_image` does in training."""
    if raw.dtype == np.uint8:
        return 255.0
    if raw.dtype == np.uint16:
        return 65535.0
    if raw.dtype.kind in "iu":
        return 65535.0 if raw.dtype.itemsize > 1 and raw.max(initial=0) > 255 else 255.0
    return 1.0  # bool and float (already in [0, 1])
