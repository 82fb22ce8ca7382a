"""Few-label benchmark on ISBI 2012 membrane: autoencoder pretraining vs training from scratch.

1. Pretrain once on every unlabelled slice: the 24 train images (images only) and the 30 test images.
2. For each seed, draw a random order of slices 00-19; fine-tune on its first 2, 4 and 8 slices
   (nested subsets), once starting from the pretrained encoder and once from scratch, with the same
   steps, learning rate and seed. The last ``--val-slices`` slices of the order (never training
   slices) pick the best checkpoint for both arms.
3. Score membrane Dice and IoU on slices 20-23, which no run sees during training.

Prints the table (mean and sample standard deviation over seeds), writes ``results.json``,
``table.md`` and ``few_labels.png`` into ``--out``. Model files go to ``--work`` (outside the repo).

The defaults are the recipe that won the lever search in ``benchmarks/results/few_labels_levers``:
a U-Net pretrained 3000 steps (40 x 75) with masked-patch corruption, its encoder copied and frozen
for the first of 5 fine-tuning epochs. The gain grows with pretraining: 300 steps were too few to
beat the seed spread, 1500 did at every label count, 3000 did by more.

    .venv/bin/python benchmarks/few_labels.py                       # 8 seeds, about 15 min on 2 cores
    .venv/bin/python benchmarks/few_labels.py --arms pretrained --transfer all --out /tmp/fl_all
        --scratch-from benchmarks/results/few_labels/results.json   # try one lever (one command line)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
ISBI = ROOT.parent / "shared" / "datasets" / "isbi2012-membrane"
CLASSES = {"name": "ISBI 2012 membrane",
           "classes": [{"id": 0, "name": "membrane", "color": [230, 60, 60]},
                       {"id": 255, "name": "cell", "color": [40, 40, 40]}]}


def link_folder(folder: Path, stems, source: Path) -> Path:
    """A folder of symbolic links to ``source/{images,masks}/<stem>.png`` (the data is never copied)."""
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for stem in stems:
            link = folder / sub / f"{stem}.png"
            if not link.exists():
                link.symlink_to(source / sub / f"{stem}.png")
    return folder


def pretrain_once(args, work: Path) -> Path:
    from segcoder.pretrain import PretrainConfig, PretrainSettings, pretrain

    settings = PretrainSettings(images=[str(ISBI / "train/images"), str(ISBI / "test/images")],
                                corruption=args.corruption, loss=args.recon_loss, loss_region=args.loss_region,
                                mask_ratio=args.mask_ratio, mask_patch=args.mask_patch, val_split=0.0)
    config = PretrainConfig(pretrain=settings)
    config.run.override(**{"model.name": args.pretrain_model, "model.depth": args.depth,
                           "model.filters": args.filters, "data.crop_size": args.crop, "data.workers": 1,
                           "train.batch_size": args.batch_size, "train.epochs": args.pretrain_epochs,
                           "train.steps_per_epoch": args.pretrain_steps, "train.learning_rate": 1e-3, "train.seed": 0})
    out = work / (f"pretrain_{args.pretrain_model}_{args.corruption}{args.mask_ratio}p{args.mask_patch}_{args.recon_loss}_"
                  f"{args.loss_region}_d{args.depth}f{args.filters}_{args.pretrain_epochs}x{args.pretrain_steps}")
    if (out / "metrics.json").is_file():
        print(f"reusing {out}")
        return out
    result = pretrain(config, out, overwrite=True, verbose=0)
    print(f"pretrained in {result.seconds:.0f} s: PSNR {result.metrics['psnr']:.2f} dB on the training slices")
    return out


def fine_tune(args, work: Path, n: int, seed: int, arm: str, encoder_run: Path) -> dict:
    from segcoder.config import RunConfig
    from segcoder.evaluate import evaluate
    from segcoder.train import train

    order = np.random.default_rng(seed).permutation(20)
    stems = [f"slice{i:02d}" for i in order]
    train_dir = link_folder(work / f"data/s{seed}_n{n}", stems[:n], ISBI / "train")
    val_dir = link_folder(work / f"data/s{seed}_val{args.val_slices}", stems[-args.val_slices:], ISBI / "train")
    config = RunConfig().override(**{
        "data.images": str(train_dir / "images"), "data.masks": str(train_dir / "masks"),
        "data.val_images": str(val_dir / "images"), "data.val_masks": str(val_dir / "masks"),
        "data.classes": str(work / "classes.json"), "data.crop_size": args.crop, "data.workers": 1,
        "model.name": "unet", "model.depth": args.depth, "model.filters": args.filters,
        "train.epochs": args.epochs, "train.steps_per_epoch": args.steps, "train.batch_size": args.batch_size,
        "train.learning_rate": args.lr, "train.lr_schedule": args.lr_schedule, "train.seed": seed,
    })
    if arm == "pretrained":
        config.override(**{"train.init_encoder": str(encoder_run), "train.freeze_encoder_epochs": args.freeze_epochs,
                           "train.init_decoder": args.transfer == "all"})
    run = work / "runs" / Path(args.out).name / f"{arm}_n{n}_s{seed}"
    start = time.time()
    train(config, run, overwrite=True, verbose=0)
    test_dir = link_folder(work / "data/test_20_23", [f"slice{i}" for i in range(20, 24)], ISBI / "train")
    scores = evaluate(run, test_dir / "images", test_dir / "masks")["per_class"]["membrane"]
    row = {"labels": n, "seed": seed, "arm": arm, "dice": scores["dice"], "iou": scores["iou"],
           "train_slices": stems[:n], "seconds": round(time.time() - start, 1)}
    print(json.dumps(row), flush=True)
    return row


SCRATCH_SETTINGS = ("labels", "val_slices", "seeds", "depth", "filters", "crop", "batch_size", "epochs", "steps", "lr",
                    "lr_schedule")
# settings added after the first results were written, with the value those results had
ADDED_LATER = {"lr_schedule": "constant", "val_slices": 1}


def check_same_scratch(theirs: dict, ours: dict, source: str, reference: str) -> None:
    """Refuse to compare with scratch runs made with other fine-tuning settings."""
    for key in SCRATCH_SETTINGS:
        a, b = (settings.get(key, ADDED_LATER.get(key)) for settings in (theirs, ours))
        if a != b:
            raise SystemExit(f"{source}: its {key} is {a}, not {b} as {reference}; the scratch runs are not comparable")


def reuse_scratch(args) -> list[dict]:
    """The scratch rows of an earlier results.json whose scratch settings are the same as now.

    Trying another pretraining lever (corruption, frozen epochs) leaves the scratch arm
    unchanged, so it need not be trained again.
    """
    earlier = json.loads(Path(args.scratch_from).read_text())
    check_same_scratch(earlier["settings"], vars(args), f"{args.scratch_from}", "now")
    rows = [r for r in earlier["runs"] if r["arm"] == "scratch"]
    print(f"reusing {len(rows)} scratch runs from {args.scratch_from}")
    return rows


def summarize(rows, label_counts) -> list[dict]:
    """Mean and sample sd per arm and label count; the gain, and the gain seed by seed (same slices)."""
    table = []
    for n in label_counts:
        entry = {"labels": n}
        arms = {arm: {r["seed"]: r for r in rows if r["labels"] == n and r["arm"] == arm}
                for arm in ("scratch", "pretrained")}
        for arm, by_seed in arms.items():
            for metric in ("dice", "iou"):
                values = [r[metric] for r in by_seed.values()]
                entry[f"{arm}_{metric}"] = round(float(np.mean(values)), 4) if values else None
                entry[f"{arm}_{metric}_sd"] = round(float(np.std(values, ddof=1)), 4) if len(values) > 1 else None
        if entry["scratch_dice"] is None or entry["pretrained_dice"] is None:
            table.append(entry)
            continue
        entry["dice_gain"] = round(entry["pretrained_dice"] - entry["scratch_dice"], 4)
        sds = (entry["scratch_dice_sd"], entry["pretrained_dice_sd"])
        # the target: a gain larger than the seed-to-seed spread of either arm (needs two seeds or more)
        entry["gain_beats_spread"] = None if None in sds else bool(entry["dice_gain"] > max(sds))
        paired = [arms["pretrained"][s]["dice"] - arms["scratch"][s]["dice"]
                  for s in sorted(set(arms["scratch"]) & set(arms["pretrained"]))]
        entry["paired_gains"] = [round(g, 4) for g in paired]
        entry["seeds_ahead"] = f"{sum(g > 0 for g in paired)}/{len(paired)}"
        # The arms' spreads above are mostly the slice draw, which both arms share (a hard pair of slices
        # is hard for both); the spread of the gain seed by seed is the spread of the comparison itself.
        entry["paired_gain_sd"] = round(float(np.std(paired, ddof=1)), 4) if len(paired) > 1 else None
        entry["gain_beats_paired_spread"] = (None if entry["paired_gain_sd"] is None
                                             else bool(entry["dice_gain"] > entry["paired_gain_sd"]))
        table.append(entry)
    return table


def markdown(table, seeds) -> str:
    lines = ["| labelled slices | scratch Dice | pretrained Dice | gain (± sd seed by seed) | seeds ahead | scratch IoU "
             "| pretrained IoU | gain > either arm's sd | gain > its own sd |",
             "|---:|---:|---:|---:|:---:|---:|---:|:---:|:---:|"]
    for e in table:
        def fmt(arm, metric):
            mean, sd = e[f"{arm}_{metric}"], e[f"{arm}_{metric}_sd"]
            if mean is None:
                return "-"
            return f"{mean:.3f} ± {sd:.3f}" if sd is not None else f"{mean:.3f}"
        gain = f"{e['dice_gain']:+.3f}" if "dice_gain" in e else "-"
        if e.get("paired_gain_sd") is not None:
            gain += f" ± {e['paired_gain_sd']:.3f}"
        verdicts = [{True: "yes", False: "no"}.get(e.get(key), "-")
                    for key in ("gain_beats_spread", "gain_beats_paired_spread")]
        lines.append(f"| {e['labels']} | {fmt('scratch', 'dice')} | {fmt('pretrained', 'dice')} | {gain} | "
                     f"{e.get('seeds_ahead', '-')} | {fmt('scratch', 'iou')} | {fmt('pretrained', 'iou')} | "
                     f"{verdicts[0]} | {verdicts[1]} |")
    lines.append(f"\nMembrane class on slices 20-23; mean ± sample sd over seeds {seeds}; 'seeds ahead': seeds "
                 "(same slices for both arms) where the pretrained run has the higher Dice; 'sd seed by seed': "
                 "the sample sd of the per-seed gains.")
    return "\n".join(lines)


def plot(table, out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    x = [e["labels"] for e in table]
    for arm, style in (("scratch", "s--"), ("pretrained", "o-")):
        if any(e[f"{arm}_dice"] is None for e in table):
            continue
        ax.errorbar(x, [e[f"{arm}_dice"] for e in table], yerr=[e[f"{arm}_dice_sd"] or 0 for e in table],
                    fmt=style, capsize=4, label=arm)
    ax.set_xscale("log", base=2)
    ax.set_xticks(x, [str(v) for v in x])
    ax.set_xlabel("labelled training slices")
    ax.set_ylabel("membrane Dice (slices 20-23)")
    ax.set_title("ISBI membrane: pretrained encoder vs scratch")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labels", type=int, nargs="+", default=[2, 4, 8], help="labelled slices per run")
    p.add_argument("--val-slices", type=int, default=4,
                   help="slices (from the end of each seed's order) that pick the best checkpoint; with 1 a noisy "
                        "validation score could pick an epoch-0 checkpoint")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--filters", type=int, default=8)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--pretrain-model", default="unet", help="unet or autoencoder")
    p.add_argument("--corruption", default="mask", help="none, noise or mask")
    p.add_argument("--recon-loss", default="mse")
    p.add_argument("--loss-region", default="all", help="all, or hidden: only the blanked patches count")
    p.add_argument("--mask-ratio", type=float, default=0.5, help="share of patches blanked (mask corruption)")
    p.add_argument("--mask-patch", type=int, default=16, help="side of the blanked patches, pixels")
    p.add_argument("--pretrain-epochs", type=int, default=40)
    p.add_argument("--pretrain-steps", type=int, default=75, help="steps per pretraining epoch")
    p.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (both arms)")
    p.add_argument("--steps", type=int, default=20, help="steps per fine-tuning epoch (both arms)")
    p.add_argument("--lr", type=float, default=1e-3, help="fine-tuning learning rate (both arms)")
    p.add_argument("--lr-schedule", default="constant", help="fine-tuning schedule (both arms): constant, cosine "
                                                               "or plateau")
    p.add_argument("--freeze-epochs", type=int, default=1, help="epochs the pretrained encoder stays frozen")
    p.add_argument("--transfer", choices=("encoder", "all"), default="encoder",
                   help="what the pretrained arm copies: the encoder, or all but the output layer (--init-decoder)")
    p.add_argument("--arms", nargs="+", choices=("scratch", "pretrained"), default=["scratch", "pretrained"],
                   help="which arms to run (exploring a lever needs the scratch arm only once)")
    p.add_argument("--scratch-from", help="results.json of an earlier try with the same scratch settings: reuse "
                                          "its scratch runs")
    p.add_argument("--merge", nargs="+", metavar="RESULTS_JSON",
                   help="only merge earlier results.json files (same settings, other seeds) into --out")
    p.add_argument("--compare", nargs="+", metavar="RESULTS_JSON",
                   help="only tabulate levers: a scratch try's results.json, then pretrained-arm tries "
                        "(writes levers.md into --out)")
    p.add_argument("--work", default="/tmp/segcoder_few_labels", help="folder for runs (outside the repo)")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/few_labels"), help="folder for the results")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not ISBI.is_dir():
        print(f"{ISBI} not found", file=sys.stderr)
        return 2

    if max(args.labels) + args.val_slices > 20:
        message = f"--labels {max(args.labels)} and --val-slices {args.val_slices} need more than slices 00-19"
        print(message, file=sys.stderr)
        return 2
    if args.merge:
        return merge(args.merge, Path(args.out))
    if args.compare:
        return compare_levers(args.compare[0], args.compare[1:], Path(args.out))
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (work / "classes.json").write_text(json.dumps(CLASSES))
    start = time.time()
    commit = source_version()
    reused = reuse_scratch(args) if args.scratch_from else []  # refuses before minutes of pretraining
    encoder_run = pretrain_once(args, work) if "pretrained" in args.arms else None
    rows = [fine_tune(args, work, n, seed, arm, encoder_run)
            for seed in args.seeds for n in args.labels for arm in args.arms
            if not (arm == "scratch" and reused)]
    rows = reused + rows
    settings = {k: v for k, v in vars(args).items() if k not in ("work", "out", "scratch_from", "merge", "compare")}
    write_results(out, settings, rows, {"seconds": round(time.time() - start), "source": commit})
    print(f"({time.time() - start:.0f} s)")
    return 0


def source_version() -> str:
    """The commit the run started from, marked when the working tree had changes (others edit it too)."""
    import subprocess

    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if git("status", "--porcelain", "src") else "")


def write_results(out: Path, settings: dict, rows: list[dict], extra: dict) -> None:
    table = summarize(rows, settings["labels"])
    text = markdown(table, settings["seeds"])
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"settings": settings, "table": table, "runs": rows, **extra},
                                                 indent=2) + "\n")
    (out / "table.md").write_text(text + f"\n\nSettings: {json.dumps(settings)}\n")
    plot(table, out / "few_labels.png")
    print(f"wrote {out}/results.json, table.md, few_labels.png")


def merge(files, out: Path) -> int:
    """One table from several results.json files that differ only in their seeds."""
    parts = [json.loads(Path(f).read_text()) for f in files]
    first = parts[0]["settings"]
    for f, part in zip(files, parts):
        for key, value in part["settings"].items():
            if key != "seeds" and value != first.get(key):
                raise SystemExit(f"{f}: its {key} is {value}, not {first.get(key)}; only seeds may differ")
    settings = {**first, "seeds": sorted(s for part in parts for s in part["settings"]["seeds"])}
    rows = [row for part in parts for row in part["runs"]]
    write_results(out, settings, rows, {"merged_from": [str(f) for f in files],
                                        "sources": [part.get("source") for part in parts]})
    return 0


def compare_levers(scratch_file, lever_files, out: Path) -> int:
    """One line per lever: each try's pretrained runs against the same scratch runs (``levers.md``).

    A lever's settings are what its try changed from the scratch settings; the fine-tuning settings
    must match, or the comparison is refused.
    """
    scratch = json.loads(Path(scratch_file).read_text())
    scratch_rows = [r for r in scratch["runs"] if r["arm"] == "scratch"]
    labels = scratch["settings"]["labels"]
    defaults = vars(build_parser().parse_args([]))
    lines = ["| try | what changed | " + " | ".join(f"{n} labels: Dice (gain, seeds ahead)" for n in labels) + " |",
             "|---|---|" + "---:|" * len(labels)]
    for f in lever_files:
        lever = json.loads(Path(f).read_text())
        check_same_scratch(lever["settings"], scratch["settings"], str(f), f"in {scratch_file}")
        # what the try changed from this script's defaults (the recipe)
        changed = {k: v for k, v in lever["settings"].items()
                   if k not in SCRATCH_SETTINGS and k != "arms" and v != defaults.get(k)}
        table = summarize(scratch_rows + [r for r in lever["runs"] if r["arm"] == "pretrained"], labels)
        cells = [f"{e['pretrained_dice']:.3f} ± {e['pretrained_dice_sd']:.3f} ({e['dice_gain']:+.3f}, "
                 f"{e['seeds_ahead']}{', > sd' if e['gain_beats_spread'] else ''})" for e in table]
        lines.append(f"| {Path(f).parent.name} | {json.dumps(changed)} | " + " | ".join(cells) + " |")
    base = summarize(scratch_rows, labels)
    lines.append("| scratch | | " + " | ".join(f"{e['scratch_dice']:.3f} ± {e['scratch_dice_sd']:.3f}"
                                                for e in base) + " |")
    text = "\n".join(lines) + (f"\n\nMembrane Dice on slices 20-23, mean ± sample sd over seeds {scratch['settings']['seeds']}; "
                               "gain against the scratch runs of " + str(scratch_file) + "; '> sd': the gain beats "
                               "the seed spread of both arms.\n")
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "levers.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
