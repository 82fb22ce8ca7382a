"""Every mask encoding reads to the same class ids, in verify, convert, train and evaluate alike."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segcoder.data.classes import IGNORE_LABEL, ClassMap
from segcoder.data.dataset import load_pair
from segcoder.data.io import image_size, read_image, read_mask
from segcoder.data.masks import label_table, scan_pairs
from segcoder.data.pairs import find_pairs
from segcoder.data.verify import verify_data

CLASSES = {"name": "three", "classes": [
    {"id": 0, "name": "background", "color": [0, 0, 0]},
    {"id": 1, "name": "cat", "color": [200, 40, 40]},
    {"id": 2, "name": "dog", "color": [40, 180, 60]},
]}
COLOURS = np.array([c["color"] for c in CLASSES["classes"]], np.uint8)


def make_ids(seed: int, size: int = 32, k: int = 3) -> np.ndarray:
    """Class ids as blocks (JPEG keeps block interiors, so tolerance matching has something to do)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, k, (size // 8, size // 8))
    blocks[0, 0], blocks[0, 1], blocks[1, 0] = 0, 1, k - 1  # every class in every mask
    return np.kron(blocks, np.ones((8, 8), np.int64)).astype(np.uint8)


def write_set(root, encode, n: int = 3, suffix: str = ".png", classes=CLASSES):
    """Write n gray images and their masks, each mask made by ``encode(ids) -> PIL image``; return the ids."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    truth = {}
    for i in range(n):
        ids = make_ids(i)
        Image.fromarray((ids * 60 + 20).astype(np.uint8)).save(root / "images" / f"im{i}.png")
        im = encode(ids)
        im.save(root / "masks" / f"im{i}{suffix}", **({"quality": 75} if suffix == ".jpg" else {}))
        truth[f"im{i}"] = ids
    if classes is not None:
        (root / "classes.json").write_text(json.dumps(classes))
    return truth


def palette_png(ids):
    im = Image.fromarray(ids, mode="L").convert("P")
    im.putpalette(COLOURS[::-1].ravel().tolist() + [0] * (768 - 9))  # a palette unrelated to the class colours
    return im


ENCODINGS = {
    # name: (encoder, suffix, expected encoding in verify)
    "binary 0/255": (lambda ids: Image.fromarray(((ids > 0) * 255).astype(np.uint8)), ".png", "binary 0/255"),
    "binary 0/1": (lambda ids: Image.fromarray((ids > 0).astype(np.uint8)), ".png", "binary 0/1"),
    "index 8-bit": (lambda ids: Image.fromarray(ids), ".png", "index 8-bit"),
    "index 16-bit": (lambda ids: Image.fromarray(ids.astype(np.uint16) * 1000), ".png", "index 16-bit"),
    "palette": (palette_png, ".png", "palette PNG (indices)"),
    "rgb": (lambda ids: Image.fromarray(COLOURS[ids]), ".png", "RGB colour"),
    "rgba": (lambda ids: Image.fromarray(np.dstack([COLOURS[ids], np.full(ids.shape, 255, np.uint8)])), ".png",
             "RGBA colour"),
    "jpeg": (lambda ids: Image.fromarray(COLOURS[ids]), ".jpg", "JPEG colour"),
}


def expected_labels(name, ids):
    if name.startswith("binary"):
        return (ids > 0).astype(np.uint8)
    return ids


def classes_for(name):
    if name.startswith("binary"):
        return {"classes": [{"id": 0, "name": "bg"}, {"id": 1, "name": "fg"}]}
    if name == "index 16-bit":
        return {"classes": [{"id": 0, "name": "a"}, {"id": 1000, "name": "b"}, {"id": 2000, "name": "c"}]}
    return CLASSES


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_each_encoding_reads_to_class_labels(tmp_path, name):
    encode, suffix, kind = ENCODINGS[name]
    truth = write_set(tmp_path, encode, suffix=suffix, classes=classes_for(name))
    pairs = find_pairs(tmp_path / "images", tmp_path / "masks")
    cmap = ClassMap.load(tmp_path / "classes.json")
    lut = label_table(cmap, scan_pairs(pairs), tmp_path / "classes.json")
    for pair in pairs:
        _, labels = load_pair(pair, lut, 1)
        want = expected_labels(name, truth[pair[0].stem])
        if name == "jpeg":  # block interiors survive JPEG; edges may be off by the compression
            assert (labels == want).mean() > 0.97
            assert set(np.unique(labels)) <= {0, 1, 2, IGNORE_LABEL}
        else:
            np.testing.assert_array_equal(labels, want)
    report = verify_data(tmp_path / "images", tmp_path / "masks", tmp_path / "classes.json")
    assert report.usable, report.format()
    assert report.encoding.startswith(kind)


@pytest.mark.parametrize("name", ["binary 0/255", "palette", "rgb"])
def test_classes_found_from_masks_without_classes_json(tmp_path, name):
    encode, suffix, _ = ENCODINGS[name]
    write_set(tmp_path, encode, suffix=suffix, classes=None)
    report = verify_data(tmp_path / "images", tmp_path / "masks")
    assert report.usable, report.format()
    expected = {"binary 0/255": [0, 255], "palette": [0, 1, 2], "rgb": [0, 1, 2]}[name]
    assert [c.id for c in report.classes.trained] == expected
    if name == "rgb":
        # ids follow the packed colour order r << 16 | g << 8 | b
        assert [c.color for c in report.classes.trained] == sorted(tuple(c) for c in COLOURS.tolist())


def test_jpeg_far_colours_counted(tmp_path):
    def with_stranger(ids, n):
        rgb = COLOURS[ids].copy()
        rgb[24:24 + n, 24:32] = (250, 250, 0)
        return Image.fromarray(rgb)

    write_set(tmp_path / "few", lambda ids: with_stranger(ids, 2), n=1, suffix=".jpg")
    few = verify_data(tmp_path / "few/images", tmp_path / "few/masks", tmp_path / "few/classes.json")
    assert few.usable, few.format()
    assert any("further than 64" in w for w in few.warnings)
    assert few.ignored >= 8

    write_set(tmp_path / "many", lambda ids: with_stranger(ids, 8), n=1, suffix=".jpg")
    many = verify_data(tmp_path / "many/images", tmp_path / "many/masks", tmp_path / "many/classes.json")
    assert not many.usable
    assert "further than 64 from every class colour" in many.problems[0]


def test_colour_not_in_class_list_names_file_and_colour(tmp_path):
    def odd(ids):
        rgb = COLOURS[ids].copy()
        rgb[0, 0] = (1, 2, 3)
        return Image.fromarray(rgb)

    write_set(tmp_path, odd, n=2)
    report = verify_data(tmp_path / "images", tmp_path / "masks", tmp_path / "classes.json")
    assert not report.usable
    assert len(report.problems) == 2
    assert "im0.png: colours (1, 2, 3) are not in" in report.problems[0]


def test_gray_rgb_binary_masks_read_as_values(tmp_path):
    write_set(tmp_path, lambda ids: Image.fromarray(np.repeat(((ids > 0) * 255).astype(np.uint8)[..., None], 3, -1)),
              classes={"classes": [{"id": 0, "name": "bg", "color": [9, 9, 9]}, {"id": 1, "name": "fg"}]})
    report = verify_data(tmp_path / "images", tmp_path / "masks", tmp_path / "classes.json")
    assert report.usable, report.format()
    assert report.encoding.startswith("binary 0/255")


def test_exif_orientation_applies_to_image_and_mask_alike(tmp_path):
    raw = np.zeros((4, 6), np.uint8)
    raw[0, 5] = 1  # a marker in the top-right corner of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.fromarray(raw * 200 + 20).save(tmp_path / "image.jpg", exif=exif, quality=100)
    Image.fromarray(raw).save(tmp_path / "mask.png", exif=exif)
    image, mask = read_image(tmp_path / "image.jpg"), read_mask(tmp_path / "mask.png")
    assert image.shape[:2] == mask.shape == (6, 4) == image_size(tmp_path / "image.jpg")
    assert np.unravel_index(image[..., 0].argmax(), mask.shape) == np.unravel_index(mask.argmax(), mask.shape)


def test_train_and_evaluate_on_rgb_colour_masks(tmp_path):
    from tests.conftest import tiny_config

    from segcoder.evaluate import evaluate
    from segcoder.train import train

    for split in ("train", "val"):
        write_set(tmp_path / split, ENCODINGS["rgb"][0], n=3 if split == "train" else 2)
    (tmp_path / "classes.json").write_text(json.dumps(CLASSES))
    config = tiny_config(tmp_path)
    result = train(config, tmp_path / "run", verbose=0)
    assert result.metrics["images"] == 2
    scores = evaluate(tmp_path / "run", tmp_path / "val/images", tmp_path / "val/masks")
    assert 0.0 <= scores["mean_iou"] <= 1.0 and scores["images"] == 2


def test_gray_jpeg_binary_masks_snap_to_0_and_255(tmp_path):
    truth = write_set(tmp_path, lambda ids: Image.fromarray(((ids > 0) * 255).astype(np.uint8)), suffix=".jpg",
                      classes=None)
    report = verify_data(tmp_path / "images", tmp_path / "masks")
    assert report.usable, report.format()
    assert report.encoding.startswith("JPEG gray") and [c.id for c in report.classes.trained] == [0, 255]
    pairs = find_pairs(tmp_path / "images", tmp_path / "masks")
    for pair in pairs:
        _, labels = load_pair(pair, report.plan.lut, 1)
        assert (labels == (truth[pair[0].stem] > 0)).mean() > 0.97


def test_verify_warns_when_only_the_image_is_rotated(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180: the size stays, so only a warning can catch it
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "images/a.jpg", exif=exif)
    Image.fromarray(np.eye(8, dtype=np.uint8)).save(tmp_path / "masks/a.png")
    report = verify_data(tmp_path / "images", tmp_path / "masks")
    assert report.usable
    assert any("only the image or only the mask carries an EXIF rotation" in w for w in report.warnings)
