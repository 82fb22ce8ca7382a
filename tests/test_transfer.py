"""Encoder transfer: weights really copied, mismatches refused clearly, frozen epochs really frozen."""

from __future__ import annotations

import numpy as np
import pytest

from segcoder.cli import main
from segcoder.errors import SegcoderError
from segcoder.models import create_model
from segcoder.transfer import copy_encoder, describe_encoder, get_encoder

from tests.conftest import tiny_config


def _tiny(name="unet", channels=3, depth=2, filters=4, norm="batch", seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    return create_model(name, channels, 4, depth=depth, filters=filters, norm=norm)


@pytest.mark.parametrize("source_name", ["autoencoder", "unet"])
def test_copy_encoder_copies_every_weight(source_name):
    source, target = _tiny(source_name, seed=1), _tiny("unet", seed=2)
    before = [w.copy() for w in get_encoder(target).get_weights()]
    decoder_before = target.get_layer("head").get_weights()[0].copy()
    assert copy_encoder(source, target) == len(before)
    after = get_encoder(target).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(after, get_encoder(source).get_weights()))
    assert not any(np.array_equal(a, b) for a, b in zip(after, before) if a.std() > 0)
    assert np.array_equal(target.get_layer("head").get_weights()[0], decoder_before)  # decoder untouched


def test_describe_encoder():
    assert describe_encoder(get_encoder(_tiny(channels=1, depth=3, filters=8))) == \
        {"channels": 1, "depth": 3, "filters": 8}


@pytest.mark.parametrize("change, shown", [
    ({"depth": 3}, "depth 3, filters 4, 3 input channel(s)"),
    ({"filters": 8}, "depth 2, filters 8, 3 input channel(s)"),
    ({"channels": 1}, "depth 2, filters 4, 1 input channel(s)"),
])
def test_mismatched_encoders_are_refused(change, shown):
    with pytest.raises(SegcoderError) as err:
        copy_encoder(_tiny(), _tiny(**change), "runs/ae")
    message = str(err.value)
    assert message.startswith("runs/ae: its encoder (depth 2, filters 4, 3 input channel(s)) does not match")
    assert f"this model's ({shown})" in message and "--depth 2 --filters 4" in message


def test_other_normalisation_is_refused():
    with pytest.raises(SegcoderError, match="another --norm"):
        copy_encoder(_tiny(norm="batch"), _tiny(norm="none"))


def _pretrain_source(model, folder):
    """Save ``model`` as a run folder's model.keras, as a pretrain run would."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    return folder


def test_copy_encoder_from_a_run_folder(tmp_path):
    from segcoder.transfer import copy_encoder_from_run

    source = _tiny("autoencoder", seed=7)
    target = _tiny("unet", seed=8)
    copy_encoder_from_run(_pretrain_source(source, tmp_path / "ae"), target)
    assert np.array_equal(get_encoder(target).get_weights()[0], get_encoder(source).get_weights()[0])
    with pytest.raises(SegcoderError, match="model.keras: not found"):
        copy_encoder_from_run(tmp_path / "empty", target)


def test_train_with_frozen_encoder_keeps_pretrained_weights(synthetic_data, tmp_path):
    import keras

    from segcoder.train import train

    source = _tiny("autoencoder", seed=5)
    run = _pretrain_source(source, tmp_path / "ae")
    config = tiny_config(synthetic_data, **{"train.init_encoder": str(run), "train.freeze_encoder_epochs": 1})
    train(config, tmp_path / "frozen", verbose=0)
    trained = keras.saving.load_model(tmp_path / "frozen/model.keras", compile=False)
    # frozen for the whole (1-epoch) run: kernels and batch-norm statistics are exactly the pretrained ones
    for a, b in zip(get_encoder(trained).get_weights(), get_encoder(source).get_weights()):
        assert np.array_equal(a, b)

    config = tiny_config(synthetic_data, **{"train.init_encoder": str(run), "train.freeze_encoder_epochs": 1,
                                            "train.epochs": 2})
    train(config, tmp_path / "thawed", verbose=0)
    thawed = keras.saving.load_model(tmp_path / "thawed/model.keras", compile=False)
    kernel = lambda m: get_encoder(m).get_layer("enc0_conv1").get_weights()[0]  # noqa: E731
    step = np.abs(kernel(thawed) - kernel(source)).max()
    assert 0 < step < 0.05  # trained after the frozen epoch, but from the pretrained start
    history = (tmp_path / "thawed/history.csv").read_text().splitlines()
    assert len(history) == 3 and history[0].startswith("epoch")  # both phases logged in one file


def test_train_cli_refuses_a_mismatched_encoder_before_writing(synthetic_data, tmp_path, capsys):
    run = _pretrain_source(_tiny("autoencoder", filters=8), tmp_path / "ae")
    d = synthetic_data
    code = main(["train", "--images", str(d / "train/images"), "--masks", str(d / "train/masks"),
                 "--classes", str(d / "classes.json"), "--depth", "2", "--filters", "4", "--crop-size", "32",
                 "--init-encoder", str(run), "--out", str(tmp_path / "seg")])
    assert code == 2
    err = capsys.readouterr().err
    assert "does not match" in err and err.count("\n") == 1
    assert not (tmp_path / "seg").exists()


def test_init_encoder_needs_a_model_file(synthetic_data, tmp_path):
    from segcoder.train import train

    with pytest.raises(SegcoderError, match="model.keras: not found"):
        train(tiny_config(synthetic_data, **{"train.init_encoder": str(tmp_path)}), tmp_path / "x", verbose=0)


def test_freezing_needs_an_encoder_to_freeze(synthetic_data, tmp_path):
    from segcoder.train import train

    with pytest.raises(SegcoderError, match="needs --init-encoder"):
        train(tiny_config(synthetic_data, **{"train.freeze_encoder_epochs": 2}), tmp_path / "x", verbose=0)


def _reconstructor(name="unet", seed=3):
    """A pretrain-style model: the same architecture, one output channel per image channel."""
    import keras

    from segcoder.models import MODEL_BUILDERS

    keras.utils.set_random_seed(seed)
    return MODEL_BUILDERS[name](3, 3, depth=2, filters=4)


def test_copy_decoder_copies_all_but_the_head():
    from segcoder.transfer import copy_decoder

    source, target = _reconstructor(), _tiny("unet", seed=4)
    head = target.get_layer("head").get_weights()[0].copy()
    copied = copy_decoder(source, target)
    decoder = [layer for layer in target.layers if layer.weights and layer.name not in ("encoder", "head")]
    assert copied == len(decoder) > 0
    for layer in decoder:
        assert all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), source.get_layer(layer.name).get_weights()))
    assert np.array_equal(target.get_layer("head").get_weights()[0], head)


def test_decoder_of_another_architecture_is_refused_and_nothing_changes():
    from segcoder.transfer import copy_decoder

    target = _tiny("unet", seed=4)
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(SegcoderError, match="runs/ae: its decoder \\(autoencoder\\) does not fit this unet's"):
        copy_decoder(_reconstructor("autoencoder"), target, "runs/ae")
    assert all(np.array_equal(a, b) for a, b in zip(target.get_weights(), before))


def test_train_cli_init_decoder(synthetic_data, tmp_path, capsys):
    import keras

    d = synthetic_data
    args = ["train", "--images", str(d / "train/images"), "--masks", str(d / "train/masks"),
            "--val-images", str(d / "val/images"), "--val-masks", str(d / "val/masks"),
            "--classes", str(d / "classes.json"), "--depth", "2", "--filters", "4", "--crop-size", "32",
            "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--workers", "1", "--lr", "1e-9"]
    ae = _pretrain_source(_reconstructor("autoencoder"), tmp_path / "ae")
    assert main(args + ["--init-encoder", str(ae), "--init-decoder", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "does not fit" in err and err.count("\n") == 1 and not (tmp_path / "bad").exists()
    assert main(args + ["--init-decoder", "--out", str(tmp_path / "none")]) == 2
    assert "--init-decoder needs --init-encoder" in capsys.readouterr().err

    source = _reconstructor("unet", seed=9)
    unet = _pretrain_source(source, tmp_path / "unet_ae")
    assert main(args + ["--init-encoder", str(unet), "--init-decoder", "--out", str(tmp_path / "seg")]) == 0
    trained = keras.saving.load_model(tmp_path / "seg/model.keras", compile=False)
    kernel = trained.get_layer("dec0_conv1").get_weights()[0]
    assert np.allclose(kernel, source.get_layer("dec0_conv1").get_weights()[0], atol=1e-6)  # lr 1e-9: barely moved
