"""Reading TIFF files: single images and multi-page stacks of 2-D slices.

EM and microscopy volumes come as one multi-page TIFF (``train-volume.tif``
with ``train-labels.tif``). segcoder takes such a file wherever it takes a
folder of images: page ``i`` of the image stack pairs with page ``i`` of the
mask stack. A :class:`Page` names one slice so it can travel in the same
(image, mask) pairs as plain files.

Example:
    >>> for page in read_stack("train-volume.tif"):
    ...     page.shape
    (512, 512)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcoder.errors import SegcoderError

TIFF_SUFFIXES = (".tif", ".tiff")

# A header claiming more pixels than this is refused before decoding (decompression bombs):
# 2**28 pixels is 16384x16384, already 800 MB as RGB.
MAX_PIXELS = 1 << 28


@dataclass(frozen=True)
class Page:
    """Slice ``index`` (0-based) of the multi-page TIFF ``path``."""

    path: Path
    index: int

    @property
    def name(self) -> str:
        return f"{self.path.name}[page {self.index}]"

    @property
    def stem(self) -> str:
        return f"{self.path.stem}_{self.index:04d}"

    @property
    def suffix(self) -> str:
        return self.path.suffix

    def __str__(self) -> str:
        return f"{self.path}[page {self.index}]"


def is_tiff(path: Path) -> bool:
    return Path(path).suffix.lower() in TIFF_SUFFIXES


def _open(path: Path):
    import tifffile

    try:
        return tifffile.TiffFile(path)
    except Exception as exc:  # tifffile raises many types for broken files
        raise SegcoderError(f"{path}: unreadable TIFF ({exc.__class__.__name__}: {exc}); replace or remove it") from None


def _main_pages(tif) -> list:
    """The full-resolution pages, leaving out thumbnails and reduced-resolution copies."""
    pages = []
    for page in tif.pages:
        if not getattr(page, "is_reduced", False):
            pages.append(page)
    return pages


def _decode_page(page, where: str) -> np.ndarray:
    shape = tuple(int(s) for s in page.shape)
    if int(np.prod(shape, dtype=np.int64)) > MAX_PIXELS * 4:
        raise SegcoderError(f"{where}: the TIFF claims {shape} samples, more than segcoder reads; split it into tiles")
    try:
        array = page.asarray()
    except SegcoderError:
        raise
    except MemoryError:
        raise SegcoderError(f"{where}: the TIFF page does not fit in memory; split it into tiles") from None
    except Exception as exc:
        raise SegcoderError(f"{where}: unreadable TIFF ({exc.__class__.__name__}: {exc}); replace or remove it") from None
    return _as_2d(np.asarray(array), str(getattr(page, "axes", "")), where)


def _as_2d(array: np.ndarray, axes: str, where: str) -> np.ndarray:
    """A page as (H, W) or (H, W, 3); planar samples are moved to the last axis, alpha is dropped."""
    if array.ndim == 3 and axes.startswith("S"):
        array = np.moveaxis(array, 0, -1)  # planar RGB (samples stored plane by plane)
    array = np.squeeze(array) if array.ndim > 3 else array
    if array.ndim == 3 and array.shape[-1] in (2, 4):
        array = array[..., : array.shape[-1] - 1]  # gray+alpha or RGBA: drop alpha
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3) or array.size == 0:
        raise SegcoderError(f"{where}: TIFF page of shape {array.shape} is not a 2-D gray or RGB image")
    if array.dtype.kind not in "uifb":
        raise SegcoderError(f"{where}: TIFF sample type {array.dtype} is not supported; save it as 8/16-bit")
    return array


def page_count(path: str | Path) -> int:
    """Number of full-resolution pages of a TIFF file."""
    path = Path(path)
    with _open(path) as tif:
        try:
            return len(_main_pages(tif))
        except Exception as exc:
            raise SegcoderError(f"{path}: unreadable TIFF ({exc.__class__.__name__}); replace or remove it") from None


def read_tiff(source: Path | Page) -> np.ndarray:
    """One page as (H, W) or (H, W, 3) of its stored dtype.

    A plain path must hold a single page: a stack is refused, so that a volume
    never passes silently for its first slice.
    """
    path, index = (source.path, source.index) if isinstance(source, Page) else (Path(source), None)
    with _open(path) as tif:
        try:
            pages = _main_pages(tif)
        except Exception as exc:
            raise SegcoderError(f"{path}: unreadable TIFF ({exc.__class__.__name__}); replace or remove it") from None
        if not pages:
            raise SegcoderError(f"{path}: the TIFF holds no pages; replace or remove it")
        if index is None and len(pages) > 1:
            raise SegcoderError(
                f"{path}: a stack of {len(pages)} pages; give the file itself as --images/--masks "
                "(page i pairs with page i) instead of putting it in a folder"
            )
        if index is not None and not 0 <= index < len(pages):
            raise SegcoderError(f"{path}: has {len(pages)} pages, no page {index}")
        return _decode_page(pages[index or 0], str(source))


def tiff_size(source: Path | Page) -> tuple[int, int]:
    """(height, width) of one page, from its header."""
    path, index = (source.path, source.index) if isinstance(source, Page) else (Path(source), 0)
    with _open(path) as tif:
        try:
            page = _main_pages(tif)[index]
            shape = tuple(int(s) for s in page.shape)
        except Exception:
            return read_tiff(source).shape[:2]
    if len(shape) == 3 and str(getattr(page, "axes", "")).startswith("S"):
        shape = shape[1:]
    return shape[0], shape[1]


def stack_pages(path: str | Path) -> list[Page]:
    """Every page of a TIFF file as a :class:`Page`, in order."""
    path = Path(path)
    return [Page(path, i) for i in range(page_count(path))]


def read_stack(path: str | Path) -> Iterator[np.ndarray]:
    """Yield the pages of a multi-page TIFF one at a time, each (H, W) or (H, W, 3) of the stored dtype.

    Args:
        path: a TIFF file with one or more pages.

    Raises SegcoderError (naming the file and the page) for a broken file.
    """
    path = Path(path)
    with _open(path) as tif:
        try:
            pages = _main_pages(tif)
        except Exception as exc:
            raise SegcoderError(f"{path}: unreadable TIFF ({exc.__class__.__name__}); replace or remove it") from None
        for index, page in enumerate(pages):
            yield _decode_page(page, str(Page(path, index)))
