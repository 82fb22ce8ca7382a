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
