"""Autoencoder pretraining: teach an encoder-decoder to rebuild unlabelled images, with no masks.

A pretrain run folder has the shape of a training run (``model.keras``,
``config.yaml``, ``history.csv``, ``curves.png``, ``metrics.json``) plus
``reconstructions.png``. Its ``encoder`` sub-model can seed a segmenter
(``segcoder train --init-encoder RUN``, see :mod:`segcoder.transfer`).

Example:
    >>> cfg = PretrainConfig(images=["unlabelled/"], corruption="mask")
    >>> pretrain(cfg, "runs/ae").metrics["psnr"]
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import yaml

from segcoder import run as runfiles
from segcoder._atomic import replace_dir, write_text
from segcoder.config import RunConfig
from segcoder.data.dataset import SeededBatches
from segcoder.errors import SegcoderError
from segcoder.plots import plot_curves
from segcoder.reconstruction_losses import RECONSTRUCTION_LOSSES

CORRUPTIONS = ("none", "noise", "mask")
LOSS_REGIONS = ("all", "hidden")
RECONSTRUCTIONS_FILE = "reconstructions.png"
MAX_SCORED = 16  # images scored for metrics.json (the first ones); whole-image inference is slow on a CPU


@dataclass
class PretrainSettings:
    images: list[str] = field(default_factory=list)  # folders of unlabelled images (masks are never read)
    corruption: str = "mask"  # what the input suffers before the network rebuilds it: none, noise or mask
    noise_std: float = 0.2  # standard deviation of the Gaussian noise ("noise"), images being in [0, 1]
    mask_ratio: float = 0.5  # share of patches blanked out ("mask")
    mask_patch: int = 16  # side of the square patches blanked out ("mask"), in pixels
    loss: str = "mse"  # reconstruction loss: mse, mae or ssim+l1
    # Pixels the loss counts: all, or only the blanked patches ("hidden", mask corruption only), as a
    # masked autoencoder does. On "all", a U-Net's top skip connection copies the visible pixels and
    # half the loss teaches nothing about context.
    loss_region: str = "all"
    val_split: float = 0.1  # share of the images held out to score the reconstruction


@dataclass
class PretrainConfig:
    """Settings of a pretraining run: the usual model/train/data sections plus ``pretrain``.

    ``train.loss`` and the mask options of ``data`` are unused; ``pretrain.loss`` picks the loss.
    """

    run: RunConfig = field(default_factory=RunConfig)
    pretrain: PretrainSettings = field(default_factory=PretrainSettings)

    def to_yaml(self) -> str:
        raw = self.run.to_dict()
        raw["train"].pop("loss")  # segmentation loss: meaningless here, pretrain.loss rules
        for key in ("images", "masks", "val_images", "val_masks", "classes", "val_split"):
            raw["data"].pop(key)
        raw["pretrain"] = dataclasses.asdict(self.pretrain)
        return yaml.safe_dump(raw, sort_keys=False)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "PretrainConfig":
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SegcoderError(f"{path}: unreadable config ({exc.__class__.__name__}); pretrain again") from None
        if not isinstance(raw, dict) or "pretrain" not in raw:
            raise SegcoderError(f"{path}: not a pretraining run (no 'pretrain' section); give a `segcoder pretrain` --out folder")
        settings = raw.pop("pretrain") or {}
        names = {f.name for f in dataclasses.fields(PretrainSettings)}
        if set(settings) - names:
            raise SegcoderError(f"{path}: unknown key(s) {sorted(set(settings) - names)} in section 'pretrain'")
        return cls(RunConfig.from_dict(raw, source=str(path)), PretrainSettings(**settings))

    def validate(self) -> "PretrainConfig":
        p = self.pretrain
        self.run.validate()
        checks = [
            (bool(p.images), "pretraining needs --images DIR [DIR ...]"),
            (p.corruption in CORRUPTIONS, f"--corruption must be one of {CORRUPTIONS}, not '{p.corruption}'"),
            (p.loss in RECONSTRUCTION_LOSSES, f"--recon-loss must be one of {RECONSTRUCTION_LOSSES}, not '{p.loss}'"),
            (p.loss_region in LOSS_REGIONS, f"--loss-region must be one of {LOSS_REGIONS}, not '{p.loss_region}'"),
            (p.loss_region == "all" or p.corruption == "mask",
             f"--loss-region hidden needs --corruption mask (nothing is hidden by '{p.corruption}')"),
            (p.noise_std >= 0, f"--noise-std must not be negative, not {p.noise_std}"),
            (0 < p.mask_ratio < 1, f"--mask-ratio must be between 0 and 1, not {p.mask_ratio}"),
            (p.mask_patch >= 1, f"--mask-patch must be at least 1, not {p.mask_patch}"),
            (0 <= p.val_split < 1, f"--val-split must be in [0, 1), not {p.val_split}"),
        ]
        for ok, message in checks:
            if not ok:
                raise SegcoderError(message)
        return self


@dataclass
class PretrainResult:
    run_dir: Path
    metrics: dict  # clean-input reconstruction scores of the held-out images (or the training images)
    seconds: float


def corrupt(image: np.ndarray, settings: PretrainSettings, rng: np.random.Generator) -> np.ndarray:
    """The network's input for a clean (H, W, C) image in [0, 1]."""
    return corrupt_and_hide(image, settings, rng)[0]


def corrupt_and_hide(image: np.ndarray, settings: PretrainSettings, rng: np.random.Generator):
    """(the network's input, the (H, W) bool map of blanked pixels or None) for a clean image in [0, 1].

    "mask" fills blanked patches with the image mean rather than black, so the
    network cannot find them by their colour alone and must use the context.
    """
    if settings.corruption == "noise":
        noisy = image + rng.normal(0.0, settings.noise_std, image.shape).astype(np.float32)
        return np.clip(noisy, 0.0, 1.0), None
    if settings.corruption == "mask":
        p = settings.mask_patch
        h, w = image.shape[:2]
        grid = rng.random((math.ceil(h / p), math.ceil(w / p))) < settings.mask_ratio
        hidden = np.kron(grid, np.ones((p, p), bool))[:h, :w]
        out = image.copy()
        out[hidden] = image.mean(axis=(0, 1))
        return out, hidden
    return image, None


def training_target(clean: np.ndarray, hidden, settings: PretrainSettings) -> np.ndarray:
    """What the loss compares the reconstruction with: the clean image, plus a weight channel
    (1 on blanked pixels) when only the hidden pixels count (see :mod:`segcoder.reconstruction_losses`)."""
    if settings.loss_region == "all":
        return clean
    return np.concatenate([clean, hidden[..., None].astype(np.float32)], axis=-1)


def list_unlabelled(folders) -> list[Path]:
    from segcoder.data.pairs import list_images

    files = [f for folder in folders for f in list_images(folder, "images")]
    if len(files) != len(set(files)):
        raise SegcoderError("the same image folder is given twice in --images; give each folder once")
    return files


class UnlabelledCrops(SeededBatches):
    """Batches (corrupted crops, clean crops) of random augmented crops; ``steps`` batches make an epoch."""

    def __init__(self, files, channels, crop_size, batch_size, steps, seed, settings, workers=2, image_scale=1.0):
        super().__init__(steps, seed, workers)
        self.files, self.channels, self.crop_size = list(files), channels, crop_size
        self.batch_size, self.settings, self.image_scale = batch_size, settings, image_scale

    def __getitem__(self, index):
        from segcoder.data.augment import training_transform
        from segcoder.data.dataset import match_channels
        from segcoder.data.io import read_image
        from segcoder.data.resample import resize_image

        rng = self.batch_rng(index)
        transform = training_transform(self.crop_size, int(rng.integers(2**31)))
        noisy, targets = [], []
        for which in rng.integers(len(self.files), size=self.batch_size):
            image = resize_image(match_channels(read_image(self.files[which]), self.channels), self.image_scale)
            clean = transform(image=image)["image"]
            corrupted, hidden = corrupt_and_hide(clean, self.settings, rng)
            noisy.append(corrupted)
            targets.append(training_target(clean, hidden, self.settings))
        return np.stack(noisy).astype(np.float32), np.stack(targets).astype(np.float32)


class FixedBatches(keras.utils.PyDataset):
    """A fixed list of (x, y) batches (the held-out images)."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def held_out_batches(files, channels, stride, settings, seed, image_scale=1.0):
    """Whole held-out images (resized by ``image_scale``), padded to the stride, corrupted with a fixed seed."""
    from segcoder.data.augment import pad_to_multiple
    from segcoder.data.dataset import match_channels
    from segcoder.data.io import read_image
    from segcoder.data.resample import resize_image

    batches = []
    for n, path in enumerate(files):
        image = resize_image(match_channels(read_image(path), channels), image_scale)
        image, _ = pad_to_multiple(image, None, stride)
        noisy, hidden = corrupt_and_hide(image, settings, np.random.default_rng([seed, 7919, n]))
        batches.append((noisy[None], training_target(image, hidden, settings)[None]))
    return batches


def build_reconstructor(config: RunConfig, channels: int, fused: bool = False):
    """The encoder-decoder of ``config.model`` with one output channel per image channel.

    ``fused`` builds the layers with PyTorch's fused kernels, as training does
    (see :func:`segcoder.models.create_model`); the saved copy is stock Keras.
    """
    from segcoder.models import MODEL_BUILDERS

    m = config.model
    return MODEL_BUILDERS[m.name](channels, channels, depth=m.depth, filters=m.filters, norm=m.norm,
                                  data_format=m.data_format, fused=fused)


def save_reconstructor(model, path: Path, config: RunConfig, channels: int) -> None:
    """Save an uncompiled copy, so ``keras.saving.load_model(path)`` needs no custom objects."""
    import os

    from segcoder._atomic import atomic_path

    clean = build_reconstructor(config, channels)
    clean.set_weights(model.get_weights())
    with atomic_path(path) as tmp:
        keras_tmp = tmp + ".keras"  # Keras insists on the suffix
        clean.save(keras_tmp)
        os.replace(keras_tmp, tmp)


def _split(files, val_split, seed):
    if val_split == 0 or len(files) < 2:
        return files, []
    order = np.random.default_rng(seed).permutation(len(files))
    n_val = min(len(files) - 1, max(1, round(len(files) * val_split)))
    return [files[i] for i in sorted(order[n_val:])], [files[i] for i in sorted(order[:n_val])]


def pretrain(config: PretrainConfig, out: str | Path, overwrite: bool = False,
             verbose: int | str = "auto") -> PretrainResult:
    """Train ``config.run.model`` to rebuild its (corrupted) input and write a pretrain run folder to ``out``.

    Args:
        config: model, train and pretrain settings (``pretrain.images`` lists the image folders).
        out: the run folder to create.
        overwrite: replace an existing run folder once the new one is complete.
        verbose: passed to ``model.fit``.
    """
    from segcoder.callbacks import TimeLimit
    from segcoder.data.io import image_size, read_image
    from segcoder.models import preferred_data_format
    from segcoder.optimizers import FusedAdam
    from segcoder.reconstruct import Reconstructor, score_images, write_grid
    from segcoder.reconstruction_losses import PSNR, ReconstructionLoss
    from segcoder.train import check_out_dir

    start = time.time()
    out = Path(out)
    config.validate()
    check_out_dir(out, overwrite)
    run, settings = config.run, config.pretrain
    files = list_unlabelled(settings.images)
    train_files, val_files = _split(files, settings.val_split, run.train.seed)
    channels = read_image(files[0]).shape[-1]  # the first image decides; others are converted to match
    if run.model.data_format is None:
        run.model.data_format = preferred_data_format()

    work = out.with_name(f".{out.name}.partial") if out.exists() else out
    if work != out and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    write_text(work / runfiles.CONFIG_FILE, config.to_yaml())

    keras.utils.set_random_seed(run.train.seed)
    model = build_reconstructor(run, channels, fused=True)
    weighted = settings.loss_region == "hidden"
    model.compile(optimizer=FusedAdam(run.train.learning_rate),
                  loss=ReconstructionLoss(settings.loss, weighted=weighted), metrics=[PSNR(weighted=weighted)])
    crop, batch, scale = run.data.crop_size, run.train.batch_size, run.data.image_scale
    h, w = image_size(train_files[0])
    crops_per_image = max(1, round(h * w * scale**2 / crop**2))
    steps = run.train.steps_per_epoch or max(1, math.ceil(len(train_files) * crops_per_image / batch))
    train_ds = UnlabelledCrops(train_files, channels, crop, batch, steps, run.train.seed, settings,
                               run.data.workers, scale)
    stride = 2**run.model.depth
    val_data = held_out_batches(val_files, channels, stride, settings, run.train.seed, scale) if val_files else None
    monitor = "val_loss" if val_files else "loss"
    best = work / "best.weights.h5"
    callbacks = [
        keras.callbacks.ModelCheckpoint(best, monitor=monitor, mode="min", save_best_only=True, save_weights_only=True),
        keras.callbacks.CSVLogger(work / runfiles.HISTORY_FILE),
    ]
    if run.train.time_limit:
        callbacks.append(TimeLimit(run.train.time_limit * 60))
    model.fit(train_ds, validation_data=FixedBatches(val_data) if val_data else None, epochs=run.train.epochs,
              callbacks=callbacks, verbose=verbose)
    model.load_weights(best)
    save_reconstructor(model, work / runfiles.MODEL_FILE, run, channels)
    best.unlink()

    shown = (val_files or train_files)[:MAX_SCORED]
    reconstructor = Reconstructor(model, stride, config)
    metrics = {"images": len(shown), "scored_on": "held-out images" if val_files else "training images",
               **score_images(reconstructor, shown)}
    metrics["seconds"] = round(time.time() - start, 1)
    write_text(work / runfiles.METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    plot_curves(work / runfiles.HISTORY_FILE, work / runfiles.CURVES_FILE,
                panels=(("loss", "reconstruction loss"), ("psnr", "PSNR (dB)")))
    write_grid(reconstructor, shown[:4], settings, work / RECONSTRUCTIONS_FILE, seed=run.train.seed)
    if work != out:
        replace_dir(work, out)
    return PretrainResult(out, metrics, time.time() - start)
