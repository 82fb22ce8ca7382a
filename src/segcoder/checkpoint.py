"""Crash-safe training state: the compiled model with its optimizer, and where training stood.

A checkpoint is the folder ``checkpoint/`` of a run: ``model.keras`` (weights
and optimizer state) and ``state.json`` (epoch and step reached, best
validation score so far). It is written into a temporary folder and renamed
over the old one, so a kill at any moment leaves either the old or the new
checkpoint, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import keras

from segcoder._atomic import replace_dir
from segcoder.errors import SegcoderError

CHECKPOINT_DIR = "checkpoint"


@dataclass
class TrainState:
    epoch: int = 0  # epochs finished
    step: int = 0  # steps finished in epoch ``epoch`` (0: at an epoch boundary)
    best: float | None = None  # best validation mean IoU so far
    best_epoch: int | None = None
    seed: int = 0  # the run's seed; batches are drawn from (seed, epoch, step), so this is the data RNG state


def save_checkpoint(model, run_dir: Path, state: TrainState) -> None:
    """Write model + optimizer + state atomically to ``run_dir/checkpoint``."""
    final = Path(run_dir) / CHECKPOINT_DIR
    partial = final.with_name(f".{CHECKPOINT_DIR}.partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    model.save(partial / "model.keras")
    (partial / "state.json").write_text(json.dumps(asdict(state), indent=2) + "\n")
    with open(partial / "state.json", "rb") as f:
        os.fsync(f.fileno())
    replace_dir(partial, final)


def load_checkpoint(run_dir: Path):
    """The compiled model and TrainState saved in ``run_dir/checkpoint``."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not (folder / "state.json").is_file() or not (folder / "model.keras").is_file():
        raise SegcoderError(
            f"{folder}: no checkpoint to resume from (the run finished, or never reached its first checkpoint); "
            "start it again without --resume"
        )
    import segcoder.losses  # noqa: F401  registers the loss and metrics the checkpoint was compiled with
    import segcoder.metrics  # noqa: F401
    import segcoder.models  # noqa: F401
    import segcoder.optimizers  # noqa: F401

    state = TrainState(**json.loads((folder / "state.json").read_text()))
    return keras.saving.load_model(folder / "model.keras"), state


class Checkpointer(keras.callbacks.Callback):
    """Save a checkpoint at the end of every epoch, every ``every_steps`` steps, and on Ctrl-C.

    The first Ctrl-C asks for a clean stop: the step in progress finishes, a
    checkpoint is written and training ends (``stopped_by_user``). A second
    Ctrl-C interrupts at once.
    """

    def __init__(self, run_dir, state: TrainState, best=None, every_steps=None, guard=None):
        super().__init__()
        self.run_dir, self.state, self.every_steps = Path(run_dir), state, every_steps
        self.best, self.guard = best, guard  # a BestWeights callback and a NonFiniteGuard, read when saving
        self.epoch, self.step_offset = state.epoch, state.step
        self.stop_requested = self.stopped_by_user = False
        self._previous_handler = None

    def _save(self, epoch, step):
        if self.guard is not None and self.guard.tripped:
            return  # keep the last good checkpoint
        self.state.epoch, self.state.step = epoch, step
        if self.best is not None and self.best.best_epoch is not None:
            self.state.best, self.state.best_epoch = self.best.best, self.best.best_epoch
        save_checkpoint(self.model, self.run_dir, self.state)

    def _on_sigint(self, signum, frame):
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True
        print("\nsegcoder: stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)",
              file=sys.stderr, flush=True)

    def on_train_begin(self, logs=None):
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def on_train_end(self, logs=None):
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.step_offset + batch + 1
        last_batch = batch + 1 == self.params.get("steps")
        if self.stop_requested and not self.stopped_by_user and not last_batch:
            self._save(self.epoch, step)
            self.stopped_by_user = True
            self.model.stop_training = True
        elif self.every_steps and step % self.every_steps == 0:
            self._save(self.epoch, step)
        # On the epoch's last batch a stop waits for on_epoch_end: the epoch's validation and history
        # row come first, and the checkpoint is an epoch boundary rather than "every batch done".

    def on_epoch_end(self, epoch, logs=None):
        self.step_offset = 0
        if self.stopped_by_user:
            return
        self._save(epoch + 1, 0)
        if self.stop_requested:  # asked for on the epoch's last batch
            self.stopped_by_user = True
            self.model.stop_training = True
