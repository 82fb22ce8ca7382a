"""On real ISBI slices, tiled prediction agrees with whole-image prediction and shows no seam."""

from __future__ import annotations

import numpy as np
import pytest

import segcoder
from segcoder.tiling import plan_tiles


def edge_band(grid, length: int, starts, width: int = 2) -> np.ndarray:
    """True for image rows (or columns) within ``width`` pixels of an inner tile edge."""
    near = np.zeros(length, bool)
    for s in starts:
        for edge in (s - grid.margin, s + grid.tile - grid.margin):
            if 0 < edge < length:
                near[max(0, edge - width):edge + width] = True
    return near


def check_no_seam(seg, image, tile, overlap=0.25):
    """Disagreement with the whole-image prediction is not concentrated on tile edges, nor are logit jumps.

    Returns the share of pixels where tiled and whole agree.
    """
    h, w = image.shape[:2]
    whole = seg.predict_logits(image, tile=None)[..., 0]
    tiled = seg.predict_logits(image, tile=tile, overlap=overlap)[..., 0]
    agree = (whole > 0) == (tiled > 0)
    grid = plan_tiles(h, w, tile, overlap, seg.stride)
    assert grid.count >= 9
    border = edge_band(grid, h, grid.ys)[:, None] | edge_band(grid, w, grid.xs)[None, :]
    assert 0.05 < border.mean() < 0.5
    assert agree[border].mean() >= agree[~border].mean() - 0.005
    jumps = np.abs(np.diff(tiled, axis=1))
    at_edges = edge_band(grid, w - 1, grid.xs, width=1)
    assert jumps[:, at_edges].mean() <= 1.2 * jumps[:, ~at_edges].mean()
    return agree.mean()


def test_no_seam_on_a_real_image(tiny_run, isbi):
    """Fast: the tiny synthetic model on an ISBI crop, many small tiles."""
    from segcoder.data.io import read_image

    seg = segcoder.load(tiny_run)
    image = read_image(isbi / "test/images/slice05.png")[:192, :256]
    check_no_seam(seg, image, tile=64)


@pytest.fixture(scope="module")
def isbi_run(isbi, tmp_path_factory):
    """A small U-Net trained on ISBI membranes for a few minutes of CPU (a real model, not a random one)."""
    from segcoder.config import RunConfig
    from segcoder.train import train

    config = RunConfig().override(**{
        "data.images": str(isbi / "train/images"), "data.masks": str(isbi / "train/masks"),
        "data.val_split": 0.05, "data.crop_size": 96, "data.workers": 1,
        "model.depth": 2, "model.filters": 8, "train.epochs": 3, "train.batch_size": 8,
        "train.steps_per_epoch": 10, "train.learning_rate": 0.01,
    })
    out = tmp_path_factory.mktemp("isbi") / "run"
    result = train(config, out, verbose=0)
    assert result.metrics["mean_iou"] > 0.5  # it finds membranes: the agreement below is not luck
    return out


@pytest.mark.slow
def test_tiled_and_whole_agree_on_995_percent_of_a_real_slice(isbi_run, isbi):
    from segcoder.data.io import read_image

    seg = segcoder.load(isbi_run)
    for name in ("slice05", "slice17"):
        image = read_image(isbi / f"test/images/{name}.png")  # 512x512: fits whole, tiled with tile 128
        assert check_no_seam(seg, image, tile=128) >= 0.995
