"""The autoencoder as a lossy compressor, measured against JPEG at the same number of bytes.

The code of an image is the autoencoder's bottleneck, quantised to 8 bits
(one byte per value) with its range stored beside it. Its size is counted
exactly; JPEG is then run at the quality whose file comes closest to that
size, and both reconstructions are scored with PSNR and SSIM against the
8-bit original. A second count passes the code through lossless deflate
(zlib), since JPEG's own bytes are entropy coded too.

Only a network without skip connections compresses: a U-Net sends detail
around the bottleneck, so its bottleneck alone cannot rebuild the image.

Example:
    >>> result = compress_eval("runs/ae", ["membrane/test/images"])
    >>> print(format_table(result))
"""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import numpy as np

from segcoder.errors import SegcoderError

HEADER_BYTES = 12  # the code's range (two float32) and the image's height and width (two uint16)
JPEG_QUALITIES = tuple(range(1, 101))
CURVE_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)  # JPEG points drawn on the plot


def quantize(code: np.ndarray) -> tuple[np.ndarray, float, float]:
    """8-bit code: values mapped linearly from [min, max] onto 0..255."""
    lo, hi = float(code.min()), float(code.max())
    scale = (hi - lo) / 255.0 or 1.0
    return np.round((code - lo) / scale).astype(np.uint8), lo, hi


def dequantize(q: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scale = (hi - lo) / 255.0 or 1.0
    return (q.astype(np.float32) * scale + lo).astype(np.float32)


def code_bytes(q: np.ndarray) -> int:
    """Bytes of an 8-bit code stored as it is: one per value, plus the header."""
    return int(q.size) + HEADER_BYTES


def deflated_bytes(q: np.ndarray) -> int:
    """Bytes of an 8-bit code after lossless deflate (zlib level 9), plus the header."""
    return len(zlib.compress(np.ascontiguousarray(q).tobytes(), 9)) + HEADER_BYTES


def jpeg_roundtrip(image_u8: np.ndarray, quality: int) -> tuple[int, np.ndarray]:
    """(file size in bytes, decoded float image in [0, 1]) of ``image_u8`` (H, W, C) saved as JPEG."""
    from PIL import Image

    pil = Image.fromarray(image_u8[..., 0] if image_u8.shape[-1] == 1 else image_u8)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=int(quality), optimize=True)
    size = buffer.tell()
    buffer.seek(0)
    decoded = np.asarray(Image.open(buffer), np.float32) / 255.0
    return size, decoded.reshape(image_u8.shape)


class CodeModel:
    """An autoencoder split into ``encode`` (image batch -> bottleneck) and ``decode`` (bottleneck -> logits)."""

    def __init__(self, model, stride: int):
        import keras

        from segcoder.transfer import get_encoder

        self.encoder, self.stride = get_encoder(model), stride
        self.channels = int(model.input_shape[-1])
        position = model.layers.index(self.encoder)
        rest = model.layers[position + 1:]
        if any(isinstance(layer, keras.layers.Concatenate) for layer in rest):
            raise SegcoderError(
                f"model '{model.name}' has skip connections that carry detail around the bottleneck, so the "
                "bottleneck is not a code; pretrain with --model autoencoder to measure compression"
            )
        code_input = keras.Input(self.encoder.output[-1].shape[1:], name="code")
        x = code_input
        for layer in rest:  # the autoencoder's decoder is a plain chain after the encoder
            x = layer(x)
        self.decoder = keras.Model(code_input, x, name="decoder")

    def encode(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder.predict_on_batch(batch)[-1], np.float32)

    def decode(self, code: np.ndarray) -> np.ndarray:
        logits = np.asarray(self.decoder.predict_on_batch(code), np.float32)
        return 1.0 / (1.0 + np.exp(-logits))


def _closest(sizes: np.ndarray, target: float) -> int:
    return int(np.argmin(np.abs(sizes - target)))


def evaluate_image(codec: CodeModel, image: np.ndarray) -> dict:
    """Bytes, PSNR and SSIM of the autoencoder's 8-bit code and of size-matched JPEGs for one image."""
    from segcoder.data.augment import pad_to_multiple
    from segcoder.reconstruct import psnr, ssim

    u8 = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    reference = u8.astype(np.float32) / 255.0
    h, w = reference.shape[:2]
    padded, _ = pad_to_multiple(reference, None, codec.stride)
    code = codec.encode(padded[None])
    q, lo, hi = quantize(code)
    rebuilt = codec.decode(dequantize(q, lo, hi))[0, :h, :w]
    exact = codec.decode(code)[0, :h, :w]
    raw, packed = code_bytes(q), deflated_bytes(q)

    jpeg = [jpeg_roundtrip(u8, quality) for quality in JPEG_QUALITIES]
    sizes = np.array([size for size, _ in jpeg], np.float64)
    row = {
        "pixels": h * w, "code_values": int(q.size),
        "ae": {"bytes": raw, "psnr": psnr(reference, rebuilt), "ssim": ssim(reference, rebuilt),
               "psnr_unquantised": psnr(reference, exact)},
        "ae_deflate": {"bytes": packed},
    }
    for key, target in (("jpeg", raw), ("jpeg_deflate", packed)):
        i = _closest(sizes, target)
        row[key] = {"bytes": int(sizes[i]), "quality": JPEG_QUALITIES[i],
                    "psnr": psnr(reference, jpeg[i][1]), "ssim": ssim(reference, jpeg[i][1])}
    row["curve"] = [
        {"quality": qv, "bytes": int(sizes[qv - 1]), "psnr": psnr(reference, jpeg[qv - 1][1]),
         "ssim": ssim(reference, jpeg[qv - 1][1])}
        for qv in CURVE_QUALITIES
    ]
    return row


def _mean(rows, *keys) -> float:
    values = []
    for row in rows:
        for key in keys:
            row = row[key]
        values.append(row)
    return round(float(np.mean(values)), 4)


def summarize(rows: list[dict], label: str) -> dict:
    """Means over the images of one set; rates in bits per pixel (of the image's height x width)."""
    pixels = float(np.mean([r["pixels"] for r in rows]))

    def bpp(*keys):
        return round(8.0 * _mean(rows, *keys, "bytes") / pixels, 4)

    summary = {
        "images": label, "count": len(rows), "mean_pixels": pixels,
        "mean_code_values": _mean(rows, "code_values"),
        "autoencoder": {"bytes": _mean(rows, "ae", "bytes"), "bpp": bpp("ae"),
                        "psnr": _mean(rows, "ae", "psnr"), "ssim": _mean(rows, "ae", "ssim"),
                        "psnr_unquantised": _mean(rows, "ae", "psnr_unquantised")},
        "autoencoder_deflate": {"bytes": _mean(rows, "ae_deflate", "bytes"), "bpp": bpp("ae_deflate"),
                                "psnr": _mean(rows, "ae", "psnr"), "ssim": _mean(rows, "ae", "ssim")},
    }
    for key in ("jpeg", "jpeg_deflate"):
        summary[key] = {"bytes": _mean(rows, key, "bytes"), "bpp": bpp(key), "quality": _mean(rows, key, "quality"),
                        "psnr": _mean(rows, key, "psnr"), "ssim": _mean(rows, key, "ssim")}
    summary["jpeg_curve"] = [
        {"quality": qv, "bpp": round(8.0 * float(np.mean([r["curve"][i]["bytes"] for r in rows])) / pixels, 4),
         "psnr": round(float(np.mean([r["curve"][i]["psnr"] for r in rows])), 4),
         "ssim": round(float(np.mean([r["curve"][i]["ssim"] for r in rows])), 4)}
        for i, qv in enumerate(CURVE_QUALITIES)
    ]
    return summary


def compress_eval(run_dir, image_dirs, json_path=None, plot_path=None, max_images=None, log=print) -> dict:
    """Compare the autoencoder of ``run_dir`` with JPEG on each folder of ``image_dirs``.

    Args:
        run_dir: a finished ``segcoder pretrain --model autoencoder`` run folder.
        image_dirs: folders of images; each is one set in the table (converted to the model's channels).
        json_path: also write the result here.
        plot_path: also draw the rate-distortion plot here (PNG).
        max_images: use at most this many images of each folder (the first by name).
        log: called with one progress line per folder.
    """
    from segcoder._atomic import write_text
    from segcoder.data.io import read_image
    from segcoder.data.pairs import list_images
    from segcoder.reconstruct import Reconstructor

    reconstructor = Reconstructor.load(run_dir)
    if reconstructor.image_scale != 1.0:
        raise SegcoderError(f"{run_dir}: pretrained at --image-scale {reconstructor.image_scale}; compress-eval "
                            "codes images at full size, so give a run pretrained at --image-scale 1")
    codec = CodeModel(reconstructor.model, reconstructor.stride)
    sets = []
    for folder in image_dirs:
        files = list_images(folder, "images")[: max_images or None]
        rows = [evaluate_image(codec, reconstructor.as_input(read_image(f))) for f in files]
        sets.append(summarize(rows, str(folder)))
        log(f"{folder}: {len(rows)} images done")
    result = {"run": str(run_dir), "sets": sets}
    if json_path:
        write_text(json_path, json.dumps(result, indent=2) + "\n")
    if plot_path:
        plot_rate_distortion(result, plot_path)
    return result


def format_table(result: dict) -> str:
    """One row per set and method: bytes, bits per pixel, JPEG quality, PSNR and SSIM."""
    lines = [f"{'images':<40}{'method':<22}{'bytes':>9}{'bpp':>8}{'JPEG q':>8}{'PSNR':>8}{'SSIM':>8}"]
    names = (("autoencoder", "AE 8-bit code"), ("jpeg", "JPEG, same bytes"),
             ("autoencoder_deflate", "AE code + deflate"), ("jpeg_deflate", "JPEG, same bytes"))
    for s in result["sets"]:
        label = s["images"] if len(s["images"]) <= 38 else "..." + s["images"][-35:]
        for key, name in names:
            m = s[key]
            quality = f"{m['quality']:8.1f}" if "quality" in m else f"{'-':>8}"
            lines.append(f"{label:<40}{name:<22}{m['bytes']:>9.0f}{m['bpp']:>8.3f}{quality}"
                         f"{m['psnr']:>8.2f}{m['ssim']:>8.4f}")
        lines.append(f"{'':<40}(AE without quantisation: PSNR {s['autoencoder']['psnr_unquantised']:.2f})")
    return "\n".join(lines)


def plot_rate_distortion(result: dict, out_png) -> Path:
    """PSNR and SSIM against bits per pixel: JPEG curves and the autoencoder's points, one colour per set."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segcoder._atomic import atomic_path

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for n, s in enumerate(result["sets"]):
        color = f"C{n}"
        name = Path(s["images"]).parent.parent.name + "/" + Path(s["images"]).parent.name
        for ax, key in zip(axes, ("psnr", "ssim")):
            curve = s["jpeg_curve"]
            ax.plot([c["bpp"] for c in curve], [c[key] for c in curve], "-", color=color, label=f"JPEG {name}")
            ax.plot(s["autoencoder"]["bpp"], s["autoencoder"][key], "o", color=color, ms=9,
                    label=f"AE 8-bit {name}")
            ax.plot(s["autoencoder_deflate"]["bpp"], s["autoencoder_deflate"][key], "X", color=color, ms=9,
                    label=f"AE + deflate {name}")
    for ax, title in zip(axes, ("PSNR (dB)", "SSIM")):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("bits per pixel")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return out_png
