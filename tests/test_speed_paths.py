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
    from segcoder.train import build_and_compile

    model = build_and_compile(RunConfig().override(**{"model.depth": 2, "model.filters": 4}), 3, 4)
    bns = [l for l in model.get_layer("encoder").layers if "_bn" in l.name]
    assert bns and all(isinstance(l, FusedBatchNormalization) for l in bns)
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
