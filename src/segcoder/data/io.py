"""Reading images and masks from disk into NumPy arrays, with clear errors.

Images come back as float32 (H, W, C) in [0, 1] with C = 1 or 3. Masks come
back as the codes :mod:`segcoder.data.encodings` explains: the stored integer
values (H, W) for gray, index and palette masks, packed RGB colours (uint32)
for colour masks.

Every decoder failure (truncated, empty, not an image, a decompression bomb,
an unsupported mode) becomes a :class:`SegcoderError` naming the file. EXIF
orientation is applied to images and masks alike, so they stay aligned.
A source is a path or a :class:`~segcoder.data.tiff.Page` of a TIFF stack.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from segcoder.data.encodings import pack_rgb
from segcoder.data.tiff import MAX_PIXELS, Page, is_tiff, read_tiff, tiff_size
from segcoder.errors import SegcoderError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# Pillow may only try the decoders of the suffixes segcoder lists: random bytes must not
# pass for one of the many exotic formats Pillow knows.
_PIL_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")

# Pillow refuses headers above twice this with DecompressionBombError; we check the exact limit ourselves.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a half-gray image

_GRAY_MODES = ("L", "I;16", "I;16B", "I;16L", "I", "F")
_COLOUR_MODES = ("RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")


@dataclass(frozen=True)
class FileInfo:
    """How a file stores its pixels: what ``data verify`` reports as the encoding."""

    format: str  # PNG, JPEG, BMP or TIFF
    mode: str  # Pillow mode (L, P, RGB, I;16, ...) or the TIFF sample type (uint8, uint16, ...)
    rotated: bool = False  # an EXIF orientation was applied


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise SegcoderError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise SegcoderError(f"{path}: the file is empty (0 bytes); replace or remove it")


def _decode(source, mask: bool) -> tuple[np.ndarray, FileInfo]:
    """Decode ``source`` to an array, turning every decoder failure into a SegcoderError."""
    if isinstance(source, Page):
        _check_file(source.path)
        array = read_tiff(source)
        return array, FileInfo("TIFF", str(array.dtype))
    path = Path(source)
    _check_file(path)
    if is_tiff(path):
        array = read_tiff(path)
        return array, FileInfo("TIFF", str(array.dtype))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data": the pixels may still be fine
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=_PIL_FORMATS) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise SegcoderError(
                        f"{path}: claims {im.width}x{im.height} pixels, more than segcoder reads; "
                        "split it into tiles or check the file"
                    )
                fmt = im.format or "?"
                orientation = im.getexif().get(0x0112, 1)
                im = ImageOps.exif_transpose(im)
                return _pil_to_array(im, path, mask), FileInfo(fmt, im.mode, orientation not in (1, None))
    except SegcoderError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SegcoderError(f"{path}: not a readable image ({exc.__class__.__name__}); replace or remove it") from None
    except MemoryError:
        raise SegcoderError(f"{path}: the image does not fit in memory; split it into tiles") from None
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error, ... on bad bytes
        raise SegcoderError(f"{path}: unreadable or truncated image ({exc.__class__.__name__}: {exc}); "
                            "replace or remove it") from None


def _pil_to_array(im: Image.Image, path: Path, mask: bool) -> np.ndarray:
    """Pixels of an opened image: gray as (H, W), colour as (H, W, 3); palettes as indices for masks only."""
    mode = im.mode
    if mode == "1":
        array = np.array(im.convert("L"))
        if mask:
            array = (array > 0).astype(np.uint8)  # a 1-bit mask holds classes 0 and 1
    elif mode in _GRAY_MODES:
        array = np.array(im)
    elif mode == "LA":
        array = np.array(im.convert("L"))
    elif mode in ("P", "PA"):
        # A palette mask stores class indices; a palette image stores colours.
        array = np.array(im.getchannel(0) if mode == "PA" else im) if mask else np.array(im.convert("RGB"))
    elif mode in _COLOUR_MODES:
        array = np.array(im.convert("RGB"))
    else:
        raise SegcoderError(f"{path}: unsupported image mode '{mode}'; save it as 8/16-bit gray or RGB")
    if array.size == 0:
        raise SegcoderError(f"{path}: the image has no pixels; replace or remove it")
    if array.ndim == 3 and array.shape[-1] != 3:
        raise SegcoderError(f"{path}: {array.shape[-1]} channels in mode '{mode}'; save it as gray or RGB")
    return array


def read_raw(path) -> tuple[np.ndarray, FileInfo]:
    """The stored pixels of an image, (H, W) or (H, W, 3) in the file's own dtype, and how the file stores them.

    The checks and errors of :func:`read_image` without its float conversion, for callers that
    keep 8/16-bit pixels to save memory (palette images give their colours).
    """
    return _decode(path, mask=False)


def read_image(path) -> np.ndarray:
    """Read an image as float32 (H, W, C) scaled to [0, 1]; alpha is dropped.

    Args:
        path: an image file or a :class:`~segcoder.data.tiff.Page` of a TIFF stack.

    Example:
        >>> read_image("slice00.png").shape
        (512, 512, 1)
    """
    return read_image_info(path)[0]


def read_image_info(path) -> tuple[np.ndarray, FileInfo]:
    """Read an image as :func:`read_image` does, together with how the file stores it."""
    array, info = _decode(path, mask=False)
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype == np.uint8:
        scale = 255.0
    elif array.dtype.kind in "iu":
        scale = 65535.0 if array.dtype.itemsize > 1 and (array.dtype == np.uint16 or array.max(initial=0) > 255) else 255.0
    else:  # bool and float images are taken as they are, clipped to [0, 1] below
        scale = 1.0
    image = array.astype(np.float32) / scale
    image = np.nan_to_num(image, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(image, 0.0, 1.0, out=image), info


def read_mask_info(path) -> tuple[np.ndarray, FileInfo]:
    """Read a mask as codes (see :func:`read_mask`) together with how the file stores them."""
    array, info = _decode(path, mask=True)
    if array.ndim == 3:
        if array.dtype != np.uint8:
            if array.dtype.kind not in "iu" or array.min(initial=0) < 0 or array.max(initial=0) > 255:
                raise SegcoderError(f"{path}: a {array.dtype} colour mask; colour masks must be 8-bit RGB")
            array = array.astype(np.uint8)
        return pack_rgb(array), info
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise SegcoderError(f"{path}: mask holds fractional values; masks must hold class ids")
    if array.min(initial=0) < 0 or array.max(initial=0) > 65535:
        raise SegcoderError(f"{path}: mask values outside 0..65535; masks must hold class ids")
    return array.astype(np.uint16 if array.max(initial=0) > 255 else np.uint8), info


def read_mask(path) -> np.ndarray:
    """Read a mask as codes, shape (H, W).

    Gray, index (8/16 bit) and palette masks give their stored values (uint8
    or uint16; palette PNGs their indices). Colour masks (RGB, RGBA, JPEG)
    give packed colours ``r << 16 | g << 8 | b`` as uint32, which
    :func:`segcoder.data.masks.label_table` maps through the class colours.

    Args:
        path: a mask file or a :class:`~segcoder.data.tiff.Page` of a TIFF stack.
    """
    return read_mask_info(path)[0]


def image_size(path) -> tuple[int, int]:
    """(height, width) of an image file, after EXIF orientation, reading only its header where possible."""
    if isinstance(path, Page) or is_tiff(Path(path)):
        if isinstance(path, Page):
            _check_file(path.path)
        else:
            _check_file(Path(path))
        return tiff_size(path)
    path = Path(path)
    try:
        with warnings.catch_warnings(), Image.open(path, formats=_PIL_FORMATS) as im:
            warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": the size may still be right
            if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # these orientations swap width and height
                return im.width, im.height
            return im.height, im.width
    except Exception:
        array, _ = _decode(path, mask=False)
        return array.shape[0], array.shape[1]
