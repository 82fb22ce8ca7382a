"""Sliding-window maths: where the tiles go, how they are weighted, and how their logits are blended.

An image is covered with overlapping square tiles (reflected where they
overhang its edge), and each pixel's logits are the Gaussian-weighted mean of the tiles that cover it, so
tile edges (where a network sees least context) count least and no seam shows.

Rows come out top to bottom as soon as no later tile can touch them, so only
one band of ``tile`` rows is ever held in memory, whatever the image height.

Example:
    >>> grid = plan_tiles(1000, 1500, tile=256, overlap=0.25, stride=16)
    >>> bands = blend(grid, lambda coords: predict(extract_tiles(raw, grid, coords)), batch_size=8)
    >>> logits = np.concatenate([rows for _, rows in bands])   # (1000, 1500, K)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from segcoder.errors import SegcoderError

# Gaussian sigma as a share of the tile side (the value nnU-Net uses).
SIGMA_SCALE = 1.0 / 8
# Floor on the weights, so a pixel seen only by tile corners still gets a finite, exact mean.
MIN_WEIGHT = 1e-6


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of one image go, in the coordinates of the reflect-padded image."""

    height: int  # image size
    width: int
    tile: int  # tile side
    margin: int  # reflect padding above and left of the image
    ys: tuple[int, ...]  # tile tops, increasing
    xs: tuple[int, ...]  # tile lefts, increasing
    padded_height: int
    padded_width: int

    @property
    def count(self) -> int:
        return len(self.ys) * len(self.xs)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _starts(padded: int, tile: int, step: int, stride: int) -> tuple[int, ...]:
    """Evenly spread tile starts from 0 to ``padded - tile``, on multiples of ``stride``, at most ``step`` apart."""
    span = padded - tile
    n = -(-span // step) + 1 if span > 0 else 1
    # Keeping starts on the stride keeps every tile's pooling grid aligned with the whole image's.
    cells = np.linspace(0, span // stride, n)
    starts = sorted({int(v) * stride for v in np.round(cells)})
    return tuple(starts)


def plan_tiles(
    height: int, width: int, tile: int, overlap: float = 0.25, stride: int = 1, margin: int = 0,
) -> TileGrid:
    """Lay overlapping ``tile`` x ``tile`` windows over a ``height`` x ``width`` image.

    Where the tiles overhang the image (rounding up to the stride, an image smaller than a tile)
    the overhang is the image reflected, never zeros.

    Args:
        height, width: image size in pixels.
        tile: tile side; a multiple of ``stride``.
        overlap: share of the tile side that neighbouring tiles share, in [0, 1).
        stride: the network's total downsampling; margins and tile starts are multiples of it.
        margin: reflected context added around the whole image (rounded up to the stride). The
            default 0 sees the image border as whole-image prediction does, so the two agree there.
    """
    if tile < stride or tile % stride:
        raise SegcoderError(f"--tile must be a positive multiple of {stride} (the model's stride), not {tile}")
    if not 0.0 <= overlap < 1.0:
        raise SegcoderError(f"--overlap must be at least 0 and below 1, not {overlap}")
    if height < 1 or width < 1:
        raise SegcoderError(f"cannot tile an image of {height}x{width} pixels")
    shared = int(round(tile * overlap))
    step = max(stride, tile - shared)
    margin = _round_up(max(0, margin), stride)
    padded_h = max(tile, _round_up(height + 2 * margin, stride))
    padded_w = max(tile, _round_up(width + 2 * margin, stride))
    return TileGrid(
        height, width, tile, margin,
        _starts(padded_h, tile, step, stride), _starts(padded_w, tile, step, stride), padded_h, padded_w,
    )


def reflect_index(length: int, before: int, padded: int) -> np.ndarray:
    """Source index of each padded position: ``before`` reflected rows/columns first, reflected again past the end."""
    after = padded - length - before
    mode = "reflect" if length > 1 else "edge"
    return np.pad(np.arange(length), (before, after), mode=mode)


def extract_tiles(source: np.ndarray, grid: TileGrid, coords) -> np.ndarray:
    """The tiles at ``coords`` (padded-image (y, x) tops) of a (H, W, C) array, reflect-padded on the fly.

    Indexing the source through reflected indices avoids ever building the padded image.
    """
    rows = reflect_index(grid.height, grid.margin, grid.padded_height)
    cols = reflect_index(grid.width, grid.margin, grid.padded_width)
    t = grid.tile
    return np.stack([source[np.ix_(rows[y:y + t], cols[x:x + t])] for y, x in coords])


def gaussian_weights(tile: int, sigma_scale: float = SIGMA_SCALE) -> np.ndarray:
    """A (tile, tile) float64 weight map peaking at 1 in the centre and falling towards the edges."""
    centre = (np.arange(tile) + 0.5 - tile / 2) / (sigma_scale * tile)
    g = np.exp(-0.5 * centre**2)
    weights = np.outer(g, g)
    return np.maximum(weights / weights.max(), MIN_WEIGHT)


def blend(
    grid: TileGrid,
    predict: Callable[[list[tuple[int, int]]], np.ndarray],
    batch_size: int = 4,
    on_tiles: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, rows)`` bands of blended logits (float32, image coordinates), top to bottom.

    Args:
        grid: the tile layout from :func:`plan_tiles`.
        predict: maps a list of padded-image tile tops to logits (N, tile, tile, K).
        batch_size: tiles per ``predict`` call (within one row of tiles).
        on_tiles: called with the number of tiles just predicted (progress).

    Sums run in float64 so that blending is exact: identical tile logits give back exactly those values.
    """
    t, m = grid.tile, grid.margin
    weights = gaussian_weights(t)
    acc = None  # weighted logits of padded rows [y, y + t)
    wsum = np.zeros((t, grid.padded_width), np.float64)
    emitted = 0  # image rows handed out so far
    for i, y in enumerate(grid.ys):
        coords = [(y, x) for x in grid.xs]
        for start in range(0, len(coords), batch_size):
            chunk = coords[start:start + batch_size]
            logits = np.asarray(predict(chunk))
            if acc is None:
                acc = np.zeros((t, grid.padded_width, logits.shape[-1]), np.float64)
            for (_, x), tile_logits in zip(chunk, logits):
                acc[:, x:x + t] += tile_logits * weights[..., None]
                wsum[:, x:x + t] += weights
            if on_tiles is not None:
                on_tiles(len(chunk))
        # Padded rows above the next tile's top are final: no later tile reaches them.
        done = (grid.ys[i + 1] if i + 1 < len(grid.ys) else grid.padded_height) - y
        first, last = max(emitted, y - m), min(grid.height, y + done - m)
        if last > first:
            a, b = first + m - y, last + m - y
            rows = acc[a:b, m:m + grid.width] / wsum[a:b, m:m + grid.width, None]
            yield first, rows.astype(np.float32)
            emitted = last
        acc[:t - done], wsum[:t - done] = acc[done:], wsum[done:]
        acc[t - done:], wsum[t - done:] = 0.0, 0.0
