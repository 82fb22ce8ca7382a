"""Test-time augmentation: every view is mapped back before averaging, and it reaches the Segmenter API."""

from __future__ import annotations

import numpy as np
import pytest

from segcoder.errors import SegcoderError
from segcoder.tta import TTA_VIEWS, tta_logits


@pytest.mark.parametrize("mode", ["none", "flip", "d4"])
def test_views_are_undone_before_averaging(mode):
    """A model that returns its input gives back the input exactly, whatever the views."""
    batch = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype(np.float32)
    calls = []

    def model(x):
        calls.append(x.shape)
        return x * 2.0

    np.testing.assert_allclose(tta_logits(model, batch, mode), batch * 2.0, rtol=1e-6)
    assert len(calls) == len(TTA_VIEWS[mode]) == {"none": 1, "flip": 4, "d4": 8}[mode]


@pytest.mark.parametrize("mode, views", [("flip", 4), ("d4", 8)])
def test_a_position_bias_averages_out(mode, views):
    """A model biased to the left (logit = column index) loses the bias once the flips are averaged."""
    batch = np.zeros((1, 8, 8, 1), np.float32)
    ramp = np.arange(8, dtype=np.float32)[None, None, :, None] * np.ones((1, 8, 8, 1), np.float32)
    out = tta_logits(lambda x: ramp[:, : x.shape[1], : x.shape[2]], batch, mode)
    np.testing.assert_allclose(out, np.full_like(out, 3.5))


def test_rotations_keep_non_square_images_in_place():
    batch = np.random.default_rng(1).normal(size=(1, 8, 24, 1)).astype(np.float32)
    out = tta_logits(lambda x: x + 1.0, batch, "d4")
    assert out.shape == batch.shape
    np.testing.assert_allclose(out, batch + 1.0, rtol=1e-6)


def test_segmenter_takes_tta_as_an_argument(tiny_run, synthetic_data):
    import segcoder
    from segcoder.data.io import read_image

    seg = segcoder.load(tiny_run)
    image = read_image(sorted((synthetic_data / "val/images").iterdir())[0])
    plain = seg.predict_logits(image)
    flipped = seg.predict_logits(image, tta="flip")
    by_hand = np.mean([
        seg.predict_logits(image),
        seg.predict_logits(image[:, ::-1])[:, ::-1],
        seg.predict_logits(image[::-1])[::-1],
        seg.predict_logits(image[::-1, ::-1])[::-1, ::-1],
    ], axis=0)
    np.testing.assert_allclose(flipped, by_hand, atol=1e-5)
    assert not np.allclose(flipped, plain, atol=1e-4)  # the views really differ
    labels = seg.predict_labels(image, tta="d4")
    assert labels.shape == image.shape[:2] and labels.max() < seg.classes.num_classes
    with pytest.raises(SegcoderError, match="--tta"):
        seg.predict(image, tta="rotate")
