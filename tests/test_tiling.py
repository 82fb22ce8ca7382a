"""Sliding-window maths: tile layout, reflect padding, Gaussian weights and exact blending."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segcoder.errors import SegcoderError
from segcoder.tiling import blend, extract_tiles, gaussian_weights, plan_tiles, reflect_index


def identity_blend(image, grid, batch_size=3):
    """Blend the tiles of ``image`` back with a model that returns its input."""
    bands = list(blend(grid, lambda coords: extract_tiles(image, grid, coords), batch_size))
    return bands, np.concatenate([rows for _, rows in bands])


def test_constant_image_is_reproduced_exactly():
    grid = plan_tiles(150, 230, tile=64, overlap=0.25, stride=8)
    assert grid.count > 6 and grid.margin == 0  # really tiled, with overlaps in both directions
    image = np.full((150, 230, 2), 0.3, np.float32)
    image[..., 1] = -7.125
    _, out = identity_blend(image, grid)
    np.testing.assert_array_equal(out, image)


def test_any_image_is_reproduced_exactly_and_bands_cover_each_row_once():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(97, 131, 3)).astype(np.float32)
    grid = plan_tiles(97, 131, tile=32, overlap=0.5, stride=4, margin=16)
    bands, out = identity_blend(image, grid)
    np.testing.assert_array_equal(out, image)
    starts = [y0 for y0, _ in bands]
    ends = [y0 + len(rows) for y0, rows in bands]
    assert starts[0] == 0 and ends[-1] == 97 and starts[1:] == ends[:-1]
    assert max(len(rows) for _, rows in bands) <= grid.tile  # only one band of rows held at a time


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 90), w=st.integers(1, 90), tile_cells=st.integers(1, 6),
    overlap=st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75]), stride=st.sampled_from([1, 4, 8]),
    margin=st.integers(0, 20),
)
def test_layout_covers_the_padded_image_on_the_stride(h, w, tile_cells, overlap, stride, margin):
    tile = tile_cells * stride * 2
    grid = plan_tiles(h, w, tile, overlap, stride, margin)
    assert grid.margin % stride == 0 and margin <= grid.margin < margin + stride
    for starts, padded, size in ((grid.ys, grid.padded_height, h), (grid.xs, grid.padded_width, w)):
        assert padded >= size + 2 * grid.margin - stride and padded >= tile
        assert starts[0] == 0 and starts[-1] == padded - tile
        assert all(s % stride == 0 for s in starts)
        gaps = np.diff(starts)
        assert np.all(gaps > 0) and np.all(gaps <= tile)  # no hole between neighbours
    image = np.arange(h * w, dtype=np.float32).reshape(h, w, 1)
    _, out = identity_blend(image, grid)
    np.testing.assert_array_equal(out, image)


def test_tiles_are_cut_from_the_reflect_padded_image():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (5, 7, 1), dtype=np.uint8)  # smaller than the margin: reflected again
    grid = plan_tiles(5, 7, tile=16, overlap=0.5, stride=4, margin=6)
    m = grid.margin
    assert m == 8
    padded = np.pad(image, ((m, grid.padded_height - 5 - m), (m, grid.padded_width - 7 - m), (0, 0)), mode="reflect")
    tiles = extract_tiles(image, grid, [(y, x) for y in grid.ys for x in grid.xs])
    expected = np.stack([padded[y:y + 16, x:x + 16] for y in grid.ys for x in grid.xs])
    np.testing.assert_array_equal(tiles, expected)
    assert tiles.dtype == np.uint8  # raw pixels stay raw until the model input is made
    np.testing.assert_array_equal(reflect_index(1, 2, 6), np.zeros(6, int))  # a 1-pixel side repeats


def test_gaussian_weights_favour_the_tile_centre():
    w = gaussian_weights(64)
    assert w.shape == (64, 64)
    np.testing.assert_allclose(w, w.T)
    np.testing.assert_allclose(w, w[::-1, ::-1])
    assert w.max() == pytest.approx(1.0, abs=1e-3) and w[32, 32] > 0.99
    assert 0 < w.min() < 1e-3  # edges count almost nothing, but never exactly nothing
    assert w[32, 0] < w[32, 16] < w[32, 31]


def test_blend_weights_each_tile_by_its_gaussian():
    """Tiles that disagree: across each overlap the answer moves smoothly from one tile's to the next's."""
    grid = plan_tiles(8, 48, tile=32, overlap=0.5, stride=8, margin=8)
    assert grid.ys == (0,) and len(grid.xs) == 3  # pixel x sits at padded column x + margin
    value = {x: float(i) for i, x in enumerate(grid.xs)}
    bands = blend(grid, lambda coords: np.stack([np.full((32, 32, 1), value[x]) for _, x in coords]))
    out = np.concatenate([rows for _, rows in bands])[0, :, 0]
    w = gaussian_weights(32)[16]
    for x in range(48):
        p = x + grid.margin
        near = [(w[p - s], value[s]) for s in grid.xs if s <= p < s + 32]
        expected = sum(a * v for a, v in near) / sum(a for a, _ in near)
        assert out[x] == pytest.approx(expected, abs=1e-6)
    assert np.all(np.diff(out) >= -1e-7) and out[0] < 0.5 and out[-1] > 1.5  # a ramp, no step


def test_bad_tile_options_are_user_errors():
    with pytest.raises(SegcoderError, match="multiple of 16"):
        plan_tiles(100, 100, tile=40, overlap=0.25, stride=16)
    with pytest.raises(SegcoderError, match="overlap"):
        plan_tiles(100, 100, tile=64, overlap=1.0, stride=16)
