"""Streamed output files: PNG, TIFF stack and .npy written band by band read back exactly, atomically."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from segcoder.outputs import OutputSet, output_paths, parse_save
from segcoder.errors import SegcoderError
from segcoder.writers import PngStream, RawStream


def bands(array, sizes):
    y = 0
    for n in sizes:
        yield y, array[y:y + n]
        y += n


@pytest.mark.parametrize("dtype, channels", [(np.uint8, 1), (np.uint16, 1), (np.uint8, 3)])
def test_png_written_in_bands_reads_back_exactly(tmp_path, dtype, channels):
    rng = np.random.default_rng(0)
    shape = (37, 53) + ((channels,) if channels > 1 else ())
    array = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    out = PngStream(tmp_path / "a.png", 37, 53, channels, dtype)
    for y0, rows in bands(array, [10, 1, 20, 6]):
        out.write_rows(0, y0, rows)
    assert not (tmp_path / "a.png").exists()  # nothing at the target until committed
    out.commit()
    with Image.open(tmp_path / "a.png") as im:
        np.testing.assert_array_equal(np.array(im), array)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary left


@pytest.mark.parametrize("suffix", [".tif", ".npy"])
def test_raw_stack_written_in_bands_reads_back_exactly(tmp_path, suffix):
    rng = np.random.default_rng(1)
    stack = rng.random((3, 20, 9, 4)).astype(np.float16)
    out = RawStream(tmp_path / f"p{suffix}", 3, 20, 9, 4, np.float16)
    for page in (2, 0, 1):  # any order of pages; bands within a page
        for y0, rows in bands(stack[page], [7, 13]):
            out.write_rows(page, y0, rows)
    out.commit()
    back = np.load(tmp_path / "p.npy") if suffix == ".npy" else tifffile.imread(tmp_path / "p.tif")
    assert back.dtype == np.float16
    np.testing.assert_array_equal(back, stack)


def test_discarded_and_unfinished_outputs_leave_nothing(tmp_path):
    out = PngStream(tmp_path / "a.png", 10, 10, 1)
    out.write_rows(0, 0, np.zeros((4, 10), np.uint8))
    with pytest.raises(ValueError, match="4 of 10 rows"):
        out.commit()
    out.discard()
    raw = RawStream(tmp_path / "b.tif", 2, 10, 10, 1, np.uint8)
    raw.discard()
    assert list(tmp_path.iterdir()) == []


def test_output_set_writes_every_kind_for_stacks_and_images(tmp_path):
    from segcoder.data.classes import ClassMap

    classes = ClassMap.from_dict({"classes": [{"id": 0, "color": [0, 0, 0]}, {"id": 255, "color": [255, 0, 0]}]})
    logits = np.linspace(-2, 2, 6 * 5).reshape(6, 5, 1).astype(np.float32)
    image = np.full((6, 5, 1), 0.5, np.float32)
    for stack in (False, True):
        paths = output_paths(tmp_path, f"s{stack}", parse_save("index,color,overlay,prob"), stack, "npy")
        outputs = OutputSet(paths, classes, 2 if stack else 1, 6, 5)
        for page in range(2 if stack else 1):
            outputs.write(page, 0, logits[:4], image[:4])
            outputs.write(page, 4, logits[4:], image[4:])
        outputs.commit()
    expected = np.where(logits[..., 0] > 0, 255, 0)
    with Image.open(tmp_path / "sFalse_mask.png") as im:
        np.testing.assert_array_equal(np.array(im), expected)
    mask_stack = tifffile.imread(tmp_path / "sTrue_mask.tif")
    assert mask_stack.shape == (2, 6, 5)
    np.testing.assert_array_equal(mask_stack[1], expected)
    assert tifffile.imread(tmp_path / "sTrue_overlay.tif").shape == (2, 6, 5, 3)
    prob = np.load(tmp_path / "sTrue_prob.npy")
    assert prob.shape == (2, 6, 5, 2) and prob.dtype == np.float16
    np.testing.assert_allclose(prob[0, ..., 1], 1 / (1 + np.exp(-logits[..., 0])), atol=1e-3)
    with pytest.raises(SegcoderError, match="--save"):
        parse_save("index,heatmap")
