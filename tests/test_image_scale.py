"""Training at a reduced resolution (``--image-scale``) and predicting back at full size."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from segcoder.cli import main
from segcoder.data.resample import resize_image, resize_labels, resize_logits, scaled_size
from tests.test_core_cli import TINY, assert_user_error, run_cli


def test_resampling_keeps_classes_channels_and_sizes():
    labels = np.zeros((60, 80), np.uint8)
    labels[10:30, 20:50] = 3
    labels[40:, :] = 255  # ignored pixels stay ignored, no new value appears
    small = resize_labels(labels, 0.5)
    assert small.shape == (30, 40) and set(np.unique(small)) == {0, 3, 255}
    assert small[10, 17] == 3 and small[25, 5] == 255
    gray = np.random.default_rng(0).random((60, 80, 1), dtype=np.float32)
    assert resize_image(gray, 0.5).shape == (30, 40, 1)
    assert np.isclose(resize_image(gray, 0.5)[0, 0, 0], gray[:2, :2, 0].mean(), atol=1e-6)  # area averaging
    logits = np.random.default_rng(1).random((30, 40, 5), dtype=np.float32)
    assert resize_logits(logits, (61, 79)).shape == (61, 79, 5)
    assert scaled_size(361, 481, 0.5) == (180, 240) and scaled_size(3, 3, 0.1) == (1, 1)


def test_half_scale_run_predicts_and_scores_at_full_size(synthetic_data, tmp_path, capsys):
    import segcoder

    run = tmp_path / "half"
    code, out, err = run_cli([
        "train", "--images", synthetic_data / "train/images", "--masks", synthetic_data / "train/masks",
        "--val-images", synthetic_data / "val/images", "--val-masks", synthetic_data / "val/masks",
        "--classes", synthetic_data / "classes.json", *TINY[:-6], "--crop-size", "16", "--workers", "1",
        "--image-scale", "0.5", "--out", run], capsys)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["pixels"] == 3 * 48 * 48  # the final scores are at the files' own size

    seg = segcoder.load(run)
    assert seg.image_scale == 0.5
    image = np.array(Image.open(next((synthetic_data / "val/images").iterdir())))
    logits = seg.predict_logits(image)
    assert logits.shape == (48, 48, 4)
    half = seg.predict_logits_batch(resize_image(image.astype(np.float32) / 255, 0.5)[None])[0]
    assert np.allclose(logits, resize_logits(half, (48, 48)), atol=1e-4)  # = network at half size, resized back

    preds = tmp_path / "preds"
    code, _, err = run_cli(["predict", run, synthetic_data / "val/images", "--out", preds], capsys)
    assert code == 0, err
    written = sorted(preds.glob("*.png"))
    assert written and all(Image.open(p).size == (48, 48) for p in written)
    scores = segcoder.evaluate(run, synthetic_data / "val/images", synthetic_data / "val/masks", tta="flip")
    assert scores["pixels"] == 3 * 48 * 48


def test_bad_image_scale_is_a_user_error(synthetic_data, tmp_path, capsys):
    code, _, err = run_cli(["train", "--images", synthetic_data / "train/images",
                            "--masks", synthetic_data / "train/masks", "--image-scale", "0",
                            "--out", tmp_path / "run"], capsys)
    assert_user_error(code, err, "--image-scale")
    assert not (tmp_path / "run").exists()


def test_crops_per_epoch_follow_the_scaled_size(synthetic_data):
    from segcoder.data.dataset import TrainCrops
    from segcoder.data.pairs import find_pairs

    pairs = find_pairs(synthetic_data / "train/images", synthetic_data / "train/masks")
    full = TrainCrops(pairs, None, 3, 16, 4, workers=1)
    half = TrainCrops(pairs, None, 3, 16, 4, workers=1, image_scale=0.5)
    assert len(full) == 8 * 9 // 4 and len(half) == 8 * 2 // 4  # 48x48 = 9 crops of 16; 24x24 = 2 (rounded)


def test_half_scale_pretrain_reconstructs_at_full_size_and_transfers(synthetic_data, tmp_path, capsys):
    from segcoder.pretrain import PretrainSettings, UnlabelledCrops
    from segcoder.reconstruct import Reconstructor

    crops = UnlabelledCrops(sorted((synthetic_data / "train/images").iterdir()), 3, 24, 2, 1, 0,
                            PretrainSettings(images=[], corruption="none"), workers=1, image_scale=0.5)
    noisy, clean = crops[0]
    assert clean.shape == (2, 24, 24, 3)  # 24-pixel crops of the 24x24 half-size images

    ae = tmp_path / "ae"
    code, out, err = run_cli(["pretrain", "--images", synthetic_data / "train/images", "--model", "unet",
                              "--depth", "2", "--filters", "4", "--crop-size", "16", "--epochs", "1",
                              "--steps-per-epoch", "2", "--batch-size", "2", "--workers", "1",
                              "--image-scale", "0.5", "--out", ae], capsys)
    assert code == 0, err
    rec = Reconstructor.load(ae)
    assert rec.image_scale == 0.5
    image = np.array(Image.open(next((synthetic_data / "val/images").iterdir())), np.float32) / 255
    assert rec.reconstruct(image).shape == (48, 48, 3)  # rebuilt at half size, returned at full size

    code, _, err = run_cli(["compress-eval", ae, "--images", synthetic_data / "val/images"], capsys)
    assert_user_error(code, err, "--image-scale 1")

    code, _, err = run_cli([
        "train", "--images", synthetic_data / "train/images", "--masks", synthetic_data / "train/masks",
        "--classes", synthetic_data / "classes.json", "--depth", "2", "--filters", "4", "--epochs", "1",
        "--steps-per-epoch", "1", "--batch-size", "2", "--crop-size", "16", "--workers", "1",
        "--image-scale", "0.5", "--init-encoder", ae, "--init-decoder", "--out", tmp_path / "seg"], capsys)
    assert code == 0, err
