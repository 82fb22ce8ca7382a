"""data convert: any encoding in, index PNGs plus classes.json out, and never a half-written folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segcoder.cli import main
from segcoder.data.classes import ClassMap
from segcoder.data.convert import convert_masks
from segcoder.errors import SegcoderError
from tests.test_data_encodings import CLASSES, COLOURS, make_ids

VOID = {"name": "with void", "ignore_index": 9, "classes": CLASSES["classes"] + [
    {"id": 9, "name": "void", "color": [255, 255, 255]}]}


def write_masks(root, encode, n=3, suffix=".png", classes=CLASSES):
    root.mkdir(parents=True)
    truth = {}
    for i in range(n):
        ids = make_ids(i)
        encode(ids).save(root / f"m{i}{suffix}")
        truth[f"m{i}"] = ids
    (root.parent / "classes.json").write_text(json.dumps(classes))
    return truth


def test_rgb_masks_become_index_pngs(tmp_path):
    truth = write_masks(tmp_path / "rgb", lambda ids: Image.fromarray(COLOURS[ids]))
    result = convert_masks(tmp_path / "rgb", tmp_path / "classes.json", tmp_path / "out")
    assert result.files == 3 and result.encoding == "RGB colour"
    for stem, ids in truth.items():
        with Image.open(tmp_path / "out" / f"{stem}.png") as im:
            assert im.mode == "L"
            np.testing.assert_array_equal(np.array(im), ids)
    assert ClassMap.load(tmp_path / "out/classes.json").names == ["background", "cat", "dog"]


def test_binary_0_255_becomes_0_1_for_a_0_1_class_list(tmp_path):
    classes = {"classes": [{"id": 0, "name": "bg"}, {"id": 1, "name": "fg"}]}
    truth = write_masks(tmp_path / "bin", lambda ids: Image.fromarray(((ids > 0) * 255).astype(np.uint8)),
                        classes=classes)
    convert_masks(tmp_path / "bin", tmp_path / "classes.json", tmp_path / "out")
    got = np.array(Image.open(tmp_path / "out/m1.png"))
    np.testing.assert_array_equal(got, (truth["m1"] > 0).astype(np.uint8))


def test_jpeg_far_pixels_become_an_added_void_class(tmp_path):
    def stranger(ids):
        rgb = COLOURS[ids].copy()
        rgb[24:26, 24:32] = (250, 250, 0)
        return Image.fromarray(rgb)

    write_masks(tmp_path / "jpg", stranger, n=1, suffix=".jpg")
    result = convert_masks(tmp_path / "jpg", tmp_path / "classes.json", tmp_path / "out")
    assert result.beyond > 0
    written = ClassMap.load(tmp_path / "out/classes.json")
    assert written.ignore_index == 255 and written.classes[-1].name == "void"
    values = np.array(Image.open(tmp_path / "out/m0.png"))
    assert set(np.unique(values)) <= {0, 1, 2, 255}
    assert (values == 255).sum() == result.beyond


def test_every_bad_mask_is_listed_and_nothing_written(tmp_path):
    write_masks(tmp_path / "rgb", lambda ids: Image.fromarray(COLOURS[ids]))
    odd = COLOURS[make_ids(5)].copy()
    odd[0, 0] = (1, 2, 3)
    Image.fromarray(odd).save(tmp_path / "rgb/odd.png")
    (tmp_path / "rgb/empty.png").write_bytes(b"")
    with pytest.raises(SegcoderError) as info:
        convert_masks(tmp_path / "rgb", tmp_path / "classes.json", tmp_path / "out")
    assert "2 mask(s)" in str(info.value) and "odd.png" in str(info.value) and "empty.png" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_interrupted_convert_leaves_no_output_folder(tmp_path, monkeypatch):
    write_masks(tmp_path / "rgb", lambda ids: Image.fromarray(COLOURS[ids]))
    saved = []
    real_save = Image.Image.save

    def save_then_interrupt(self, fp, *args, **kwargs):
        if len(saved) == 2:
            raise KeyboardInterrupt
        saved.append(fp)
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        convert_masks(tmp_path / "rgb", tmp_path / "classes.json", tmp_path / "out")
    assert len(saved) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["classes.json", "rgb"]  # no out, no partial folder


def test_cli_convert_refuses_an_existing_output(tmp_path, capsys):
    write_masks(tmp_path / "rgb", lambda ids: Image.fromarray(COLOURS[ids]), classes=VOID)
    args = ["data", "convert", "--masks", str(tmp_path / "rgb"), "--classes", str(tmp_path / "classes.json"),
            "--out", str(tmp_path / "out")]
    assert main(args) == 0
    assert "converted 3 masks (RGB colour)" in capsys.readouterr().out
    assert main(args) == 2  # the output exists now
    assert "already exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    assert json.loads((tmp_path / "out/classes.json").read_text())["ignore_index"] == 9
