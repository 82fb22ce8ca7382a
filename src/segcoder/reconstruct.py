"""Using a pretrained autoencoder: rebuild images, score the reconstruction, and draw it.

Example:
    >>> rec = Reconstructor.load("runs/ae")
    >>> rebuilt = rec.reconstruct(image)            # float32 (H, W, C) in [0, 1]
    >>> psnr(image, rebuilt)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segcoder.errors import SegcoderError


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1] (peak 1); inf when identical."""
    mse = float(np.mean((np.asarray(reference, np.float64) - np.asarray(test, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM of two (H, W, C) images in [0, 1], with the training loss's 7x7 uniform window."""
    from keras import ops

    from segcoder.reconstruction_losses import ssim_map

    a = np.asarray(reference, np.float32)[None]
    b = np.asarray(test, np.float32)[None]
    return float(np.mean(ops.convert_to_numpy(ssim_map(a, b))))


def check_pretrain_run(run_dir: str | Path) -> Path:
    from segcoder.run import CONFIG_FILE, MODEL_FILE

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SegcoderError(f"{run_dir}: run folder not found; give the --out folder of a finished `segcoder pretrain`")
    for name in (MODEL_FILE, CONFIG_FILE):
        if not (run_dir / name).is_file():
            raise SegcoderError(f"{run_dir / name}: missing; this is not a finished pretrain run folder")
    return run_dir


class Reconstructor:
    """A trained encoder-decoder whose sigmoid output rebuilds its input."""

    def __init__(self, model, stride: int, config=None):
        self.model, self.stride, self.config = model, stride, config
        self.image_scale = config.run.data.image_scale if config is not None else 1.0
        self.channels = int(model.input_shape[-1])
        if int(model.output_shape[-1]) != self.channels:
            raise SegcoderError(
                f"the model outputs {model.output_shape[-1]} channels for {self.channels}-channel images; "
                "it is a segmenter, not an autoencoder (give a `segcoder pretrain` run folder)"
            )

    @classmethod
    def load(cls, run_dir: str | Path) -> "Reconstructor":
        import keras

        from segcoder.pretrain import PretrainConfig
        from segcoder.run import CONFIG_FILE, MODEL_FILE

        run_dir = check_pretrain_run(run_dir)
        config = PretrainConfig.from_yaml(run_dir / CONFIG_FILE)
        model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
        return cls(model, 2**config.run.model.depth, config)

    def as_input(self, image: np.ndarray) -> np.ndarray:
        """A float32 (H, W, C) image with this model's channel count (gray <-> RGB converted)."""
        from segcoder.data.dataset import match_channels

        image = np.asarray(image, np.float32)
        if image.ndim == 2:
            image = image[..., None]
        return match_channels(image, self.channels)

    def reconstruct(self, image: np.ndarray) -> np.ndarray:
        """The reconstruction of one image, predicted whole (padded to the stride, cropped back)."""
        from segcoder.data.augment import pad_to_multiple

        from segcoder.data.resample import resize_image, resize_logits

        image = self.as_input(image)
        size = image.shape[:2]
        image = resize_image(image, self.image_scale)  # a run pretrained at --image-scale sees images at that scale
        h, w = image.shape[:2]
        padded, _ = pad_to_multiple(image, None, self.stride)
        logits = np.asarray(self.model.predict_on_batch(padded[None]), np.float32)[0, :h, :w]
        return 1.0 / (1.0 + np.exp(-resize_logits(logits, size)))


def score_images(reconstructor: Reconstructor, files) -> dict:
    """Mean MSE, MAE, PSNR and SSIM of the clean-input reconstructions of ``files``."""
    from segcoder.data.io import read_image

    rows = []
    for path in files:
        image = reconstructor.as_input(read_image(path))
        rebuilt = reconstructor.reconstruct(image)
        rows.append((np.mean((rebuilt - image) ** 2), np.mean(np.abs(rebuilt - image)),
                     psnr(image, rebuilt), ssim(image, rebuilt)))
    mse, mae, p, s = (round(float(v), 6) for v in np.mean(rows, axis=0))
    return {"mse": mse, "mae": mae, "psnr": p, "ssim": s}


def _error_rgb(error: np.ndarray) -> np.ndarray:
    """Absolute error (H, W) in [0, 1] as an RGB uint8 heat map (0 black, >= 0.25 white-hot)."""
    import matplotlib

    cmap = matplotlib.colormaps["inferno"]
    return (cmap(np.clip(error / 0.25, 0, 1))[..., :3] * 255 + 0.5).astype(np.uint8)


def _rgb(image: np.ndarray) -> np.ndarray:
    image = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def side_by_side(image: np.ndarray, rebuilt: np.ndarray) -> np.ndarray:
    """original | reconstruction | error map as one RGB uint8 strip, 4-pixel white gaps."""
    error = _error_rgb(np.abs(rebuilt - image).mean(axis=-1))
    gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([_rgb(image), gap, _rgb(rebuilt), gap, error], axis=1)


def write_grid(reconstructor: Reconstructor, files, settings, out_png: Path, seed: int = 0) -> Path:
    """Rows of original | corrupted input | reconstruction of the corrupted input | error, one per file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from segcoder._atomic import atomic_path
    from segcoder.data.io import read_image
    from segcoder.pretrain import corrupt

    titles = ("original", f"input ({settings.corruption})", "reconstruction", "|error|")
    fig, axes = plt.subplots(len(files), 4, figsize=(12, 3 * len(files)), squeeze=False)
    for row, path in enumerate(files):
        image = reconstructor.as_input(read_image(path))
        noisy = corrupt(image, settings, np.random.default_rng([seed, row]))
        rebuilt = reconstructor.reconstruct(noisy)
        error = _error_rgb(np.abs(rebuilt - image).mean(axis=-1))
        for col, shown in enumerate((_rgb(image), _rgb(noisy), _rgb(rebuilt), error)):
            axes[row, col].imshow(shown)
            axes[row, col].set_axis_off()
            if row == 0 or col == 0:
                axes[row, col].set_title(f"{titles[col]}: {Path(path).name}" if col == 0 else titles[col], fontsize=9)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return out_png


def reconstruct_files(run_dir, inputs, out_dir, log=print) -> list[Path]:
    """Write ``<stem>_reconstruction.png`` (original | reconstruction | error map) for every input image.

    Args:
        run_dir: a finished ``segcoder pretrain`` run folder.
        inputs: image files and/or folders.
        out_dir: folder for the PNGs (created if needed).
        log: called with one progress line per image.
    """
    from segcoder.data.io import read_image
    from segcoder.outputs import save_png
    from segcoder.predict import expand_inputs

    reconstructor = Reconstructor.load(run_dir)
    files = expand_inputs(inputs)
    out_dir = Path(out_dir)
    written = []
    for n, path in enumerate(files, 1):
        image = reconstructor.as_input(read_image(path))
        rebuilt = reconstructor.reconstruct(image)
        target = out_dir / f"{path.stem}_reconstruction.png"
        written.append(save_png(side_by_side(image, rebuilt), target))
        log(f"[{n}/{len(files)}] {path} -> {target}  PSNR {psnr(image, rebuilt):.2f} dB  SSIM {ssim(image, rebuilt):.4f}")
    return written
