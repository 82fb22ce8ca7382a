"""The embedded demo: synthetic data -> train -> evaluate -> predict, in a few minutes on a laptop CPU."""

from __future__ import annotations

import time
from pathlib import Path

from segcoder.config import RunConfig
from segcoder.scores import format_scores


def run_demo(out: str | Path = "demo_run", epochs: int = 12, log=print) -> dict:
    """Run the whole job on a generated dataset under ``out`` and return the evaluation scores."""
    from segcoder.evaluate import evaluate
    from segcoder.predict import predict_files
    from segcoder.synthetic import write_dataset
    from segcoder.train import train

    start = time.time()
    out = Path(out)
    data = write_dataset(out / "data", seed=0)
    log(f"1/4 synthetic dataset written to {data} (48 train, 12 val images, 4 classes)")
    config = RunConfig().override(**{
        "data.images": str(data / "train/images"), "data.masks": str(data / "train/masks"),
        "data.val_images": str(data / "val/images"), "data.val_masks": str(data / "val/masks"),
        "data.classes": str(data / "classes.json"), "data.crop_size": 64,
        "model.depth": 3, "model.filters": 16, "train.epochs": epochs, "train.batch_size": 8,
        "train.steps_per_epoch": 16, "train.learning_rate": 3e-3,
    })
    log("2/4 training a small U-Net")
    train(config, out / "run", overwrite=True, verbose=2)
    log("3/4 evaluating on the validation images")
    result = evaluate(out / "run", data / "val/images", data / "val/masks", json_path=out / "evaluation.json")
    log(format_scores(result))
    log("4/4 predicting the validation images")
    predict_files(out / "run", [data / "val/images"], out / "predictions", log=lambda _: None)
    log(f"done in {time.time() - start:.0f} s. Run folder: {out / 'run'}")
    log(f"look at an overlay: {out / 'predictions' / 'shape000_overlay.png'}")
    return result
