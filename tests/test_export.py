"""ONNX export and the onnxruntime engine: same logits as the Keras model, CLI behaviour."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from segcoder.cli import main


@pytest.fixture(scope="module")
def exported_run(tiny_run, tmp_path_factory):
    """A copy of the shared tiny run with ``model.onnx`` written by the CLI."""
    run = tmp_path_factory.mktemp("export") / "run"
    shutil.copytree(tiny_run, run)
    assert main(["export", str(run), "--format", "onnx"]) == 0
    return run


def keras_model(run):
    import keras

    return keras.saving.load_model(run / "model.keras", compile=False)


@pytest.mark.parametrize("shape", [(2, 32, 48), (1, 64, 16)])
def test_onnx_logits_match_keras_within_1e4(exported_run, shape):
    from segcoder.onnx_engine import load_onnx_segmenter

    batch = np.random.default_rng(0).random((*shape, 3), dtype=np.float32)
    expected = np.asarray(keras_model(exported_run).predict_on_batch(batch))
    got = load_onnx_segmenter(exported_run).predict_logits_batch(batch)
    assert got.shape == expected.shape == (*shape, 4)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_onnx_engine_predicts_like_keras_engine(exported_run, synthetic_data):
    from segcoder.data.io import read_image
    from segcoder.predict import load

    image = read_image(sorted((synthetic_data / "val/images").iterdir())[0])
    onnx, keras_seg = load(exported_run, engine="onnx"), load(exported_run)
    assert (onnx.channels, onnx.stride, onnx.classes.names) == (keras_seg.channels, keras_seg.stride,
                                                                  keras_seg.classes.names)
    np.testing.assert_allclose(onnx.predict_proba(image), keras_seg.predict_proba(image), atol=1e-4)
    assert np.array_equal(onnx.predict(image), keras_seg.predict(image))


def test_export_out_path_and_errors(exported_run, tmp_path, capsys):
    out = tmp_path / "sub" / "net.onnx"
    assert main(["export", str(exported_run), "--out", str(out)]) == 0
    assert out.stat().st_size > 1000 and not list(out.parent.glob(".*part*"))
    assert main(["export", str(exported_run), "--out", str(tmp_path / "net.bin")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_onnx_engine_without_export_says_how_to_fix(tiny_run):
    from segcoder.errors import SegcoderError
    from segcoder.predict import load

    with pytest.raises(SegcoderError, match="segcoder export"):
        load(tiny_run, engine="onnx")
