"""Throughput: segcoder's U-Net against a hand-written PyTorch twin, side by side in one run.

Training goes through segcoder's real path (``build_and_compile`` + ``model.fit``
fed by ``TrainCrops``, which reads PNG files from disk and augments them in
worker threads); prediction through ``segcoder.predict.load(run_dir)`` and its
``predict_logits_batch``, and through the ONNX export with onnxruntime. The
reference is the same network written in plain PyTorch (channels_last memory
format, ``torch.optim.Adam``, the same loss) fed with ready-made tensors, so it
pays nothing for data loading. Rounds of the two alternate, and the median
step is reported, so load from other processes hits both sides alike.

    .venv/bin/python benchmarks/throughput.py                          # 256x256, batch 8, depth 4, 32 filters
    .venv/bin/python benchmarks/throughput.py --size 128 --batch 4     # quicker
    .venv/bin/python benchmarks/throughput.py --precision mixed_bfloat16
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


# ---------------------------------------------------------------- the hand-written PyTorch twin
class ConvBlock(nn.Sequential):
    """Two Conv-BN-ReLU, as segcoder's conv_block (no conv bias, BN eps 1e-3, Keras momentum 0.9)."""

    def __init__(self, cin, cout):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1),
            nn.ReLU(inplace=True),
        )


class TwinUNet(nn.Module):
    """segcoder's U-Net layer for layer: encoder blocks + max-pool, bottleneck, transposed-conv decoder, 1x1 head."""

    def __init__(self, channels, out_channels, depth, filters):
        super().__init__()
        widths = [filters * 2**s for s in range(depth + 1)]
        self.encoder = nn.ModuleList(ConvBlock(c, w) for c, w in zip([channels, *widths[:-2]], widths[:-1]))
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = ConvBlock(widths[-2], widths[-1])
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[s + 1], widths[s], 2, stride=2) for s in reversed(range(depth)))
        self.decoder = nn.ModuleList(ConvBlock(2 * widths[s], widths[s]) for s in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x):
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.ups, self.decoder, reversed(skips)):
            x = block(torch.cat([up(x), skip], 1))
        return self.head(x)


def twin_loss(logits, labels):
    """segcoder's default "ce+dice" loss, written in plain PyTorch (logits NCHW, labels NHW)."""
    if logits.shape[1] == 1:
        x = logits[:, 0].float()
        ce = nn.functional.binary_cross_entropy_with_logits(x, labels.float())
        p = torch.sigmoid(x)
        probs = torch.stack([1 - p, p], -1)
        onehot = nn.functional.one_hot(labels.long(), 2).float()
    else:
        ce = nn.functional.cross_entropy(logits.float(), labels.long())
        probs = torch.softmax(logits.float(), 1).permute(0, 2, 3, 1)
        onehot = nn.functional.one_hot(labels.long(), logits.shape[1]).float()
    axes = (0, 1, 2)
    dice = (2 * (probs * onehot).sum(axes) + 1) / (probs.sum(axes) + onehot.sum(axes) + 1)
    return ce + 1 - dice.mean()


def forward_flops(model, channels, size) -> float:
    """Multiply-adds x 2 of one forward pass on one size x size image, counted per convolution."""
    flops = []

    def conv(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):  # every input pixel scatters a k x k x Cout patch
            flops.append(2 * inputs[0].numel() * module.out_channels * k)
        else:
            flops.append(2 * output.numel() * module.in_channels * k)

    hooks = [m.register_forward_hook(conv) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, channels, size, size))
    for h in hooks:
        h.remove()
    model.train()
    return float(sum(flops))


# ---------------------------------------------------------------- data on disk
def write_pngs(root: Path, count: int, side: int, channels: int, classes: int, seed: int = 0) -> Path:
    """Smooth random images and masks that follow them, as PNG files (the loader decodes them every step)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        coarse = rng.random((side // 16 + 2, side // 16 + 2, channels))
        image = np.asarray(Image.fromarray((coarse * 255).astype(np.uint8).squeeze()).resize((side, side), Image.BILINEAR))
        level = image if image.ndim == 2 else image.mean(-1)
        mask = np.minimum((level / 256 * classes).astype(np.uint8), classes - 1)
        Image.fromarray(image).save(root / "images" / f"{n:03d}.png")
        Image.fromarray(mask).save(root / "masks" / f"{n:03d}.png")
    return root


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_rate(seconds: list[float], images: int) -> float:
    return images / statistics.median(seconds)


# ---------------------------------------------------------------- the benchmark
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=256, help="image side (crop size) in pixels (256)")
    p.add_argument("--batch", type=int, default=8, help="images per step (8)")
    p.add_argument("--depth", type=int, default=4, help="U-Net depth (4)")
    p.add_argument("--filters", type=int, default=32, help="filters of the first stage (32)")
    p.add_argument("--channels", type=int, default=3, help="image channels (3)")
    p.add_argument("--classes", type=int, default=2, help="classes; 2 gives one sigmoid logit (2)")
    p.add_argument("--steps", type=int, default=4, help="timed training steps per round (4)")
    p.add_argument("--repeats", type=int, default=3, help="alternating rounds of each side (3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps of each side before the rounds (2)")
    p.add_argument("--workers", type=int, default=None, help="data loading threads (segcoder's default)")
    p.add_argument("--precision", default="float32", help="float32, mixed_bfloat16 or mixed_float16")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export and onnxruntime timing")
    return p.parse_args(argv)


class StepTimer:
    """Keras callback recording the wall time of each training step (loading included)."""

    def __new__(cls, sync):
        import keras

        class _Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.last, self.times = time.perf_counter(), []

            def on_train_batch_end(self, batch, logs=None):
                sync()
                now = time.perf_counter()
                self.times.append(now - self.last)
                self.last = now

        return _Timer()


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import keras

    from segcoder import run as runfiles
    from segcoder._atomic import write_text
    from segcoder.config import RunConfig
    from segcoder.data.dataset import TrainCrops
    from segcoder.data.prepare import prepare_data
    from segcoder.models import output_channels
    from segcoder.predict import load
    from segcoder.train import build_and_compile, save_model

    cuda = torch.cuda.is_available() and keras.backend.backend() == "torch"
    device = torch.device("cuda" if cuda else "cpu")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    b, s = args.batch, args.size
    tmp = Path(tempfile.mkdtemp(prefix="segcoder-throughput-"))
    data_dir = write_pngs(tmp / "data", max(16, 2 * b), s + s // 4, args.channels, args.classes)
    config = RunConfig().override(**{
        "data.images": str(data_dir / "images"), "data.masks": str(data_dir / "masks"), "data.crop_size": s,
        "data.workers": args.workers, "model.depth": args.depth, "model.filters": args.filters,
        "train.batch_size": b, "train.precision": args.precision,
    }).validate()
    data = prepare_data(config.data, 0)
    if config.model.data_format is None:
        from segcoder.models import preferred_data_format

        config.model.data_format = preferred_data_format()
    k = data.classes.num_classes
    keras.utils.set_random_seed(0)
    model = build_and_compile(config, data.channels, k)
    steps = args.steps + 1  # the first step of each fit() waits for the loader to start; it is not counted
    crops = TrainCrops(data.train_pairs, data.lut, data.channels, s, b, steps, 0, config.data.workers)

    twin = TwinUNet(args.channels, output_channels(k), args.depth, args.filters).to(device)
    twin = twin.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(twin.parameters(), lr=config.train.learning_rate)
    keras_trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    keras_total = model.count_params()
    twin_trainable = sum(p.numel() for p in twin.parameters())
    twin_total = twin_trainable + sum(v.numel() for n, v in twin.named_buffers() if "running" in n)
    print(f"parameters: segcoder {keras_trainable:,} trainable / {keras_total:,} total; "
          f"PyTorch twin {twin_trainable:,} / {twin_total:,}")
    if (keras_trainable, keras_total) != (twin_trainable, twin_total):
        raise SystemExit("the PyTorch twin does not match segcoder's network; fix TwinUNet")
    gflop = forward_flops(twin, args.channels, s) / 1e9
    twin.to(device)

    # Ready-made tensors for the reference: it pays nothing for loading or augmentation.
    ref_batches = []
    for i in range(2):
        x, y = crops[i]
        ref_batches.append((torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
                            .to(device), torch.from_numpy(y).to(device)))
    amp_dtype = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    def twin_train_step(i):
        x, y = ref_batches[i % len(ref_batches)]
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            loss = twin_loss(twin(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        sync()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), keras {keras.__version__} backend {keras.backend.backend()}, "
          f"device {device}, precision {args.precision}, data_format {config.model.data_format}")
    print(f"network: U-Net depth {args.depth}, {args.filters} filters, input {s}x{s}x{args.channels}, batch {b}, "
          f"{gflop:.1f} GFLOP per image forward; loader workers {config.data.workers}")

    # -- loader alone: the same PyDataset, its batches fetched by as many threads as fit() uses
    n_batches = max(4, 2 * config.data.workers)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(config.data.workers) as pool:
        list(pool.map(crops.__getitem__, range(n_batches)))
    loader_rate = n_batches * b / (time.perf_counter() - t0)

    # -- training, alternating rounds
    timer = StepTimer(sync)
    keras_steps, twin_steps = [], []
    model.fit(crops, epochs=1, steps_per_epoch=args.warmup + 1, verbose=0)
    for i in range(args.warmup):
        twin_train_step(i)
    for _ in range(args.repeats):
        model.fit(crops, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
        keras_steps += timer.times[1:]
        twin_times = []
        for i in range(steps):
            t0 = time.perf_counter()
            twin_train_step(i)
            twin_times.append(time.perf_counter() - t0)
        twin_steps += twin_times[1:]
    rss_train = peak_rss_mb()

    # -- prediction: segcoder's run folder, loaded the way `segcoder predict` loads it
    run_dir = tmp / "run"
    run_dir.mkdir()
    write_text(run_dir / runfiles.CONFIG_FILE, config.to_yaml())
    data.classes.save(run_dir / runfiles.CLASSES_FILE)
    save_model(model, run_dir / runfiles.MODEL_FILE, config, data.channels, k)
    segmenter = load(run_dir)
    images = np.random.default_rng(1).random((b, s, s, args.channels), dtype=np.float32)
    twin.eval()

    def twin_predict():
        with torch.inference_mode(), torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                                     enabled=amp_dtype is not None):
            x = torch.from_numpy(images).to(device).permute(0, 3, 1, 2)  # NHWC memory = channels_last
            twin(x).float().permute(0, 2, 3, 1).cpu()

    paths = {"segcoder": lambda: segmenter.predict_logits_batch(images), "twin": twin_predict}
    if not args.no_onnx:
        from segcoder.export import export_onnx
        from segcoder.onnx_engine import load_onnx_segmenter

        export_onnx(run_dir)
        onnx = load_onnx_segmenter(run_dir)
        paths["onnx"] = lambda: onnx.predict_logits_batch(images)
    predict_times = {name: [] for name in paths}
    for fn in paths.values():
        fn()
    for _ in range(max(3, args.repeats)):
        for name, fn in paths.items():
            t0 = time.perf_counter()
            fn()
            predict_times[name].append(time.perf_counter() - t0)
    rss_predict = peak_rss_mb()

    # -- report
    train_k, train_t = median_rate(keras_steps, b), median_rate(twin_steps, b)
    pred = {name: median_rate(t, b) for name, t in predict_times.items()}
    rows = [
        ("segcoder (Keras, model.fit + PNG loader)", train_k, pred["segcoder"]),
        ("PyTorch twin (channels_last, in-memory)", train_t, pred["twin"]),
    ]
    if "onnx" in pred:
        rows.append(("segcoder ONNX export (onnxruntime)", None, pred["onnx"]))
    print()
    print(f"| path | train img/s | train GFLOP/s | predict img/s | predict GFLOP/s |")
    print("|---|---|---|---|---|")
    for name, tr, pr in rows:
        train_cells = f"{tr:.2f} | {3 * gflop * tr:.0f}" if tr else "- | -"
        print(f"| {name} | {train_cells} | {pr:.2f} | {gflop * pr:.0f} |")
    print(f"| loader only ({config.data.workers} workers, decode+crop+flip) | {loader_rate:.1f} | - | - | - |")
    print()
    print(f"ratio segcoder/reference: train {train_k / train_t:.2f}, predict {pred['segcoder'] / pred['twin']:.2f}"
          + (f", onnxruntime/reference predict {pred['onnx'] / pred['twin']:.2f}" if "onnx" in pred else ""))
    print(f"loader / segcoder training: {loader_rate / train_k:.1f}x")
    print(f"peak RSS: {rss_train:.0f} MB after training, {rss_predict:.0f} MB after prediction "
          f"(one process holds both sides)")
    print(f"steps timed: {len(keras_steps)} per side (train), {len(predict_times['twin'])} per path (predict); medians")


if __name__ == "__main__":
    main()
