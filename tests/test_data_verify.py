"""data verify: the whole folder pair at once, with every problem listed and the exit code to match."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segcoder.cli import main
from segcoder.data.masks import median_frequency_weights
from segcoder.data.verify import verify_data


def write_pair(root, stem, mask, image_size=None):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    h, w = image_size or mask.shape
    Image.fromarray(np.full((h, w), 120, np.uint8)).save(root / "images" / f"{stem}.png")
    Image.fromarray(mask).save(root / "masks" / f"{stem}.png")


def test_clean_folder_reports_classes_weights_and_sheet(tmp_path, capsys):
    a = np.zeros((16, 16), np.uint8)
    a[:4] = 1  # 64 px of class 1, 192 of class 0
    b = np.zeros((16, 16), np.uint8)
    b[:8] = 2  # 128 px of class 2, 128 of class 0
    write_pair(tmp_path, "a", a)
    write_pair(tmp_path, "b", b)
    report = verify_data(tmp_path / "images", tmp_path / "masks", sheet=tmp_path / "sheet.png")
    assert report.usable and report.readable == 2 and report.encoding.startswith("index 8-bit")
    np.testing.assert_array_equal(report.pixels, [320, 64, 128])
    # freq: class 0 320/512, class 1 64/256, class 2 128/256 -> median 0.5
    np.testing.assert_allclose(report.weights, [0.5 / 0.625, 0.5 / 0.25, 1.0])
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.mode == "RGB" and sheet.width >= 2 * 64

    code = main(["data", "verify", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks")])
    out = capsys.readouterr().out
    assert code == 0
    for text in ("mask encoding: index 8-bit", "class_1", "median-frequency class weights: [0.8000, 2.0000, 1.0000]",
                 "largest class has 5.0x", "result: usable"):
        assert text in out


def test_every_problem_is_listed_and_exit_code_is_2(tmp_path, capsys):
    good = np.zeros((16, 16), np.uint8)
    good[4:] = 1
    write_pair(tmp_path, "good", good)
    write_pair(tmp_path, "wrong_size", good, image_size=(20, 16))
    bad_values = good.copy()
    bad_values[0, :3] = [7, 9, 9]
    write_pair(tmp_path, "bad_values", bad_values)
    Image.fromarray(good).save(tmp_path / "images" / "lonely_image.png")
    Image.fromarray(good).save(tmp_path / "masks" / "lonely_mask.png")
    (tmp_path / "classes.json").write_text(json.dumps({"classes": [{"id": 0, "name": "bg"}, {"id": 1, "name": "fg"}]}))

    report = verify_data(tmp_path / "images", tmp_path / "masks", tmp_path / "classes.json")
    assert not report.usable
    text = "\n".join(report.problems)
    assert len(report.problems) == 4, text
    assert "lonely_image.png: image without a mask" in text
    assert "lonely_mask.png: mask without an image" in text
    assert "wrong_size.png: mask is 16x16 but its image wrong_size.png is 16x20" in text
    assert "bad_values.png: mask values [7, 9] are not in" in text
    np.testing.assert_array_equal(report.pixels, [64, 192])  # counted over the good mask only

    code = main(["data", "verify", "--images", str(tmp_path / "images"), "--masks", str(tmp_path / "masks"),
                 "--classes", str(tmp_path / "classes.json")])
    captured = capsys.readouterr()
    assert code == 2 and "problems (4):" in captured.out and "NOT usable" in captured.out
    # one line on stderr: the verdict with the first problem (a file name) and how many more
    assert captured.err.count("\n") == 1 and "data not usable:" in captured.err
    assert ".png" in captured.err and "3 more problems" in captured.err


def test_missing_folder_is_one_line_error(tmp_path, capsys):
    assert main(["data", "verify", "--images", str(tmp_path / "nope"), "--masks", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "images folder not found" in err


def test_median_frequency_ignores_absent_classes():
    weights = median_frequency_weights(np.array([100, 0, 300]), np.array([400, 0, 400]))
    np.testing.assert_allclose(weights, [2.0, 0.0, 2.0 / 3.0])


@pytest.mark.slow
def test_verify_isbi(isbi, capsys):
    code = main(["data", "verify", "--images", str(isbi / "train/images"), "--masks", str(isbi / "train/masks")])
    out = capsys.readouterr().out
    assert code == 0
    assert "pairs:  24 (24 readable)" in out and "mask encoding: binary 0/255" in out
    assert "22.54%" in out  # membrane share, as the dataset README says (about 22%)


@pytest.mark.slow
def test_verify_camvid_val_with_classes(camvid, capsys):
    code = main(["data", "verify", "--images", str(camvid / "val/images"), "--masks", str(camvid / "val/masks"),
                 "--classes", str(camvid / "classes.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pairs:  101 (101 readable)" in out and "mask encoding: index 8-bit" in out
    assert "classes: 11 trained" in out and "ignored pixels:" in out  # void (id 11) is ignored
