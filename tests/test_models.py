"""Model builders: the fused layers, BN folding and data formats give the same network."""

from __future__ import annotations

import numpy as np
import pytest

from segcoder.config import ModelConfig


def build(name="unet", fused=False, data_format="channels_first", norm="batch", classes=4):
    from segcoder.models import create_model

    return create_model(name, 3, classes, depth=2, filters=4, norm=norm, data_format=data_format, fused=fused)


def batch(shape=(2, 32, 48)):
    return np.random.default_rng(0).random((*shape, 3), dtype=np.float32)


def as_numpy(x):
    import keras

    return keras.ops.convert_to_numpy(x)


def randomise_bn(model, seed=1):
    """Moving statistics and affine weights far from their initial values, so folding is really tested."""
    rng = np.random.default_rng(seed)
    weights = []
    for v, w in zip(model.weights, model.get_weights()):
        if "moving_variance" in v.path:
            w = rng.uniform(0.2, 3.0, w.shape)
        elif any(key in v.path for key in ("moving_mean", "gamma", "beta")):
            w = rng.normal(0, 0.5, w.shape)
        weights.append(w.astype(np.float32))
    model.set_weights(weights)


@pytest.mark.parametrize("name", ["unet", "autoencoder"])
def test_fused_model_matches_stock_in_training_and_inference(name):
    stock, fused = build(name), build(name, fused=True)
    assert [w.shape for w in stock.weights] == [w.shape for w in fused.weights]
    randomise_bn(stock)
    fused.set_weights(stock.get_weights())
    x = batch()
    np.testing.assert_allclose(as_numpy(fused(x, training=True)), as_numpy(stock(x, training=True)), atol=1e-4)
    np.testing.assert_allclose(fused.predict_on_batch(x), stock.predict_on_batch(x), atol=1e-5)
    # Both updated their moving mean the same way (momentum 0.9 towards the batch mean).
    means = [(a, b) for v, a, b in zip(stock.weights, stock.get_weights(), fused.get_weights()) if "moving_mean" in v.path]
    for a, b in means:
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_fused_model_backprop_matches_stock():
    import keras
    import torch

    if keras.backend.backend() != "torch":
        pytest.skip("gradient check written for the torch backend")
    stock, fused = build(), build(fused=True)
    fused.set_weights(stock.get_weights())
    x = torch.from_numpy(batch())
    grads = []
    for model in (stock, fused):
        model.zero_grad()
        (model(x, training=True) ** 2).mean().backward()
        grads.append([v.value.grad.numpy().copy() for v in model.trainable_weights])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("name,classes", [("unet", 4), ("unet", 2), ("autoencoder", 3)])
def test_folded_model_has_no_batchnorm_and_same_logits(name, classes):
    from segcoder.models.inference import _all_layers, fold_batchnorm

    model = build(name, classes=classes)
    randomise_bn(model)
    folded = fold_batchnorm(model, ModelConfig(name=name, depth=2, filters=4, data_format="channels_first"))
    assert not [n for n in _all_layers(folded) if n.endswith("_bn")]
    assert folded.count_params() < model.count_params()
    x = batch((3, 32, 32))
    np.testing.assert_allclose(folded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-4)


def test_fold_leaves_models_without_batchnorm_alone():
    from segcoder.models.inference import fold_batchnorm

    model = build(norm="group")
    assert fold_batchnorm(model, ModelConfig(depth=2, filters=4, norm="group")) is model


def test_data_format_round_trip():
    """The same weights give the same HWC logits whichever layout the network runs in."""
    first, last = build(data_format="channels_first"), build(data_format="channels_last")
    randomise_bn(first)
    last.set_weights(first.get_weights())
    x = batch()
    assert first.output_shape == last.output_shape == (None, None, None, 4)
    np.testing.assert_allclose(first.predict_on_batch(x), last.predict_on_batch(x), atol=1e-4)


def test_config_round_trip_keeps_fused_layers():
    import keras

    from segcoder.models import FusedBatchNormalization, FusedConv2D, FusedConv2DTranspose, InplaceReLU

    model = build(fused=True)
    clone = keras.Model.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    encoder = clone.get_layer("encoder")
    inner = encoder.get_layer("enc0_1_bn")
    assert isinstance(inner, FusedBatchNormalization) and inner.momentum == pytest.approx(0.9)
    assert isinstance(encoder.get_layer("enc0_conv1"), FusedConv2D)
    assert isinstance(encoder.get_layer("enc0_relu1"), InplaceReLU)
    assert isinstance(clone.get_layer("dec0_up"), FusedConv2DTranspose)


def test_predict_model_sees_new_weights():
    """The fused convolutions cache their kernel between predictions; new weights must not be missed."""
    from segcoder.models.inference import fold_batchnorm

    model = build()
    config = ModelConfig(depth=2, filters=4, data_format="channels_first")
    folded = fold_batchnorm(model, config)
    x = batch()
    before = folded.predict_on_batch(x)
    randomise_bn(model, seed=3)
    folded.set_weights(fold_batchnorm(model, config).get_weights())
    after = folded.predict_on_batch(x)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, model.predict_on_batch(x), atol=1e-4)
