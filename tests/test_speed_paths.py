"""The fast paths stay correct: fused training model, stock saved model, folded predict model, precision."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from tests.conftest import tiny_config


def saved_layer_classes(run) -> set[str]:
    """Class names (with registered names) of every layer in a run's model.keras."""
    config = json.loads(zipfile.ZipFile(run / "model.keras").read("config.json"))
    found = set()

    def walk(node):
        if isinstance(node, dict):
            if "class_name" in node:
                found.add(node.get("registered_name") or node["class_name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return found


def test_training_model_is_fused_and_saved_model_is_stock(tiny_run):
    from segcoder.config import RunConfig
    from segcoder.models import FusedBatchNormalization
    from segcoder.optimizers import FusedAdam
    from segcoder.train import build_and_compile

    model = build_and_compile(RunConfig().override(**{"model.depth": 2, "model.filters": 4}), 3, 4)
    bns = [l for l in model.get_layer("encoder").layers if "_bn" in l.name]
    assert bns and all(isinstance(l, FusedBatchNormalization) for l in bns)
    assert isinstance(model.optimizer, FusedAdam)
    classes = saved_layer_classes(tiny_run)
    assert "BatchNormalization" in classes
    assert not [c for c in classes if "segcoder" in c or "Fused" in c]


def test_loaded_segmenter_predicts_with_folded_model(tiny_run):
    import keras

    from segcoder.predict import load

    seg = load(tiny_run)
    assert not [l.name for l in seg.model.get_layer("encoder").layers if "_bn" in l.name]
    plain = keras.saving.load_model(tiny_run / "model.keras", compile=False)
    x = np.random.default_rng(0).random((2, 48, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(seg.predict_logits_batch(x), plain.predict_on_batch(x), atol=1e-4)


def test_mixed_bfloat16_trains_and_saves_a_float32_model(synthetic_data, tmp_path):
    import keras

    from segcoder.config import RunConfig
    from segcoder.train import build_and_compile, train

    config = tiny_config(synthetic_data, **{"train.precision": "mixed_bfloat16"})
    model = build_and_compile(config, 3, 4)
    assert model.get_layer("encoder").get_layer("enc0_conv1").compute_dtype == "bfloat16"
    assert model.output.dtype == "float32"  # logits stay float32 for the loss
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    result = train(config, tmp_path / "bf16", verbose=0)
    assert 0.0 <= result.metrics["mean_iou"] <= 1.0
    saved = keras.saving.load_model(tmp_path / "bf16/model.keras", compile=False)
    assert {l.dtype_policy.name for l in saved.get_layer("encoder").layers} == {"float32"}
    assert RunConfig.from_yaml(tmp_path / "bf16/config.yaml").train.precision == "mixed_bfloat16"


def test_bad_precision_is_a_user_error(synthetic_data, tmp_path, capsys):
    from segcoder.cli import main
    from segcoder.errors import SegcoderError

    with pytest.raises(SegcoderError, match="--precision must be one of float32"):
        tiny_config(synthetic_data, **{"train.precision": "float8"}).validate()
    code = main(["train", "--images", str(synthetic_data / "train/images"), "--masks",
                 str(synthetic_data / "train/masks"), "--precision", "fp16", "--out", str(tmp_path / "r")])
    assert code == 2 and "--precision must be one of" in capsys.readouterr().err


def test_fused_adam_takes_the_same_steps_as_keras_adam():
    import keras

    from segcoder.models import create_model
    from segcoder.optimizers import FusedAdam

    stock, fused = create_model("unet", 3, 2, 2, 4), create_model("unet", 3, 2, 2, 4)
    start = stock.get_weights()
    fused.set_weights(start)
    optimizers = keras.optimizers.Adam(1e-2), FusedAdam(1e-2)
    for model, optimizer in zip((stock, fused), optimizers):
        optimizer.build(model.trainable_weights)
    rng = np.random.default_rng(0)
    for _ in range(4):  # the bias corrections change from step to step
        grads = [rng.standard_normal(tuple(v.shape)).astype(np.float32) for v in stock.trainable_weights]
        for model, optimizer in zip((stock, fused), optimizers):
            optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], model.trainable_weights)
    assert max(np.abs(a - b).max() for a, b in zip(stock.get_weights(), start)) > 1e-3
    for a, b in zip(stock.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert int(keras.ops.convert_to_numpy(optimizers[1].iterations)) == 4
