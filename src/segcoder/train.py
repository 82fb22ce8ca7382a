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
from segcoder.callbacks import BestWeights, LearningRateLog, NonFiniteGuard, PredictionPreview, TimeLimit
from segcoder.checkpoint import CHECKPOINT_DIR, Checkpointer, TrainState, load_checkpoint
from segcoder.class_weights import parse_class_weights
from segcoder.config import RunConfig
from segcoder.data.dataset import TrainCrops, WholeImages
from segcoder.data.prepare import prepare_data
from segcoder.errors import Interrupted, SegcoderError
from segcoder.transfer import copy_decoder, copy_encoder, load_encoder_source, set_encoder_trainable

BEST_WEIGHTS = "best.weights.h5"


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


def build_and_compile(config: RunConfig, channels: int, num_classes: int, class_weights=None, lr=None):
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
        optimizer=FusedAdam(config.train.learning_rate if lr is None else lr),
        loss=SegmentationLoss(config.train.loss, class_weights=class_weights),
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


def learning_rate(config: RunConfig, steps_per_epoch: int):
    """Adam's learning rate: constant, or cosine decay with optional linear warm-up (per step)."""
    import keras

    t = config.train
    if t.lr_schedule != "cosine":
        return t.learning_rate
    warmup = t.warmup_epochs * steps_per_epoch
    total = max(1, t.epochs * steps_per_epoch - warmup)
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            t.learning_rate * 0.01, total, alpha=0.01, warmup_target=t.learning_rate, warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(t.learning_rate, total, alpha=0.01)


def training_callbacks(config: RunConfig, work: Path, data, state: TrainState, resuming: bool):
    """The callbacks of a run, and the ones train() reads afterwards."""
    import keras

    guard = NonFiniteGuard()
    best = BestWeights(work / BEST_WEIGHTS, best=state.best, guard=guard)
    best.best_epoch = state.best_epoch
    checkpointer = Checkpointer(work, state, best=best, every_steps=config.train.checkpoint_every, guard=guard)
    callbacks = [guard, best, LearningRateLog(),
                 keras.callbacks.CSVLogger(work / runfiles.HISTORY_FILE, append=resuming)]
    t = config.train
    if t.patience:
        callbacks.append(keras.callbacks.EarlyStopping("val_mean_iou", mode="max", patience=t.patience))
    if t.lr_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            "val_mean_iou", mode="max", factor=0.5, patience=max(2, (t.patience or 6) // 3), min_lr=1e-6))
    if t.time_limit:
        callbacks.append(TimeLimit(t.time_limit * 60))
    if t.preview_every:
        callbacks.append(PredictionPreview(preview_samples(data, config), data.classes, work / "previews",
                                           t.preview_every))
    if t.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(work / "tensorboard")))
    callbacks.append(checkpointer)  # last: it saves what the others have updated
    return callbacks, guard, best, checkpointer


def preview_samples(data, config: RunConfig, count: int = 3):
    """A few fixed validation images (padded to the stride) with their labels and true sizes.

    They are spread evenly over the validation list: neighbours in a sorted folder are often
    consecutive video frames or slices, which would show the same scene three times.
    """
    import numpy as np

    from segcoder.data.augment import pad_to_multiple
    from segcoder.data.dataset import load_pair

    samples = []
    n = len(data.val_pairs)
    for index in sorted(set(np.linspace(0, n - 1, min(count, n)).round().astype(int).tolist())):
        pair = data.val_pairs[index]
        image, labels = load_pair(pair, data.lut, data.channels, config.data.image_scale)
        padded, padded_labels = pad_to_multiple(image, labels, 2**config.model.depth)
        samples.append((padded, padded_labels, image.shape[:2]))
    return samples


def fit_segments(model, fit, train_ds, total: int, freeze: int, state: TrainState, callbacks) -> None:
    """Run ``fit`` from where ``state`` stands to ``total`` epochs.

    A run resumed mid-epoch first finishes that epoch on the batches it had not seen; the
    encoder stays frozen for the first ``freeze`` epochs. Keras resets ``stop_training`` at
    the start of each fit, so a stop (early stopping, time limit, NaN, Ctrl-C) ends the loop here.
    """
    import keras

    from segcoder.data.dataset import SkipBatches

    train_ds.epoch = state.epoch
    segments = []
    epoch = state.epoch
    if state.step:
        segments.append((epoch, epoch + 1, SkipBatches(train_ds, state.step)))
        epoch += 1
    for stop in sorted({min(freeze, total), total}):
        if epoch < stop:
            segments.append((epoch, stop, train_ds))
            epoch = stop
    frozen = None
    for first, (start, stop, dataset) in enumerate(segments):
        want_frozen = start < freeze
        if want_frozen != frozen:
            if freeze or frozen is not None:
                set_encoder_trainable(model, not want_frozen)
            frozen = want_frozen
        if first:
            for callback in callbacks:
                if isinstance(callback, keras.callbacks.CSVLogger):
                    callback.append = True
        fit(dataset, initial_epoch=start, epochs=stop)
        if model.stop_training:
            return


def train(config: RunConfig, out: str | Path, overwrite: bool = False, verbose: int | str = "auto",
          resume: bool = False) -> TrainResult:
    """Train the model described by ``config`` and write a complete run folder to ``out``.

    With ``resume=True``, ``out`` is an interrupted run: its config is used and training
    continues from its last checkpoint.

    Example:
        >>> cfg = RunConfig().override(**{"data.images": "imgs", "data.masks": "masks", "train.epochs": 5})
        >>> train(cfg, "runs/first").metrics["mean_iou"]
    """
    import keras

    from segcoder.models import preferred_data_format

    start = time.time()
    out = Path(out)
    if resume:
        work = resumable_dir(out)
        config = RunConfig.from_yaml(work / runfiles.CONFIG_FILE)
        if config.model.data_format is None:
            config.model.data_format = preferred_data_format()
    config.validate()
    if not resume:
        check_out_dir(out, overwrite)
    if config.train.tensorboard:
        check_tensorboard()
    data = prepare_data(config.data, config.train.seed)
    if config.model.data_format is None:
        config.model.data_format = preferred_data_format()
    encoder_source = None
    if config.train.init_encoder and not resume:  # load and check before any file is written
        encoder_source = load_encoder_source(config.train.init_encoder, config.model, data.channels)
    k, channels = data.classes.num_classes, data.channels
    class_weights = parse_class_weights(config.train.class_weights, k, lambda: training_label_maps(data))

    keras.utils.set_random_seed(config.train.seed)
    train_ds = TrainCrops(data.train_pairs, data.lut, channels, config.data.crop_size, config.train.batch_size,
                          config.train.steps_per_epoch, config.train.seed, config.data.workers,
                          config.data.image_scale)
    val_ds = WholeImages(data.val_pairs, data.lut, channels, 2**config.model.depth,
                         image_scale=config.data.image_scale)
    if resume:
        model, state = load_checkpoint(work)
        truncate_history(work / runfiles.HISTORY_FILE, state.epoch)
        # A checkpoint taken after an epoch's last batch but before its validation (Ctrl-C there, before
        # this version) leaves no batch to run, and an empty epoch never ends: redo that last batch.
        state.step = min(state.step, len(train_ds) - 1)
    else:
        model = build_and_compile(config, channels, k, class_weights, learning_rate(config, len(train_ds)))
        if encoder_source is not None:  # before any file is written: a decoder mismatch is a user error
            copy_encoder(encoder_source, model, config.train.init_encoder)
            if config.train.init_decoder:
                copy_decoder(encoder_source, model, config.train.init_encoder)
        # A new folder is written in place; an existing run is only replaced once the new one is complete.
        work = out.with_name(f".{out.name}.partial") if out.exists() else out
        if work != out and work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
        write_text(work / runfiles.CONFIG_FILE, config.to_yaml())
        data.classes.save(work / runfiles.CLASSES_FILE)
        state = TrainState(seed=config.train.seed)

    callbacks, guard, best, checkpointer = training_callbacks(config, work, data, state, resume)
    fit = functools.partial(model.fit, validation_data=val_ds, callbacks=callbacks, verbose=verbose)
    freeze = config.train.freeze_encoder_epochs if config.train.init_encoder else 0
    fit_segments(model, fit, train_ds, config.train.epochs, freeze, state, callbacks)
    if checkpointer.stopped_by_user:
        raise Interrupted(
            f"stopped by Ctrl-C; checkpoint saved at epoch {checkpointer.state.epoch + 1}, step "
            f"{checkpointer.state.step}; continue with: segcoder train --resume {out}"
        )
    if not (work / BEST_WEIGHTS).is_file():
        raise SegcoderError(_nan_message(guard, config) if guard.tripped else
                            f"{work}: training ended before its first validation; run more steps")

    model.load_weights(work / BEST_WEIGHTS)
    save_model(model, work / runfiles.MODEL_FILE, config, channels, k)
    metrics = finish_run(work, model, config, data)
    shutil.rmtree(work / CHECKPOINT_DIR, ignore_errors=True)
    (work / BEST_WEIGHTS).unlink()
    if work != out:
        replace_dir(work, out)
    if guard.tripped:
        raise SegcoderError(_nan_message(guard, config) + f"; {out} keeps the best checkpoint (epoch {best.best_epoch})")
    return TrainResult(out, metrics, time.time() - start)


def finish_run(work: Path, model, config: RunConfig, data) -> dict:
    """Full-resolution validation scores (whatever ``image_scale``), metrics.json and the end-of-run plots."""
    from segcoder.boundary import boundary_f1
    from segcoder.evaluate import evaluate_pairs
    from segcoder.plots import plot_class_iou, plot_confusion, plot_curves
    from segcoder.predict import Segmenter

    segmenter = Segmenter(model, config, data.classes)
    metrics = evaluate_pairs(segmenter, data.val_pairs, data.lut)
    write_text(work / runfiles.METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    plot_curves(work / runfiles.HISTORY_FILE, work / runfiles.CURVES_FILE)
    plot_confusion(metrics["confusion_matrix"], data.classes.names, work / "confusion.png")
    plot_class_iou(metrics["per_class"], work / "class_iou.png")
    return metrics


def _nan_message(guard, config: RunConfig) -> str:
    epoch, step, value = guard.tripped
    return (f"the training loss became {value} at epoch {epoch}, step {step}; lower --lr "
            f"(now {config.train.learning_rate}) or check the masks and class weights")


def check_tensorboard() -> None:
    """Keras' TensorBoard callback writes through TensorFlow's summary API, whatever the backend."""
    try:
        import tensorflow.summary  # noqa: F401
    except ImportError:
        raise SegcoderError(
            "--tensorboard needs TensorFlow's summary writer: pip install tensorflow-cpu, or leave --tensorboard off "
            "(history.csv, curves.png and previews/ show the same curves)"
        ) from None


def resumable_dir(out: Path) -> Path:
    """The folder holding the interrupted run's checkpoint: ``out`` or its ``.partial`` sibling."""
    for candidate in (out.with_name(f".{out.name}.partial"), out):
        if (candidate / CHECKPOINT_DIR / "state.json").is_file():
            return candidate
    if (out / runfiles.MODEL_FILE).is_file():
        raise SegcoderError(f"{out}: this run already finished; train a new one or pass --overwrite")
    raise SegcoderError(f"{out}: no checkpoint to resume from; check the path, or start the run without --resume")


def truncate_history(history: Path, epochs_done: int) -> None:
    """Drop history rows of epochs that the checkpoint does not include (they will run again)."""
    if not history.is_file():
        return
    lines = history.read_text().splitlines(keepends=True)
    kept = lines[:1] + [row for row in lines[1:] if row.split(",", 1)[0].isdigit()
                        and int(row.split(",", 1)[0]) < epochs_done]
    write_text(history, "".join(kept))


def training_label_maps(data):
    """Training labels of every training mask, for class statistics."""
    from segcoder.data.dataset import load_pair

    for pair in data.train_pairs:
        yield load_pair(pair, data.lut, data.channels)[1]
