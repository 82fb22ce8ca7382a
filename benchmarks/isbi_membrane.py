"""ISBI 2012 membrane: train a U-Net for a fixed CPU budget on slices 00-19, evaluate on 20-23.

Prints pixel accuracy and the membrane class's IoU and Dice (membrane = mask value 0),
next to the "all cell" reference (predict every pixel as cell interior).

    .venv/bin/python benchmarks/isbi_membrane.py --minutes 15 --out runs/isbi_bench
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import segcoder
from segcoder.data.io import read_mask
from segcoder.scores import format_scores

ROOT = Path(__file__).resolve().parents[1]
ISBI = ROOT.parent / "shared" / "datasets" / "isbi2012-membrane"


def link_slices(dest: Path, numbers) -> Path:
    """A folder pair of symlinks to the chosen ISBI slices (the data itself is never copied)."""
    for sub in ("images", "masks"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
        for n in numbers:
            os.symlink(ISBI / "train" / sub / f"slice{n:02d}.png", dest / sub / f"slice{n:02d}.png")
    return dest


def all_cell_reference(masks: Path) -> dict:
    """Scores of predicting 'cell' (255) everywhere: the trivial baseline."""
    truth = np.concatenate([read_mask(p).ravel() for p in sorted(masks.iterdir())])
    return {"pixel_accuracy": float(np.mean(truth == 255)), "membrane_iou": 0.0, "membrane_dice": 0.0}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget in minutes (15)")
    parser.add_argument("--epochs", type=int, default=1000, help="upper bound on epochs (the budget usually ends first)")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--crop-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-schedule", default="plateau", help="constant, cosine or plateau (plateau)")
    parser.add_argument("--loss", default="ce", help="training loss (ce: the pixel-accuracy target favours it over ce+dice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/isbi_bench", help="run folder (replaced if present)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        train_dir = link_slices(Path(tmp) / "train", range(0, 20))
        val_dir = link_slices(Path(tmp) / "val", range(20, 24))
        config = segcoder.RunConfig().override(**{
            "data.images": str(train_dir / "images"), "data.masks": str(train_dir / "masks"),
            "data.val_images": str(val_dir / "images"), "data.val_masks": str(val_dir / "masks"),
            "data.crop_size": args.crop_size, "model.name": "unet", "model.depth": args.depth,
            "model.filters": args.filters, "train.epochs": args.epochs, "train.batch_size": args.batch_size,
            "train.learning_rate": args.lr, "train.seed": args.seed, "train.time_limit": args.minutes,
            "train.lr_schedule": args.lr_schedule, "train.loss": args.loss,
        })
        start = time.time()
        result = segcoder.train(config, args.out, overwrite=True, verbose=2)
        seconds = time.time() - start
        scores = segcoder.evaluate(args.out, val_dir / "images", val_dir / "masks")
        with_tta = segcoder.evaluate(args.out, val_dir / "images", val_dir / "masks", tta="flip")
        reference = all_cell_reference(val_dir / "masks")

    membrane = scores["per_class"]["class_0"]
    print(f"\nISBI 2012 membrane, train slices 00-19, evaluate 20-23; unet depth {args.depth} "
          f"filters {args.filters}, loss {args.loss}, lr {args.lr} ({args.lr_schedule}), budget {args.minutes} min, "
          f"wall {seconds:.0f} s")
    print(format_scores(scores))
    print(f"\n{'':<22}{'pixel acc':>10}{'membrane IoU':>14}{'membrane Dice':>15}")
    print(f"{'segcoder unet':<22}{scores['pixel_accuracy']:>10.4f}{membrane['iou']:>14.4f}{membrane['dice']:>15.4f}")
    tta = with_tta["per_class"]["class_0"]
    print(f"{'  + flip TTA (4 views)':<22}{with_tta['pixel_accuracy']:>10.4f}{tta['iou']:>14.4f}{tta['dice']:>15.4f}")
    print(f"{'all cell (reference)':<22}{reference['pixel_accuracy']:>10.4f}{0.0:>14.4f}{0.0:>15.4f}")
    print(f"{'target':<22}{'>= 0.92':>10}{'':>14}{'>= 0.80':>15}")
    print(f"run folder: {result.run_dir}")


if __name__ == "__main__":
    main()
