"""Unit tests of the core pieces: config, class list, pairing, reading, scores, losses and metrics."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from segcoder.config import RunConfig
from segcoder.data.classes import IGNORE_LABEL, ClassMap
from segcoder.data.io import read_image, read_mask
from segcoder.data.pairs import find_pairs
from segcoder.errors import SegcoderError
from segcoder.scores import confusion_matrix, scores


def test_config_yaml_round_trip_and_overrides(tmp_path):
    config = RunConfig().override(**{"train.epochs": 3, "model.name": "autoencoder", "data.crop_size": None})
    path = tmp_path / "run.yaml"
    path.write_text(config.to_yaml())
    again = RunConfig.from_yaml(path)
    assert again.to_dict() == config.to_dict()
    assert again.train.epochs == 3 and again.model.name == "autoencoder" and again.data.crop_size == 256


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(SegcoderError, match="unknown key.*epoch"):
        RunConfig.from_yaml(path)
    with pytest.raises(SegcoderError, match="crop-size must be a multiple of 16"):
        RunConfig().override(**{"data.crop_size": 100}).validate()
    with pytest.raises(SegcoderError, match="--model must be one of"):
        RunConfig().override(**{"model.name": "segnet"}).validate()


def test_classmap_camvid_layout(camvid):
    cmap = ClassMap.load(camvid / "classes.json")
    assert cmap.ignore_index == 11 and cmap.num_classes == 11
    lut = cmap.lut()
    assert lut[0] == 0 and lut[10] == 10 and lut[11] == IGNORE_LABEL and lut[200] == IGNORE_LABEL
    assert cmap.colors()[3].tolist() == [128, 64, 128]


def test_classmap_from_values_and_ignore_in_the_middle():
    cmap = ClassMap.from_dict({"ignore_index": 0, "classes": [
        {"id": 0, "name": "void", "color": [0, 0, 0]},
        {"id": 1, "name": "a", "color": [1, 1, 1]},
        {"id": 2, "name": "b", "color": [2, 2, 2]}]})
    assert cmap.names == ["a", "b"]
    assert cmap.lut()[[0, 1, 2]].tolist() == [IGNORE_LABEL, 0, 1]
    found = ClassMap.from_values([255, 0])
    assert [c.id for c in found.trained] == [0, 255] and found.lut()[255] == 1
    with pytest.raises(SegcoderError, match="at least two classes"):
        ClassMap.from_values([7])


def test_pairs_by_stem_with_other_extensions(tmp_path):
    (tmp_path / "im").mkdir()
    (tmp_path / "ma").mkdir()
    for stem in ("a", "b"):
        Image.new("RGB", (8, 8)).save(tmp_path / "im" / f"{stem}.jpg")
        Image.new("L", (8, 8)).save(tmp_path / "ma" / f"{stem}.png")
    pairs = find_pairs(tmp_path / "im", tmp_path / "ma")
    assert [(i.name, m.name) for i, m in pairs] == [("a.jpg", "a.png"), ("b.jpg", "b.png")]
    Image.new("RGB", (8, 8)).save(tmp_path / "im" / "lonely.png")
    Image.new("L", (8, 8)).save(tmp_path / "ma" / "orphan.png")
    with pytest.raises(SegcoderError) as err:
        find_pairs(tmp_path / "im", tmp_path / "ma")
    assert "lonely.png" in str(err.value) and "orphan.png" in str(err.value)


@pytest.mark.parametrize("mode,suffix,channels", [
    ("L", ".png", 1), ("RGB", ".png", 3), ("RGBA", ".png", 3), ("I;16", ".png", 1),
    ("RGB", ".jpg", 3), ("L", ".bmp", 1), ("RGB", ".tif", 3), ("I;16", ".tif", 1),
])
def test_read_image_formats(tmp_path, mode, suffix, channels):
    rng = np.random.default_rng(0)
    if mode == "I;16":
        array = rng.integers(0, 65535, (12, 10), dtype=np.uint16)
        image = Image.fromarray(array)
    else:
        shape = (12, 10) if mode == "L" else (12, 10, len(mode))
        image = Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode)
    path = tmp_path / f"x{suffix}"
    image.save(path)
    out = read_image(path)
    assert out.shape == (12, 10, channels) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    if mode == "I;16":
        assert out.max() > 0.9  # 16-bit data is scaled by 65535, not clipped at 255


def test_read_mask_index_and_truncated(tmp_path):
    values = np.array([[0, 1, 2], [3, 2, 1]], np.uint8)
    Image.fromarray(values).save(tmp_path / "m.png")
    assert read_mask(tmp_path / "m.png").tolist() == values.tolist()
    Image.fromarray(np.zeros((64, 64), np.uint8) + 7).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(SegcoderError, match="t.png"):
        read_mask(tmp_path / "t.png")


def test_scores_exact_values():
    truth = np.array([0, 0, 0, 1, 1, 2, IGNORE_LABEL, IGNORE_LABEL])
    pred = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    m = confusion_matrix(truth, pred, 3)
    assert m.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    s = scores(m, ["a", "b", "c"])
    assert s["pixel_accuracy"] == pytest.approx(4 / 6)
    assert s["per_class"]["a"]["iou"] == pytest.approx(2 / 3)
    assert s["per_class"]["b"]["iou"] == pytest.approx(1 / 3)
    assert s["per_class"]["c"]["iou"] == pytest.approx(1 / 2)
    assert s["per_class"]["b"]["dice"] == pytest.approx(2 * 1 / (2 + 2))
    assert s["mean_iou"] == pytest.approx((2 / 3 + 1 / 3 + 1 / 2) / 3)
    assert s["class_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


def _logits_for(labels, k, scale=8.0):
    if k == 2:
        return (np.where(labels == 1, scale, -scale)[..., None]).astype(np.float32)
    return (np.eye(k)[np.where(labels == IGNORE_LABEL, 0, labels)] * 2 * scale - scale).astype(np.float32)


@pytest.mark.parametrize("k", [2, 4])
def test_loss_ignores_ignored_pixels_and_rewards_right_answers(k):
    from keras import ops

    from segcoder.losses import SegmentationLoss

    rng = np.random.default_rng(0)
    labels = rng.integers(0, k, (2, 8, 8)).astype(np.int32)
    loss = SegmentationLoss("ce+dice")
    right = float(ops.convert_to_numpy(loss(labels, _logits_for(labels, k))))
    wrong = float(ops.convert_to_numpy(loss(labels, _logits_for((labels + 1) % k, k))))
    assert right < 0.05 < 1.0 < wrong
    # Whatever the network says on ignored pixels must not change the loss.
    ignored = labels.copy()
    ignored[:, :4] = IGNORE_LABEL
    logits = _logits_for(labels, k)
    noisy = logits.copy()
    noisy[:, :4] = rng.normal(0, 20, noisy[:, :4].shape)
    a = float(ops.convert_to_numpy(loss(ignored, logits)))
    b = float(ops.convert_to_numpy(loss(ignored, noisy)))
    assert a == pytest.approx(b, abs=1e-6)


@pytest.mark.parametrize("k", [2, 5])
def test_training_metrics_match_numpy_scores(k):
    from segcoder.metrics import MeanIoU, PixelAccuracy

    rng = np.random.default_rng(1)
    labels = rng.integers(0, k, (3, 6, 6)).astype(np.int32)
    labels[0, 0] = IGNORE_LABEL
    predicted = rng.integers(0, k, (3, 6, 6))
    expected = scores(confusion_matrix(labels, predicted, k), [str(i) for i in range(k)])
    miou, acc = MeanIoU(k), PixelAccuracy(k)
    for metric in (miou, acc):
        metric.update_state(labels[:2], _logits_for(predicted[:2], k))
        metric.update_state(labels[2:], _logits_for(predicted[2:], k))
    assert float(miou.result()) == pytest.approx(expected["mean_iou"], abs=1e-5)
    assert float(acc.result()) == pytest.approx(expected["pixel_accuracy"], abs=1e-5)


def test_training_model_predicts_with_its_current_weights():
    """Validation runs on the training model between steps: it must see the updated weights,
    and agree with the stock-layer model that is saved from them."""
    import keras

    from segcoder.models import create_model
    from segcoder.train import build_and_compile

    config = RunConfig().override(**{"model.depth": 2, "model.filters": 4})
    config.model.data_format = "channels_first" if keras.backend.backend() == "torch" else "channels_last"
    keras.utils.set_random_seed(0)
    model = build_and_compile(config, 3, 4)
    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 4, (2, 32, 32)).astype("int32")
    model.predict_on_batch(x)  # inference first, as validation does after each epoch
    model.fit(x, y, epochs=3, batch_size=2, verbose=0)
    stock = create_model("unet", 3, 4, 2, 4, "batch", config.model.data_format)
    stock.set_weights(model.get_weights())
    np.testing.assert_allclose(np.asarray(model.predict_on_batch(x)), np.asarray(stock.predict_on_batch(x)),
                               atol=1e-4)


def test_atomic_writes_get_the_umask_mode_not_private(tmp_path):
    import os

    from segcoder._atomic import write_text

    previous = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        write_text(tmp_path / "b.txt", "x")
        assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(previous)


@pytest.mark.parametrize("key,value,message", [
    ("train.steps_per_epoch", 0, "--steps-per-epoch must be at least 1"),
    ("train.time_limit", -1.0, "--time-limit must be a positive"),
    ("data.workers", -1, "--workers must be at least 1"),
])
def test_bad_loop_options_are_refused(key, value, message):
    from segcoder.config import RunConfig

    with pytest.raises(SegcoderError, match=message):
        RunConfig().override(**{key: value}).validate()


def test_negative_class_weights_say_so():
    from segcoder.class_weights import parse_class_weights

    with pytest.raises(SegcoderError, match="must not be negative, got -1,2"):
        parse_class_weights("-1,2", 2, lambda: [])
