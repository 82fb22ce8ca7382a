"""Large-image prediction: a 12000x12000 gray image in bounded memory, outputs streamed to disk.

Builds the image by tiling the 30 ISBI test slices (written band by band, under
--work, never into the repository), trains a small U-Net on ISBI for a couple of
epochs unless --run gives a run folder, then runs ``segcoder predict`` on it in a
child process and reports the wall time, the child's peak RSS and the tiles/s.

    nice -n 5 .venv/bin/python benchmarks/large_image.py --work /tmp/large_image
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ISBI = ROOT.parent / "shared" / "datasets" / "isbi2012-membrane"
RSS_LIMIT_GB = 2.5  # the bound


def build_image(path: Path, size: int) -> Path:
    """A size x size 8-bit PNG tiled from the ISBI test slices, written one row of slices at a time."""
    from segcoder.writers import PngStream

    slices = [np.array(Image.open(p)) for p in sorted((ISBI / "test/images").glob("*.png"))]
    side = slices[0].shape[0]
    per_row = -(-size // side)
    out = PngStream(path, size, size, 1, np.uint8)
    for row in range(per_row):
        band = np.concatenate([slices[(row * per_row + col) % len(slices)] for col in range(per_row)], axis=1)
        rows = band[: min(side, size - row * side), :size]
        out.write_rows(0, row * side, rows)
    return out.commit()


def train_small(run: Path, epochs: int) -> Path:
    """A depth-3, 8-filter U-Net trained briefly on the 24 ISBI training slices."""
    import segcoder

    config = segcoder.RunConfig().override(**{
        "data.images": str(ISBI / "train/images"), "data.masks": str(ISBI / "train/masks"),
        "data.val_split": 0.1, "data.crop_size": 128, "model.depth": 3, "model.filters": 8,
        "train.epochs": epochs, "train.batch_size": 8, "train.steps_per_epoch": 12, "train.learning_rate": 0.01,
    })
    segcoder.train(config, run, overwrite=True, verbose=0)
    return run


def watch_rss(pid: int, peak: list, stop: threading.Event) -> None:
    """Sample the child's RSS every 0.2 s (a cross-check on getrusage's peak)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            stop.wait(0.2)
    except psutil.Error:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="run folder to predict with (default: train a small one on ISBI)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs for the small model (2)")
    parser.add_argument("--size", type=int, default=12000, help="side of the test image (12000)")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--tta", default="none")
    parser.add_argument("--engine", default="keras", help="keras or onnx (exported into the run folder if missing)")
    parser.add_argument("--save", default="index,color,overlay,prob")
    parser.add_argument("--work", help="folder for the image and the outputs (default: a temporary one)")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # steps show up in a log as they happen

    work = Path(args.work or tempfile.mkdtemp(prefix="segcoder_large_"))
    work.mkdir(parents=True, exist_ok=True)
    image = work / f"isbi_{args.size}.png"
    if not image.is_file():
        start = time.time()
        build_image(image, args.size)
        print(f"built {image} ({args.size}x{args.size}, {image.stat().st_size / 1e6:.0f} MB) in {time.time() - start:.0f} s")
    run = Path(args.run) if args.run else work / "run"
    if not args.run:
        start = time.time()
        train_small(run, args.epochs)
        print(f"trained {run} in {time.time() - start:.0f} s")

    from segcoder.predict import count_tiles
    from segcoder.run import load_run_config

    config, _ = load_run_config(run)
    if args.engine == "onnx" and not (run / "model.onnx").is_file():
        from segcoder.export import export

        export(run, "onnx")
    tiles = count_tiles(args.size, args.size, args.tile, args.overlap, 2**config.model.depth)
    out = work / "out"
    command = [sys.executable, "-m", "segcoder", "predict", str(run), str(image), "--out", str(out), "--force",
               "--quiet", "--tile", str(args.tile), "--overlap", str(args.overlap), "--batch-size",
               str(args.batch_size), "--tta", args.tta, "--save", args.save, "--engine", args.engine]
    print("$", " ".join(command))
    start = time.time()
    child = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    sampled, stop = [0], threading.Event()
    watcher = threading.Thread(target=watch_rss, args=(child.pid, sampled, stop), daemon=True)
    watcher.start()
    code = child.wait()
    seconds = time.time() - start
    stop.set()
    watcher.join()
    # Linux reports ru_maxrss in KiB: the largest RSS any waited-for child reached (only this one).
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    outputs = {p.name: round(p.stat().st_size / 1e6, 1) for p in sorted(out.iterdir())} if out.is_dir() else {}
    with Image.open(out / f"{image.stem}_mask.png") as im:
        assert im.size == (args.size, args.size), im.size
    result = {
        "image": f"{args.size}x{args.size} gray", "tile": args.tile, "overlap": args.overlap, "tta": args.tta,
        "engine": args.engine, "tiles": tiles, "seconds": round(seconds, 1), "tiles_per_s": round(tiles / seconds, 2),
        "peak_rss_gb": round(peak_gb, 3), "peak_rss_sampled_gb": round(sampled[0] / 1e9, 3),
        "under_limit": peak_gb < RSS_LIMIT_GB, "exit_code": code, "outputs_mb": outputs,
    }
    print(json.dumps(result, indent=2))
    return 0 if code == 0 and result["under_limit"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
