"""Shared fixtures: tiny synthetic data, a tiny trained run, and the real datasets in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
ISBI = SHARED / "isbi2012-membrane"
CAMVID = SHARED / "camvid"


def tiny_config(data: Path, **overrides):
    """A run config for a tiny U-Net that trains in seconds on the synthetic data."""
    from segcoder.config import RunConfig

    values = {
        "data.images": str(data / "train/images"), "data.masks": str(data / "train/masks"),
        "data.val_images": str(data / "val/images"), "data.val_masks": str(data / "val/masks"),
        "data.classes": str(data / "classes.json"), "data.crop_size": 32, "data.workers": 1,
        "model.depth": 2, "model.filters": 4, "train.epochs": 1, "train.batch_size": 4,
        "train.steps_per_epoch": 2,
    }
    values.update(overrides)
    return RunConfig().override(**values)


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """Synthetic shapes dataset: 8 train and 3 val RGB 48x48 images, 4 classes, classes.json."""
    from segcoder.synthetic import write_dataset

    return write_dataset(tmp_path_factory.mktemp("synthetic"), n_train=8, n_val=3, size=48, seed=1)


@pytest.fixture(scope="session")
def tiny_run(synthetic_data, tmp_path_factory) -> Path:
    """A finished run folder of a tiny U-Net trained for a few steps on ``synthetic_data``.

    Shared by many tests: treat it as read-only.
    """
    from segcoder.train import train

    out = tmp_path_factory.mktemp("runs") / "tiny"
    train(tiny_config(synthetic_data), out, verbose=0)
    return out


@pytest.fixture(scope="session")
def isbi() -> Path:
    if not ISBI.is_dir():
        pytest.skip(f"{ISBI} not found")
    return ISBI


@pytest.fixture(scope="session")
def camvid() -> Path:
    if not CAMVID.is_dir():
        pytest.skip(f"{CAMVID} not found")
    return CAMVID
