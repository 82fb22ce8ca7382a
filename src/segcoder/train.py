"""Training a segmenter from image/mask folders into a run folder."""

from __future__ import annotations

import functools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from segcoder import run as runfiles
from segcoder._atomic import atomic_path, replace_dir, write_text
from segcoder.callbacks import TimeLimit
from segcoder.config import RunConfig
from segcoder.data.dataset import TrainCrops, WholeImages
from segcoder.data.prepare import prepare_data
from segcoder.errors import SegcoderError
from segcoder.transfer import copy_encoder, fit_in_phases, load_encoder_source


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict  # full-resolution validation scores of the best checkpoint
    seconds: float


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse to write over an existing, non-empty folder unless asked to."""
    if out.exists() and not out.is_dir():
        raise SegcoderError(f"{out}: exists and is a file; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise SegcoderError(f"{out}: already holds files (an earlier run?); pass --overwrite or choose another --out")


def build_and_compile(config: RunConfig, channels: int, num_classes: int):
    import keras

    from segcoder.losses import SegmentationLoss
    from segcoder.metrics import MeanIoU, PixelAccuracy
    from segcoder.models import create_model
    from segcoder.optimizers import FusedAdam

    m = config.model
    # Fused batch norm: PyTorch's one-pass kernel on the torch backend; save_model stores stock layers.
    # The dtype policy applies to this model only; the saved copy is built in float32.
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.train.precision)
    try:
        model = create_model(m.name, channels, num_classes, m.depth, m.filters, m.norm, m.data_format, fused=True)
    finally:
        keras.config.set_dtype_policy(previous)
    model.compile(
        # Keras' Adam, as one fused kernel on PyTorch (segcoder.optimizers).
        optimizer=FusedAdam(config.train.learning_rate),
        loss=SegmentationLoss(config.train.loss),
        metrics=[MeanIoU(num_classes), PixelAccuracy(num_classes)],
    )
    return model


def save_model(model, path: Path, config: RunConfig, channels: int, num_classes: int) -> None:
    """Save an uncompiled copy, so plain ``keras.saving.load_model(path)`` needs no custom objects."""
    from segcoder.models import create_model

    m = config.model
    clean = create_model(m.name, channels, num_classes, m.depth, m.filters, m.norm, m.data_format)
    clean.set_weights(model.get_weights())
    with atomic_path(path) as tmp:
        keras_tmp = tmp + ".keras"  # Keras insists on the suffix
        clean.save(keras_tmp)
        os.replace(keras_tmp, tmp)


def train(config: RunConfig, out: str | Path, overwrite: bool = False, verbose: int | str = "auto") -> TrainResult:
    """Train the model described by ``config`` and write a complete run folder to ``out``.

    Example:
        >>> cfg = RunConfig().override(**{"data.images": "imgs", "data.masks": "masks", "train.epochs": 5})
        >>> train(cfg, "runs/first").metrics["mean_iou"]
    """
    import keras

    from segcoder.evaluate import evaluate_pairs
    from segcoder.models import preferred_data_format
    from segcoder.plots import plot_curves
    from segcoder.predict import Segmenter

    start = time.time()
    out = Path(out)
    config.validate()
    check_out_dir(out, overwrite)
    data = prepare_data(config.data, config.train.seed)
    if config.model.data_format is None:
        config.model.data_format = preferred_data_format()
    encoder_source = None
    if config.train.init_encoder:  # load and check before any file is written
        encoder_source = load_encoder_source(config.train.init_encoder, config.model, data.channels)

    # A new folder is written in place; an existing run is only replaced once the new one is complete.
    work = out.with_name(f".{out.name}.partial") if out.exists() else out
    if work != out and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    write_text(work / runfiles.CONFIG_FILE, config.to_yaml())
    data.classes.save(work / runfiles.CLASSES_FILE)

    keras.utils.set_random_seed(config.train.seed)
    k, channels = data.classes.num_classes, data.channels
    model = build_and_compile(config, channels, k)
    if encoder_source is not None:
        copy_encoder(encoder_source, model, config.train.init_encoder)
    stride = 2**config.model.depth
    train_ds = TrainCrops(data.train_pairs, data.lut, channels, config.data.crop_size, config.train.batch_size,
                          config.train.steps_per_epoch, config.train.seed, config.data.workers)
    val_ds = WholeImages(data.val_pairs, data.lut, channels, stride)
    best = work / "best.weights.h5"
    callbacks = [
        keras.callbacks.ModelCheckpoint(best, monitor="val_mean_iou", mode="max", save_best_only=True,
                                        save_weights_only=True),
        keras.callbacks.CSVLogger(work / runfiles.HISTORY_FILE),
    ]
    if config.train.time_limit:
        callbacks.append(TimeLimit(config.train.time_limit * 60))
    fit = functools.partial(model.fit, train_ds, validation_data=val_ds, callbacks=callbacks, verbose=verbose)
    fit_in_phases(model, fit, config.train.epochs, config.train.freeze_encoder_epochs if encoder_source else 0,
                  callbacks)
    model.load_weights(best)
    save_model(model, work / runfiles.MODEL_FILE, config, channels, k)
    best.unlink()

    segmenter = Segmenter(model, config, data.classes)
    metrics = evaluate_pairs(segmenter, data.val_pairs, data.lut)
    metrics["seconds"] = round(time.time() - start, 1)
    write_text(work / runfiles.METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    plot_curves(work / runfiles.HISTORY_FILE, work / runfiles.CURVES_FILE)
    if work != out:
        replace_dir(work, out)
    return TrainResult(out, metrics, time.time() - start)
