"""The autoencoder as a compressor: its 8-bit bottleneck against JPEG at the same size, in and out of domain.

1. Pretrain a plain autoencoder (``--model autoencoder``: no skips, everything passes the
   bottleneck; no corruption) on the 24 ISBI train slices, images only.
2. ``compress-eval`` it on ISBI test slices (in-domain: the same microscope and tissue) and
   on CamVid val road scenes in gray (out-of-domain), each image against JPEG at the
   quality whose file is closest in size to the code.

The bottleneck holds ``filters * 2**depth`` values per ``(2**depth)**2`` pixels, so the
8-bit code costs ``8 * filters / 2**depth`` bits per pixel: depth 4 with 4 filters is 2 bpp.
Prints the table; writes ``compress.json``, ``rate_distortion.png`` and ``summary.txt`` to ``--out``.

    .venv/bin/python benchmarks/compress.py                     # 2 bpp, 10 minutes of pretraining
    .venv/bin/python benchmarks/compress.py --filters 2 --minutes 10 --out /tmp/compress_1bpp
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
ISBI = SHARED / "isbi2012-membrane"
CAMVID = SHARED / "camvid"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--filters", type=int, default=4, help="first-stage filters; the code is 8*filters/2**depth bpp")
    p.add_argument("--recon-loss", default="mse", help="mse (what PSNR scores), mae or ssim+l1")
    p.add_argument("--minutes", type=float, default=10.0, help="pretraining time limit")
    p.add_argument("--epochs", type=int, default=400, help="pretraining epochs (the time limit usually ends it first)")
    p.add_argument("--steps", type=int, default=50, help="steps per epoch")
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--max-images", type=int, default=15, help="images scored per set (the first by name)")
    p.add_argument("--work", default="/tmp/segcoder_compress", help="folder for the pretrain run (outside the repo)")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/compress"))
    args = p.parse_args(argv)
    for folder in (ISBI, CAMVID):
        if not folder.is_dir():
            print(f"{folder} not found; see ../shared/datasets/README.md", file=sys.stderr)
            return 2

    from segcoder.compress import compress_eval, format_table
    from segcoder.pretrain import PretrainConfig, PretrainSettings, pretrain

    start = time.time()
    config = PretrainConfig(pretrain=PretrainSettings(images=[str(ISBI / "train/images")], corruption="none",
                                                      loss=args.recon_loss, val_split=0.1))
    config.run.override(**{
        "model.name": "autoencoder", "model.depth": args.depth, "model.filters": args.filters,
        "data.crop_size": args.crop, "data.workers": 1, "train.batch_size": args.batch_size,
        "train.epochs": args.epochs, "train.steps_per_epoch": args.steps, "train.learning_rate": args.lr,
        "train.time_limit": args.minutes, "train.seed": 0,
    })
    run = Path(args.work) / f"ae_d{args.depth}f{args.filters}_{args.recon_loss}"
    trained = pretrain(config, run, overwrite=True, verbose=2)
    steps = sum(1 for _ in open(run / "history.csv")) - 1
    print(f"pretrained {steps} epochs of {args.steps} steps in {trained.seconds / 60:.1f} min: "
          f"PSNR {trained.metrics['psnr']:.2f} dB on held-out train slices")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = compress_eval(run, [ISBI / "test/images", CAMVID / "val/images"], max_images=args.max_images,
                           plot_path=out / "rate_distortion.png")
    result["settings"] = {**vars(args), "pretrain_epochs_done": steps,
                          "pretrain_minutes": round(trained.seconds / 60, 1)}
    result["seconds"] = round(time.time() - start)
    (out / "compress.json").write_text(json.dumps(result, indent=2) + "\n")
    table = format_table(result)
    command = "benchmarks/compress.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "summary.txt").write_text(f"command: .venv/bin/python {command.strip()}\n\n{table}\n")
    print(table)
    print(f"wrote {out}/compress.json, rate_distortion.png, summary.txt ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
