"""CamVid (SegNet split): train on train/, select on val/, report on val/ beside SegNet-Basic.

Void (11) is ignored in the loss and in every score. Prints global accuracy,
class-average accuracy, mean IoU, boundary F1 and per-class IoU, and the wall time.

    .venv/bin/python benchmarks/camvid.py --out runs/camvid_bench        # the 2-hour run (110 min of training)
    .venv/bin/python benchmarks/camvid.py --pretrain-epochs 30 --out runs/camvid_pretrained  # autoencoder first
    .venv/bin/python benchmarks/camvid.py --minutes 3 --epochs 3 --out /tmp/camvid_smoke   # a quick end-to-end check

By default the network trains at half resolution (180x240, ``--image-scale 0.5``):
on two CPU cores that buys about four times the epochs of full resolution in the
same budget. Validation during training (model selection) runs at that scale;
the final scores are at full resolution (360x480), the logits resized back up.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import segcoder
from segcoder.scores import format_scores

ROOT = Path(__file__).resolve().parents[1]
CAMVID = ROOT.parent / "shared" / "datasets" / "camvid"
# SegNet-Basic on the CamVid test split (PAMI 2017, Table 1); our figures are on val.
SEGNET_BASIC = {"pixel_accuracy": 0.827, "class_accuracy": 0.620, "mean_iou": 0.477}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=110.0,
                        help="training time limit (110; the final full-resolution scoring comes on top)")
    parser.add_argument("--epochs", type=int, default=90, help="epochs; with cosine LR they set the schedule (90)")
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--filters", type=int, default=16)
    parser.add_argument("--image-scale", type=float, default=0.5, help="training resolution factor (0.5)")
    parser.add_argument("--crop-size", type=int, default=176, help="training crop side after scaling (176)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps-per-epoch", type=int, help="default: crops covering the training set about once")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--lr-schedule", default="cosine")
    parser.add_argument("--warmup-epochs", type=int, default=2)
    parser.add_argument("--class-weights", default="median-frequency")
    parser.add_argument("--loss", default="ce+dice")
    parser.add_argument("--init-encoder", help="a `segcoder pretrain` run to start the encoder from")
    parser.add_argument("--pretrain-epochs", type=int, default=0,
                        help="first pretrain a U-Net on the train images (no masks, masked-patch corruption) for "
                             "this many epochs, at the same scale and shape, and start from all of it (0: don't)")
    parser.add_argument("--init-decoder", action="store_true", help="with --init-encoder: copy the decoder too")
    parser.add_argument("--tta", default="none", help="test-time augmentation for the final scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/camvid_bench")
    args = parser.parse_args(argv)

    start = time.time()
    init_encoder, init_decoder, pretrained = args.init_encoder, args.init_decoder, 0.0
    if args.pretrain_epochs:
        init_encoder, init_decoder = pretrain_on_train_images(args), True
        pretrained = time.time() - start
    config = segcoder.RunConfig().override(**{
        "data.images": str(CAMVID / "train/images"), "data.masks": str(CAMVID / "train/masks"),
        "data.val_images": str(CAMVID / "val/images"), "data.val_masks": str(CAMVID / "val/masks"),
        "data.classes": str(CAMVID / "classes.json"), "data.crop_size": args.crop_size,
        "data.image_scale": args.image_scale, "train.steps_per_epoch": args.steps_per_epoch,
        "train.warmup_epochs": args.warmup_epochs if args.lr_schedule == "cosine" else 0,
        "model.depth": args.depth, "model.filters": args.filters, "train.epochs": args.epochs,
        "train.batch_size": args.batch_size, "train.learning_rate": args.lr, "train.lr_schedule": args.lr_schedule,
        "train.class_weights": args.class_weights, "train.loss": args.loss, "train.seed": args.seed,
        "train.time_limit": args.minutes, "train.init_encoder": init_encoder, "train.init_decoder": init_decoder,
        "train.preview_every": 10,
    })
    result = segcoder.train(config, args.out, overwrite=True, verbose=2)  # ends with full-resolution val scores
    trained = time.time() - start - pretrained
    scores = result.metrics
    if args.tta != "none":
        scores = segcoder.evaluate(args.out, CAMVID / "val/images", CAMVID / "val/masks", tta=args.tta)
    total = time.time() - start

    print(f"\nCamVid val (101 images at 360x480, 11 classes, void ignored, TTA {args.tta}); unet depth {args.depth} "
          f"filters {args.filters}, trained at scale {args.image_scale}; limit {args.minutes} min; "
          f"pretraining {pretrained / 60:.1f} min, training + full-res val {trained / 60:.1f} min, "
          f"total {total / 60:.1f} min")
    print(format_scores(scores))
    print(f"\n{'':<28}{'global':>8}{'class avg':>11}{'mIoU':>8}{'BF':>8}")
    print(f"{'segcoder (val)':<28}{scores['pixel_accuracy']:>8.3f}{scores['class_accuracy']:>11.3f}"
          f"{scores['mean_iou']:>8.3f}{scores['boundary_f1'] or 0:>8.3f}")
    s = SEGNET_BASIC
    print(f"{'SegNet-Basic (test, paper)':<28}{s['pixel_accuracy']:>8.3f}{s['class_accuracy']:>11.3f}"
          f"{s['mean_iou']:>8.3f}{'':>8}")
    print(f"{'target':<28}{'> 0.827':>8}{'> 0.620':>11}{'>= 0.50':>8}")


def pretrain_on_train_images(args) -> str:
    """A masked-patch U-Net autoencoder on the train images only (val stays unseen), shaped like the segmenter."""
    from segcoder.pretrain import PretrainConfig, PretrainSettings, pretrain

    config = PretrainConfig(pretrain=PretrainSettings(images=[str(CAMVID / "train/images")], corruption="mask",
                                                      val_split=0.05))
    config.run.override(**{
        "model.name": "unet", "model.depth": args.depth, "model.filters": args.filters,
        "data.crop_size": args.crop_size, "data.image_scale": args.image_scale, "train.batch_size": args.batch_size,
        "train.epochs": args.pretrain_epochs, "train.learning_rate": args.lr, "train.seed": args.seed,
    })
    result = pretrain(config, f"{args.out}_pretrain", overwrite=True, verbose=2)
    print(f"pretrained in {result.seconds / 60:.1f} min: PSNR {result.metrics['psnr']:.2f} dB on held-out train images")
    return str(result.run_dir)


if __name__ == "__main__":
    main()
