"""Reading images and masks from disk into NumPy arrays, with clear errors.

Images come back as float32 (H, W, C) in [0, 1] with C = 1 or 3; masks as the
integer values stored in the file, shape (H, W).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from segcoder.errors import SegcoderError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# A header claiming more pixels than this is refused before decoding (decompression bombs).
MAX_PIXELS = 40000 * 40000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def _open_pixels(path: Path) -> np.ndarray:
    """Decode ``path`` to an array, turning every decoder failure into a SegcoderError."""
    path = Path(path)
    if not path.is_file():
        raise SegcoderError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise SegcoderError(f"{path}: the file is empty (0 bytes); replace or remove it")
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise SegcoderError(
                        f"{path}: claims {im.width}x{im.height} pixels, more than segcoder reads; "
                        "split it into tiles or check the file"
                    )
                im = ImageOps.exif_transpose(im)
                return _pil_to_array(im, path)
    except SegcoderError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SegcoderError(f"{path}: not a readable image ({exc.__class__.__name__}); replace or remove it") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise SegcoderError(f"{path}: unreadable or truncated image ({exc}); replace or remove it") from None


def _pil_to_array(im: Image.Image, path: Path) -> np.ndarray:
    mode = im.mode
    if mode in ("1", "L", "P", "RGB", "I;16", "I;16B", "I;16L", "I", "F"):
        if mode == "1":
            im = im.convert("L")
        array = np.array(im)
    elif mode in ("RGBA", "LA", "RGBX"):
        array = np.array(im.convert("RGB" if mode != "LA" else "L"))
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "PA"):
        array = np.array(im.convert("RGB"))
    else:
        raise SegcoderError(f"{path}: unsupported image mode '{mode}'; save it as 8/16-bit gray or RGB")
    if array.size == 0:
        raise SegcoderError(f"{path}: the image has no pixels; replace or remove it")
    return array


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if int(np.prod(page.shape)) > MAX_PIXELS * 4:
                raise SegcoderError(f"{path}: the TIFF claims {page.shape}, more than segcoder reads")
            array = page.asarray()
    except SegcoderError:
        raise
    except Exception as exc:  # tifffile raises many types for broken files
        raise SegcoderError(f"{path}: unreadable TIFF ({exc.__class__.__name__}: {exc}); replace or remove it") from None
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # planar RGB
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 3)):
        raise SegcoderError(f"{path}: TIFF of shape {array.shape} is not a 2-D gray or RGB image")
    return array


def read_image(path: str | Path) -> np.ndarray:
    """Read an image as float32 (H, W, C) scaled to [0, 1]; alpha is dropped.

    Example:
        >>> read_image("slice00.png").shape
        (512, 512, 1)
    """
    array = _open_pixels(Path(path))
    if array.ndim == 2:
        array = array[..., None]
    if array.dtype == np.uint8:
        scale = 255.0
    elif array.dtype in (np.uint16, np.int32, np.uint32, np.int16):
        scale = 65535.0 if array.max(initial=0) > 255 or array.dtype == np.uint16 else 255.0
    elif array.dtype == bool:
        scale = 1.0
    else:  # float images are taken as they are, clipped to [0, 1] below
        scale = 1.0
    image = array.astype(np.float32) / scale
    return np.clip(image, 0.0, 1.0, out=image)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a mask as its stored integer values, shape (H, W)."""
    path = Path(path)
    array = _open_pixels(path)
    if array.ndim == 3:
        if array.shape[-1] == 1 or np.all(array == array[..., :1]):
            array = array[..., 0]  # gray saved as RGB
        else:
            raise SegcoderError(
                f"{path}: a colour mask; save masks as class indices (one value per class) "
                "or use a palette PNG"
            )
    if array.dtype.kind == "f":
        if not np.all(array == np.round(array)):
            raise SegcoderError(f"{path}: mask holds fractional values; masks must hold class ids")
        array = array.astype(np.int64)
    if array.dtype.kind in "iu" and (array.min(initial=0) < 0 or array.max(initial=0) > 65535):
        raise SegcoderError(f"{path}: mask values outside 0..65535; masks must hold class ids")
    return array.astype(np.uint16 if array.max(initial=0) > 255 else np.uint8)


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file, reading only its header where possible."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                shape = tif.pages[0].shape
            return int(shape[0]), int(shape[1])
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im) if im.getexif().get(0x0112, 1) != 1 else im
            return im.height, im.width
    except Exception:
        array = _open_pixels(path)
        return array.shape[0], array.shape[1]
