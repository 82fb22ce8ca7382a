"""Mask encodings: how a mask file stores its classes, and turning each into class ids.

segcoder understands masks as people save them:

- binary masks, 0/255 or 0/1 (also 1-bit PNGs);
- index masks, 8 or 16 bit, one value per class id;
- palette (P-mode) PNGs, read as their palette indices;
- RGB or RGBA colour masks, mapped through the colours of ``classes.json``;
- colour masks saved as JPEG, each pixel mapped to the nearest class colour
  within :data:`JPEG_TOLERANCE`; pixels further off are counted and ignored.

Colour masks are handled as *codes*: each pixel's colour packed into one
integer ``r << 16 | g << 8 | b``, so a single lookup table maps gray values and
colours alike to training labels.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

# Largest Euclidean RGB distance from the nearest class colour at which a JPEG pixel still takes
# that class. The nearest colour decides the class; the tolerance only flags colours that are
# far from every class. Chroma subsampling moves edge pixels of quality-75 JPEGs by up to ~60
# (measured on 8-pixel blocks of saturated colours: 11% beyond 40, 1.6% beyond 64).
JPEG_TOLERANCE = 64.0

NO_COLOUR = 1 << 24  # the code of a value that has no colour (16-bit values among colour masks)
COLOUR_TABLE_SIZE = NO_COLOUR + 1  # one entry per packed RGB colour, and one for NO_COLOUR
VALUE_TABLE_SIZE = 1 << 16  # one entry per 16-bit mask value


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Pack uint8 (..., 3) colours into uint32 codes ``r << 16 | g << 8 | b``."""
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def unpack_rgb(codes: np.ndarray) -> np.ndarray:
    """The (..., 3) uint8 colours of packed codes."""
    codes = np.asarray(codes, dtype=np.uint32)
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=-1).astype(np.uint8)


def is_colour(codes: np.ndarray) -> bool:
    """Whether a mask array holds packed colours (uint32) rather than stored values."""
    return codes.dtype == np.uint32


def gray_codes(codes: np.ndarray) -> bool:
    """Whether every packed colour is a gray (r == g == b), e.g. a 0/255 mask saved as RGB."""
    rgb = unpack_rgb(codes)
    return bool(np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2]))


def as_gray_values(codes: np.ndarray) -> np.ndarray:
    """The gray value of gray packed colours (their blue byte)."""
    return (codes & 255).astype(np.uint8)


def as_gray_codes(values: np.ndarray) -> np.ndarray:
    """Gray values (0..255) as packed gray colours, so they can share a colour table."""
    return values.astype(np.uint32) * np.uint32(0x010101)


def nearest_colour(codes: np.ndarray, palette: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """For each packed colour, the index of the nearest palette colour and whether it is within ``tolerance``.

    Args:
        codes: packed colours, any shape.
        palette: (K, 3) uint8 class colours.
        tolerance: largest Euclidean RGB distance that still matches.
    """
    rgb = unpack_rgb(codes.ravel()).astype(np.int32)
    pal = np.asarray(palette, dtype=np.int32)
    best = np.zeros(rgb.shape[0], np.int64)
    best_d2 = np.full(rgb.shape[0], np.iinfo(np.int64).max, np.int64)
    for k, colour in enumerate(pal):  # K is small; this keeps memory at one distance vector
        d2 = ((rgb - colour) ** 2).sum(axis=-1).astype(np.int64)
        closer = d2 < best_d2
        best[closer], best_d2[closer] = k, d2[closer]
    within = best_d2 <= tolerance**2
    return best.reshape(codes.shape), within.reshape(codes.shape)


def describe_file(info, codes: np.ndarray) -> str:
    """A short name for how one mask file stores its classes (its distinct ``codes``)."""
    fmt, mode = info.format, info.mode
    if is_colour(codes):
        if gray_codes(codes):
            return _binary_or_index(as_gray_values(codes), f"gray saved as {mode if fmt != 'TIFF' else 'RGB'}")
        if fmt == "JPEG":
            return "JPEG colour"
        return "RGBA colour" if mode == "RGBA" else "RGB colour"
    if mode in ("P", "PA"):
        return "palette PNG (indices)"
    if fmt == "JPEG":
        return "JPEG gray"
    if mode == "1":
        return "binary 1-bit"
    bits = "16-bit" if mode.startswith("I") or mode in ("uint16", "int32", "uint32") else "8-bit"
    return _binary_or_index(codes, bits)


def _binary_or_index(values: np.ndarray, bits: str) -> str:
    found = set(np.asarray(values).tolist())
    if len(found) == 1:
        return f"one value ({bits})"  # an all-background mask fits any encoding; summarise() sets it aside
    if found <= {0, 255} and 255 in found:
        return "binary 0/255"
    if found <= {0, 1} and 1 in found:
        return "binary 0/1"
    return f"index {bits}"


def summarise(kinds: list[str]) -> str:
    """One line for a whole folder, e.g. ``binary 0/255`` or ``mixed: RGB colour (3), index 8-bit (1)``."""
    counts = Counter(kinds)
    informative = Counter({k: n for k, n in counts.items() if not k.startswith("one value")})
    if len(informative) == 1 or not informative:
        return next(iter(informative or counts))
    index = [k for k in informative if k.startswith("index")]
    if len(index) == 1:  # masks holding two classes of an index set are index masks too
        informative = Counter({index[0]: sum(n for k, n in informative.items() if k.startswith(("index", "binary")))}
                              | {k: n for k, n in informative.items() if not k.startswith(("index", "binary"))})
        if len(informative) == 1:
            return index[0]
    counts = informative
    return "mixed: " + ", ".join(f"{k} ({n})" for k, n in counts.most_common())
