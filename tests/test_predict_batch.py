"""Batch prediction: outputs match the API, stacks in and out, 16-bit, skip and resume, bad files, the CLI."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image

import segcoder
from segcoder.batch import predict_files
from segcoder.cli import main
from segcoder.tiling import plan_tiles


@pytest.fixture(scope="module")
def seg(tiny_run):
    return segcoder.load(tiny_run)


@pytest.fixture()
def images(synthetic_data, tmp_path):
    """Three 48x48 RGB PNGs in a folder of their own."""
    folder = tmp_path / "in"
    folder.mkdir()
    for path in sorted((synthetic_data / "val/images").iterdir())[:3]:
        shutil.copy(path, folder / path.name)
    return folder


def read(path):
    with Image.open(path) as im:
        return np.array(im)


def test_outputs_match_the_api_whole_and_tiled(seg, tiny_run, images, tmp_path):
    big = np.tile(read(sorted(images.iterdir())[0]), (2, 3, 1))  # 96x144: tiled with --tile 48
    Image.fromarray(big).save(images / "big.png")
    result = predict_files(tiny_run, [images], tmp_path / "out", save="index,color,overlay,prob", tile=48,
                           overlap=0.25, log=lambda _: None)
    assert result.ok and len(result.done) == 4 and len(result.written) == 16
    for path in images.iterdir():
        image = read(path)
        tile = 48  # the 48x48 images fit: predicted whole
        np.testing.assert_array_equal(read(tmp_path / "out" / f"{path.stem}_mask.png"), seg.predict(image, tile=tile))
        assert read(tmp_path / "out" / f"{path.stem}_color.png").shape == image.shape[:2] + (3,)
        assert read(tmp_path / "out" / f"{path.stem}_overlay.png").shape == image.shape[:2] + (3,)
        prob = tifffile.imread(tmp_path / "out" / f"{path.stem}_prob.tif")
        assert prob.dtype == np.float16 and prob.shape == image.shape[:2] + (seg.classes.num_classes,)
        np.testing.assert_allclose(prob.astype(np.float32), seg.predict_proba(image, tile=tile), atol=2e-3)
    assert result.tiles == 3 + plan_tiles(96, 144, 48, 0.25, seg.stride).count  # 3 whole images + the tiles


def test_stack_in_stack_out_and_16_bit(seg, tiny_run, images, tmp_path):
    pages = np.stack([read(p) for p in sorted(images.iterdir())])  # (3, 48, 48, 3) uint8
    tifffile.imwrite(tmp_path / "vol.tif", pages.astype(np.uint16) * 257, photometric="rgb")  # 16-bit stack
    Image.fromarray(pages[0, ..., 0].astype(np.uint16) * 257).save(tmp_path / "gray16.png")
    result = predict_files(tiny_run, [tmp_path / "vol.tif", tmp_path / "gray16.png"], tmp_path / "out",
                           save="index,overlay,prob", prob_format="npy", tta="flip", log=lambda _: None)
    assert result.ok, result.failed
    masks = tifffile.imread(tmp_path / "out/vol_mask.tif")
    assert masks.shape == (3, 48, 48)  # a stack of the same length
    for i in range(3):
        # 16-bit pages predict as the 8-bit originals: same values once scaled to [0, 1].
        np.testing.assert_array_equal(masks[i], seg.predict(pages[i], tta="flip"))
    assert tifffile.imread(tmp_path / "out/vol_overlay.tif").shape == (3, 48, 48, 3)
    assert np.load(tmp_path / "out/vol_prob.npy").shape == (3, 48, 48, seg.classes.num_classes)
    np.testing.assert_array_equal(read(tmp_path / "out/gray16_mask.png"), seg.predict(pages[0, ..., :1], tta="flip"))


def test_rerun_skips_complete_outputs_and_force_redoes_them(tiny_run, images, tmp_path):
    out = tmp_path / "out"
    first = predict_files(tiny_run, [images], out, log=lambda _: None)
    assert len(first.done) == 3
    second = sorted(images.iterdir())[1]
    (out / f"{second.stem}_color.png").unlink()  # as if cut short
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = predict_files(tiny_run, [images], out, log=lambda _: None)
    assert len(again.skipped) == 2 and again.done == [second]
    assert again.written == [out / f"{second.stem}_color.png"]  # only the missing output is written
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name in stamp} == stamp
    forced = predict_files(tiny_run, [images], out, force=True, log=lambda _: None)
    assert len(forced.done) == 3 and not forced.skipped and len(forced.written) == 9
    # Outputs older than the model (the run was trained again) are stale, not complete.
    run = shutil.copytree(tiny_run, tmp_path / "retrained")
    newest = max(p.stat().st_mtime for p in out.iterdir())
    os.utime(run / "model.keras", (newest + 10, newest + 10))
    assert len(predict_files(run, [images], out, log=lambda _: None).done) == 3


def test_an_interrupted_run_leaves_no_partial_file_and_resumes(tiny_run, images, tmp_path, monkeypatch):
    import segcoder.batch as batch

    real, calls = batch.predict_source, []

    def stop_on_second(segmenter, source, outputs, **options):
        calls.append(source.path)
        if len(calls) == 2:
            real(segmenter, source, outputs, **options)  # everything computed, nothing committed yet
            raise KeyboardInterrupt
        return real(segmenter, source, outputs, **options)

    monkeypatch.setattr(batch, "predict_source", stop_on_second)
    with pytest.raises(KeyboardInterrupt):
        predict_files(tiny_run, [images], tmp_path / "out", log=lambda _: None)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    first = sorted(images.iterdir())[0].stem
    assert names == [f"{first}_color.png", f"{first}_mask.png", f"{first}_overlay.png"]  # no .part left
    monkeypatch.setattr(batch, "predict_source", real)
    resumed = predict_files(tiny_run, [images], tmp_path / "out", log=lambda _: None)
    assert len(resumed.skipped) == 1 and len(resumed.done) == 2


def test_a_bad_file_is_reported_counted_and_the_batch_goes_on(tiny_run, images, tmp_path, capsys):
    names = sorted(p.name for p in images.iterdir())
    bad = images / (names[0][:-4] + "b_broken.png")  # sorts between the first and the second image
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    assert sorted(p.name for p in images.iterdir()).index(bad.name) == 1
    code = main(["predict", str(tiny_run), str(images), "--out", str(tmp_path / "out"), "--save", "index"])
    err = capsys.readouterr().err
    assert code == 1
    assert "failed" in err and bad.name in err and "Traceback" not in err
    assert "3 done, 0 skipped, 1 failed" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{n[:-4]}_mask.png" for n in names)
    # The rerun skips the good ones and still fails the bad one.
    code = main(["predict", str(tiny_run), str(images), "--out", str(tmp_path / "out"), "--save", "index", "--quiet"])
    assert code == 1 and "0 done, 3 skipped, 1 failed" in capsys.readouterr().err


def test_cli_options_are_checked_before_any_work(tiny_run, images, tmp_path, capsys):
    for args, message in [
        (["--tile", "30"], "--tile must be a positive multiple of 4"),
        (["--save", "index,nope"], "--save"),
        (["--overlap", "1.5"], "--overlap"),
    ]:
        code = main(["predict", str(tiny_run), str(images), "--out", str(tmp_path / "out"), *args])
        assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_two_inputs_with_one_stem_are_refused_before_any_work(tiny_run, images, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    first = sorted(images.iterdir())[0]
    shutil.copy(first, other / first.name)  # same stem, other folder: both would write <stem>_mask.png
    code = main(["predict", str(tiny_run), str(images), str(other), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and f"stem '{first.stem}'" in err and "different --out folders" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_progress_bar_counts_images_and_tiles_with_an_eta():
    import io

    from segcoder.progress import Progress

    stream = io.StringIO()
    bar = Progress(images=2, tiles=10, stream=stream, live=True)
    bar.start("a.png")
    bar.tiles(4)
    bar.finish("done")
    bar.start("b.png")
    bar.finish("failed", tiles_left=6)
    assert bar.passed_tiles == 10 and bar.eta() == 0
    bar.close()
    text = stream.getvalue()
    assert "\r" in text and "2/2 images" in text and "10/10 tiles" in text and "ETA" in text
    assert text.rstrip().splitlines()[-1].endswith("tiles/s)") and "1 done, 0 skipped, 1 failed" in text
