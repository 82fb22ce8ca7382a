"""Pretraining: corruption, reconstruction losses, the pretrain run folder, and `segcoder reconstruct`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from segcoder.cli import main
from segcoder.errors import SegcoderError
from segcoder.pretrain import PretrainConfig, PretrainSettings, corrupt, pretrain


def tiny_pretrain_config(folder, **settings) -> PretrainConfig:
    config = PretrainConfig(pretrain=PretrainSettings(images=[str(folder)], mask_patch=8, **settings))
    config.run.override(**{"data.crop_size": 32, "data.workers": 1, "model.depth": 2, "model.filters": 4,
                           "train.epochs": 2, "train.batch_size": 4, "train.steps_per_epoch": 2})
    return config


@pytest.fixture(scope="module")
def ae_run(synthetic_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain") / "ae"
    config = tiny_pretrain_config(synthetic_data / "train/images", corruption="mask", loss="ssim+l1")
    config.run.model.name = "autoencoder"
    return pretrain(config, out, verbose=0)


def test_pretrain_writes_a_run_folder(ae_run):
    out = ae_run.run_dir
    for name in ("model.keras", "config.yaml", "history.csv", "curves.png", "metrics.json", "reconstructions.png"):
        assert (out / name).is_file(), name
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"loss", "psnr", "val_loss", "val_psnr"} <= set(rows[0])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["scored_on"] == "held-out images" and metrics["images"] == 1  # 10% of 8 images, at least one
    assert 0 < metrics["psnr"] < 60 and -1 <= metrics["ssim"] <= 1
    assert metrics["mse"] == pytest.approx(ae_run.metrics["mse"])
    config = PretrainConfig.from_yaml(out / "config.yaml")
    assert (config.run.model.name, config.pretrain.corruption, config.pretrain.loss) == ("autoencoder", "mask", "ssim+l1")
    assert Image.open(out / "reconstructions.png").format == "PNG"


def test_pretrained_model_rebuilds_rgb_input(ae_run):
    import keras

    model = keras.saving.load_model(ae_run.run_dir / "model.keras")  # no custom objects needed
    assert model.input_shape[-1] == model.output_shape[-1] == 3


def test_corruptions():
    rng = np.random.default_rng(0)
    image = rng.random((64, 64, 1)).astype(np.float32)
    assert corrupt(image, PretrainSettings(corruption="none"), rng) is image
    noisy = corrupt(image, PretrainSettings(corruption="noise", noise_std=0.05), rng)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert np.std(noisy - image) == pytest.approx(0.05, rel=0.15)
    masked = corrupt(image, PretrainSettings(corruption="mask", mask_ratio=0.5, mask_patch=8), rng)
    hidden = masked != image
    # whole 8x8 patches are blanked, with the image mean, about half of them
    blocks = hidden[..., 0].reshape(8, 8, 8, 8).transpose(0, 2, 1, 3).reshape(64, 64)
    assert set(blocks.mean(axis=1)) <= {0.0, 1.0}
    assert 0.3 < hidden.mean() < 0.7
    assert np.allclose(masked[hidden], image.mean())


def test_reconstruction_losses_match_numpy():
    from keras import ops

    from segcoder.reconstruction_losses import ReconstructionLoss

    rng = np.random.default_rng(1)
    target = rng.uniform(0.05, 0.95, (2, 16, 16, 1)).astype(np.float32)
    logits = rng.normal(0, 1, target.shape).astype(np.float32)
    recon = 1 / (1 + np.exp(-logits))
    value = lambda kind, t, l: float(ops.convert_to_numpy(ReconstructionLoss(kind)(t, l)))  # noqa: E731
    assert value("mse", target, logits) == pytest.approx(np.mean((recon - target) ** 2), rel=1e-4)
    assert value("mae", target, logits) == pytest.approx(np.mean(np.abs(recon - target)), rel=1e-4)
    exact = np.log(target / (1 - target))  # logits whose sigmoid is the target
    assert value("ssim+l1", target, exact) == pytest.approx(0.0, abs=1e-4)
    assert value("ssim+l1", target, logits) > 0.05


def test_weighted_losses_count_only_the_weighted_pixels():
    from keras import ops

    from segcoder.reconstruction_losses import PSNR, ReconstructionLoss

    rng = np.random.default_rng(3)
    target = rng.uniform(0.05, 0.95, (2, 16, 16, 3)).astype(np.float32)
    logits = rng.normal(0, 1, target.shape).astype(np.float32)
    recon = 1 / (1 + np.exp(-logits))
    weights = np.zeros((2, 16, 16, 1), np.float32)
    weights[:, :8] = 1  # the top half counts
    packed = np.concatenate([target, weights], axis=-1)

    def value(kind, t, l, weighted):
        return float(ops.convert_to_numpy(ReconstructionLoss(kind, weighted=weighted)(t, l)))

    assert value("mse", packed, logits, True) == pytest.approx(np.mean((recon - target)[:, :8] ** 2), rel=1e-4)
    assert value("mae", packed, logits, True) == pytest.approx(np.mean(np.abs(recon - target)[:, :8]), rel=1e-4)
    ones = np.concatenate([target, np.ones_like(weights)], axis=-1)
    for kind in ("mse", "mae", "ssim+l1"):  # weight 1 everywhere is the plain loss
        assert value(kind, ones, logits, True) == pytest.approx(value(kind, target, logits, False), rel=1e-4)
    # rebuilding the unweighted pixels perfectly changes nothing, as long as no SSIM window counting
    # a weighted pixel sees them: rows 14+ lie 7 rows from the weighted top half
    better = logits.copy()
    better[:, 14:] = np.log(target[:, 14:] / (1 - target[:, 14:]))
    for kind in ("mse", "ssim+l1"):
        assert value(kind, packed, better, True) == pytest.approx(value(kind, packed, logits, True), rel=1e-5)
        assert value(kind, target, better, False) < 0.95 * value(kind, target, logits, False)
    # PSNR scores every pixel either way
    plain, weighted = PSNR(), PSNR(weighted=True)
    plain.update_state(target, logits)
    weighted.update_state(packed, logits)
    assert float(weighted.result()) == pytest.approx(float(plain.result()), rel=1e-5)


def test_hidden_region_targets_carry_the_blanked_patches(synthetic_data):
    from segcoder.pretrain import UnlabelledCrops

    settings = PretrainSettings(images=[], corruption="mask", mask_patch=8, loss_region="hidden")
    crops = UnlabelledCrops(sorted((synthetic_data / "train/images").iterdir()), 3, 32, 2, 1, 0, settings, workers=1)
    noisy, target = crops[0]
    assert noisy.shape == (2, 32, 32, 3) and target.shape == (2, 32, 32, 4)
    hidden = target[..., 3] == 1
    assert set(np.unique(target[..., 3])) == {0.0, 1.0} and 0.2 < hidden.mean() < 0.8
    assert np.array_equal(noisy[~hidden], target[..., :3][~hidden])  # visible pixels pass through untouched
    # blanked pixels hold the crop's mean, one value per channel
    for b in range(2):
        assert np.allclose(noisy[b][hidden[b]], target[b, ..., :3].mean(axis=(0, 1)), atol=1e-5)


def test_hidden_region_pretrain_runs_and_records_its_setting(synthetic_data, tmp_path):
    config = tiny_pretrain_config(synthetic_data / "train/images", corruption="mask", loss="ssim+l1",
                                  loss_region="hidden")
    result = pretrain(config, tmp_path / "mae", verbose=0)
    assert np.isfinite(result.metrics["psnr"])
    assert PretrainConfig.from_yaml(tmp_path / "mae/config.yaml").pretrain.loss_region == "hidden"
    with pytest.raises(SegcoderError, match="--loss-region hidden needs --corruption mask"):
        tiny_pretrain_config(synthetic_data / "train/images", corruption="noise", loss_region="hidden").validate()


def test_ssim_matches_a_direct_computation():
    from segcoder.reconstruct import ssim

    rng = np.random.default_rng(2)
    a = rng.random((12, 12, 1)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    values = []
    for i in range(6):
        for j in range(6):
            x, y = a[i:i + 7, j:j + 7, 0].astype(np.float64), b[i:i + 7, j:j + 7, 0].astype(np.float64)
            mx, my = x.mean(), y.mean()
            cov = ((x - mx) * (y - my)).mean()
            c1, c2 = 0.01**2, 0.03**2
            values.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (x.var() + y.var() + c2)))
    assert ssim(a, b) == pytest.approx(np.mean(values), abs=1e-4)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-5)


def test_reconstruct_writes_side_by_side_images(ae_run, synthetic_data, tmp_path, capsys):
    source = synthetic_data / "val/images"
    code = main(["reconstruct", str(ae_run.run_dir), str(source), "--out", str(tmp_path / "rec")])
    assert code == 0
    written = sorted((tmp_path / "rec").iterdir())
    assert [p.name for p in written] == [f"shape{i:03d}_reconstruction.png" for i in range(3)]
    strip = np.asarray(Image.open(written[0]))
    assert strip.shape == (48, 3 * 48 + 8, 3)  # original | reconstruction | error, two 4-pixel gaps
    original = np.asarray(Image.open(source / "shape000.png"))
    assert np.array_equal(strip[:, :48], original)
    assert "PSNR" in capsys.readouterr().out


def test_reconstruct_refuses_a_segmentation_run(synthetic_data, tmp_path, capsys):
    from segcoder.config import RunConfig

    run = tmp_path / "seg"  # a training run's files: its config has no 'pretrain' section
    run.mkdir()
    (run / "config.yaml").write_text(RunConfig().to_yaml())
    (run / "model.keras").write_bytes(b"")
    code = main(["reconstruct", str(run), str(synthetic_data / "val/images"), "--out", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "not a pretraining run" in err and "\n" not in err


@pytest.mark.parametrize("options, message", [
    (["--corruption", "blur"], "--corruption must be one of"),
    (["--recon-loss", "ssim"], "--recon-loss must be one of"),
    (["--mask-ratio", "1.5"], "--mask-ratio must be between 0 and 1"),
    (["--loss-region", "edges"], "--loss-region must be one of"),
    (["--corruption", "noise", "--loss-region", "hidden"], "--loss-region hidden needs --corruption mask"),
])
def test_pretrain_cli_rejects_bad_options(synthetic_data, tmp_path, capsys, options, message):
    code = main(["pretrain", "--images", str(synthetic_data / "train/images"), "--out", str(tmp_path / "x"), *options])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_pretrain_cli_names_a_missing_folder(tmp_path, capsys):
    code = main(["pretrain", "--images", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    assert code == 2
    assert "nowhere: images folder not found" in capsys.readouterr().err


def test_denoising_pretrain_on_gray_images_via_cli(isbi, tmp_path, capsys):
    code = main(["pretrain", "--images", str(isbi / "test/images"), "--model", "unet", "--corruption", "noise",
                 "--recon-loss", "mae", "--depth", "2", "--filters", "4", "--crop-size", "32", "--epochs", "1",
                 "--steps-per-epoch", "2", "--batch-size", "2", "--val-split", "0.05", "--workers", "1",
                 "--out", str(tmp_path / "gray")])
    assert code == 0
    assert "PSNR" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "gray/metrics.json").read_text())
    assert metrics["images"] == 2  # 5% of 30 slices
    with pytest.raises(SegcoderError, match="already holds files"):
        pretrain(PretrainConfig.from_yaml(tmp_path / "gray/config.yaml"), tmp_path / "gray")
