"""Keras callbacks segcoder adds to ``model.fit``."""

from __future__ import annotations

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stop training once ``seconds`` of wall time have passed (checked after every step).

    Keras has no time-budget callback; a fixed CPU budget is how benchmarks compare runs fairly.
    """

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.start = None
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training and self.stopped_epoch is None:
            self.stopped_epoch = epoch


class LearningRateLog(keras.callbacks.Callback):
    """Put the learning rate the epoch trained with into its logs, so history.csv shows the schedule.

    Keras' ReduceLROnPlateau logs the rate only after it has changed it; this runs before it
    (and before CSVLogger) and reads the optimizer's current rate, scheduled or not.
    """

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            rate = self.model.optimizer.learning_rate  # a schedule's value at the current step
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))


class NonFiniteGuard(keras.callbacks.Callback):
    """Stop as soon as the training loss is NaN or infinite, and remember where.

    Keras' TerminateOnNaN stops too, but says nothing a user can act on and lets
    the epoch-end callbacks save the broken weights; the checkpoint callbacks here
    look at ``tripped`` and keep the last good state instead.
    """

    def __init__(self):
        super().__init__()
        self.tripped = None  # (epoch, step, value) once the loss went bad
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        import math

        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.tripped is None:
            self.tripped = (self.epoch + 1, batch + 1, float(loss))
            self.model.stop_training = True


class BestWeights(keras.callbacks.Callback):
    """Keep the weights of the epoch with the highest ``monitor``, written atomically.

    Unlike ModelCheckpoint it starts from a known best value, so a resumed run
    never replaces a better checkpoint with a worse one, and a kill during the
    write never leaves a torn file.
    """

    def __init__(self, path, monitor="val_mean_iou", best=None, guard=None):
        super().__init__()
        self.path, self.monitor, self.guard = path, monitor, guard
        self.best = float("-inf") if best is None else best
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        import math

        value = (logs or {}).get(self.monitor)
        if self.guard is not None and self.guard.tripped:
            return
        if value is None or not math.isfinite(float(value)) or float(value) <= self.best:
            return
        from segcoder._atomic import atomic_path

        with atomic_path(self.path) as tmp:
            keras_tmp = tmp + ".weights.h5"  # Keras insists on the suffix
            self.model.save_weights(keras_tmp)
            import os

            os.replace(keras_tmp, tmp)
        self.best, self.best_epoch = float(value), epoch + 1


class PredictionPreview(keras.callbacks.Callback):
    """Every ``every`` epochs, a PNG grid of a few fixed validation images: image | truth | prediction."""

    def __init__(self, samples, classes, out_dir, every=5):
        super().__init__()
        self.samples, self.classes, self.out_dir, self.every = samples, classes, out_dir, every

    def on_epoch_end(self, epoch, logs=None):
        if self.every <= 0 or (epoch + 1) % self.every:
            return
        import numpy as np

        from segcoder.metrics_numpy import labels_from_logits
        from segcoder.plots import plot_prediction_grid

        colors = np.vstack([self.classes.colors(), [[0, 0, 0]]])  # last row: ignored pixels
        rows = []
        for image, labels, size in self.samples:
            logits = np.asarray(self.model.predict_on_batch(image[None]))[0]
            h, w = size
            predicted = labels_from_logits(logits)[:h, :w]
            truth = np.where(labels == 255, len(colors) - 1, labels)[:h, :w]
            shown = image[:h, :w, 0] if image.shape[-1] == 1 else image[:h, :w]
            rows.append((shown, colors[truth], colors[predicted]))
        plot_prediction_grid(rows, self.out_dir / f"epoch_{epoch + 1:03d}.png", f"epoch {epoch + 1}")
