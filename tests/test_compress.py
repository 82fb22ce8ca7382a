"""compress-eval: the byte counting of the 8-bit code, the split into encoder and decoder, and the JPEG match."""

from __future__ import annotations

import io
import json
import zlib

import numpy as np
import pytest
from PIL import Image

from segcoder.cli import main
from segcoder.compress import (HEADER_BYTES, JPEG_QUALITIES, CodeModel, code_bytes, deflated_bytes, dequantize,
                               evaluate_image, jpeg_roundtrip, quantize)
from segcoder.errors import SegcoderError
from segcoder.models import build_autoencoder, build_unet


@pytest.fixture(scope="module")
def tiny_ae():
    import keras

    keras.utils.set_random_seed(3)
    return build_autoencoder(1, 1, depth=2, filters=4, norm="batch")


def test_quantize_round_trip_and_byte_counts():
    rng = np.random.default_rng(0)
    code = np.maximum(rng.normal(0, 1, (1, 4, 4, 16)), 0).astype(np.float32)  # post-ReLU: many zeros
    q, lo, hi = quantize(code)
    assert q.dtype == np.uint8 and q.min() == 0 and q.max() == 255
    step = (hi - lo) / 255
    assert np.abs(dequantize(q, lo, hi) - code).max() <= step / 2 + 1e-6
    assert code_bytes(q) == 256 + HEADER_BYTES  # one byte per value, plus range and size
    assert deflated_bytes(q) == len(zlib.compress(q.tobytes(), 9)) + HEADER_BYTES
    assert deflated_bytes(np.zeros(4096, np.uint8)) < 50 + HEADER_BYTES  # constant codes deflate to almost nothing
    flat, lo, hi = quantize(np.full((2, 3), 0.7, np.float32))  # a constant code must not divide by zero
    assert np.allclose(dequantize(flat, lo, hi), 0.7)


def test_code_model_splits_the_autoencoder_exactly(tiny_ae):
    rng = np.random.default_rng(1)
    batch = rng.random((1, 32, 32, 1)).astype(np.float32)
    codec = CodeModel(tiny_ae, stride=4)
    code = codec.encode(batch)
    assert code.size == 8 * 8 * 16  # (32/4)^2 positions x 4*2^2 filters
    whole = 1 / (1 + np.exp(-np.asarray(tiny_ae.predict_on_batch(batch))))
    assert np.allclose(codec.decode(code), whole, atol=1e-5)


def test_unet_is_refused_as_a_compressor():
    with pytest.raises(SegcoderError, match="skip connections"):
        CodeModel(build_unet(1, 1, depth=2, filters=4), stride=4)


def test_jpeg_size_is_the_file_size(tmp_path):
    image = (np.random.default_rng(2).random((40, 56, 1)) * 255).astype(np.uint8)
    size, decoded = jpeg_roundtrip(image, 50)
    Image.fromarray(image[..., 0]).save(tmp_path / "a.jpg", quality=50, optimize=True)
    assert size == (tmp_path / "a.jpg").stat().st_size
    assert decoded.shape == image.shape and decoded.dtype == np.float32


def test_jpeg_is_matched_at_the_closest_size(tiny_ae):
    rng = np.random.default_rng(4)
    image = np.clip(rng.normal(0.5, 0.2, (48, 40, 1)), 0, 1).astype(np.float32)
    row = evaluate_image(CodeModel(tiny_ae, stride=4), image)
    # 48x40 is padded to 48x40 (already a multiple of 4): 12*10 positions x 16 channels
    assert row["code_values"] == 12 * 10 * 16 and row["ae"]["bytes"] == 1920 + HEADER_BYTES
    u8 = np.round(image * 255).astype(np.uint8)
    sizes = [len(_jpeg(u8, q)) for q in JPEG_QUALITIES]
    for key, target in (("jpeg", row["ae"]["bytes"]), ("jpeg_deflate", row["ae_deflate"]["bytes"])):
        best = min(abs(s - target) for s in sizes)
        assert abs(row[key]["bytes"] - target) == best
        assert sizes[row[key]["quality"] - 1] == row[key]["bytes"]


def _jpeg(u8, quality):
    buffer = io.BytesIO()
    Image.fromarray(u8[..., 0]).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def test_compress_eval_cli_writes_table_json_and_plot(synthetic_data, tmp_path, capsys):
    d = synthetic_data
    code = main(["pretrain", "--images", str(d / "train/images"), "--model", "autoencoder", "--depth", "2",
                 "--filters", "4", "--crop-size", "32", "--epochs", "1", "--steps-per-epoch", "2",
                 "--batch-size", "2", "--workers", "1", "--out", str(tmp_path / "ae")])
    assert code == 0
    code = main(["compress-eval", str(tmp_path / "ae"), "--images", str(d / "val/images"), str(d / "train/images"),
                 "--max-images", "2", "--json", str(tmp_path / "c.json"), "--plot", str(tmp_path / "rd.png")])
    assert code == 0
    out = capsys.readouterr().out
    assert "AE 8-bit code" in out and "JPEG, same bytes" in out
    result = json.loads((tmp_path / "c.json").read_text())
    first = result["sets"][0]
    assert [s["count"] for s in result["sets"]] == [2, 2]
    # 48x48 RGB at stride 4: 12*12 positions x 16 values = 2304 bytes, 8 bits each over 48*48 pixels
    assert first["autoencoder"]["bytes"] == 2304 + HEADER_BYTES
    assert first["autoencoder"]["bpp"] == pytest.approx(8 * (2304 + HEADER_BYTES) / 48**2, abs=1e-3)
    assert Image.open(tmp_path / "rd.png").format == "PNG"


def test_compress_eval_refuses_a_unet_run(synthetic_data, tmp_path, capsys):
    from segcoder.pretrain import PretrainConfig, PretrainSettings

    config = PretrainConfig(pretrain=PretrainSettings(images=[str(synthetic_data / "val/images")]))
    config.run.override(**{"model.depth": 2, "model.filters": 4})
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet/config.yaml").write_text(config.to_yaml())
    build_unet(3, 3, depth=2, filters=4).save(tmp_path / "unet/model.keras")  # as `pretrain --model unet` saves it
    code = main(["compress-eval", str(tmp_path / "unet"), "--images", str(synthetic_data / "val/images")])
    assert code == 2
    assert "pretrain with --model autoencoder" in capsys.readouterr().err
