"""Multi-page TIFF stacks (train-volume.tif with train-labels.tif) work wherever a folder of images does."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from segcoder.cli import main
from segcoder.data.io import read_image, read_mask
from segcoder.data.pairs import find_pairs
from segcoder.data.tiff import read_stack
from segcoder.data.verify import verify_data
from segcoder.errors import SegcoderError


def write_volume(root, pages: int = 4, size: int = 32, label_pages: int | None = None):
    """An EM-like gray volume and its 0/255 labels, as two multi-page TIFFs."""
    rng = np.random.default_rng(3)
    labels = np.zeros((label_pages or pages, size, size), np.uint8)
    for i in range(labels.shape[0]):
        labels[i, :, i * 4:i * 4 + 12] = 255  # a band that moves with the page index
    volume = (rng.random((pages, size, size)) * 100).astype(np.uint8)
    volume[: labels.shape[0]][labels[: pages] == 255] += 120
    tifffile.imwrite(root / "train-volume.tif", volume, photometric="minisblack")
    tifffile.imwrite(root / "train-labels.tif", labels, photometric="minisblack")
    return volume, labels


def test_stacks_pair_page_by_page(tmp_path):
    volume, labels = write_volume(tmp_path)
    pairs = find_pairs(tmp_path / "train-volume.tif", tmp_path / "train-labels.tif")
    assert [(a.index, b.index) for a, b in pairs] == [(i, i) for i in range(4)]
    image, mask = pairs[2]
    np.testing.assert_array_equal(read_mask(mask), labels[2])
    np.testing.assert_allclose(read_image(image)[..., 0], volume[2] / 255.0, atol=1e-6)
    assert mask.name == "train-labels.tif[page 2]"


def test_read_stack_yields_every_page(tmp_path):
    volume, _ = write_volume(tmp_path, pages=5)
    pages = list(read_stack(tmp_path / "train-volume.tif"))
    assert len(pages) == 5
    np.testing.assert_array_equal(np.stack(pages), volume)


def test_stack_in_a_folder_is_not_taken_for_its_first_page(tmp_path):
    write_volume(tmp_path)
    with pytest.raises(SegcoderError, match="a stack of 4 pages"):
        read_image(tmp_path / "train-volume.tif")


def test_verify_stacks_and_count_mismatch(tmp_path, capsys):
    write_volume(tmp_path)
    report = verify_data(tmp_path / "train-volume.tif", tmp_path / "train-labels.tif")
    assert report.usable, report.format()
    assert report.readable == 4 and report.encoding.startswith("binary 0/255")

    other = tmp_path / "other"
    other.mkdir()
    write_volume(other, pages=4, label_pages=3)
    code = main(["data", "verify", "--images", str(other / "train-volume.tif"),
                 "--masks", str(other / "train-labels.tif")])
    out = capsys.readouterr().out
    assert code == 2
    assert "train-volume.tif[page 3]: image without a mask" in out


def test_stack_and_folder_do_not_mix(tmp_path):
    write_volume(tmp_path)
    (tmp_path / "masks").mkdir()
    tifffile.imwrite(tmp_path / "masks" / "a.tif", np.zeros((4, 4), np.uint8))
    with pytest.raises(SegcoderError, match="pairs only with another stack"):
        find_pairs(tmp_path / "train-volume.tif", tmp_path / "masks")


def test_train_on_tiff_stacks(tmp_path):
    from tests.conftest import tiny_config

    from segcoder.train import train

    write_volume(tmp_path, pages=4)
    config = tiny_config(tmp_path, **{
        "data.images": str(tmp_path / "train-volume.tif"), "data.masks": str(tmp_path / "train-labels.tif"),
    })
    config.data.val_images = config.data.val_masks = config.data.classes = None  # hold out pages, find classes
    result = train(config, tmp_path / "run", verbose=0)
    assert result.metrics["images"] == 1  # 20% of 4 pages held out
