"""The run folder: where a trained model and everything needed to use it live.

A run folder holds ``model.keras``, ``config.yaml``, ``classes.json``,
``history.csv``, ``curves.png`` and ``metrics.json``. ``predict``,
``evaluate`` and ``export`` take only that folder.
"""

from __future__ import annotations

from pathlib import Path

from segcoder.config import RunConfig
from segcoder.data.classes import ClassMap
from segcoder.errors import SegcoderError

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.yaml"
CLASSES_FILE = "classes.json"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.png"


def check_run_dir(run_dir: str | Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SegcoderError(f"{run_dir}: run folder not found; give the --out folder of a finished training run")
    for name in (MODEL_FILE, CONFIG_FILE, CLASSES_FILE):
        if not (run_dir / name).is_file():
            raise SegcoderError(
                f"{run_dir / name}: missing; this is not a finished segcoder run folder (train again or check the path)"
            )
    return run_dir


def load_run_config(run_dir: str | Path) -> tuple[RunConfig, ClassMap]:
    run_dir = check_run_dir(run_dir)
    return RunConfig.from_yaml(run_dir / CONFIG_FILE), ClassMap.load(run_dir / CLASSES_FILE)
