"""segcoder pretrain: train an encoder-decoder to rebuild unlabelled images."""

from segcoder.cli.options import add_image_scale_option, add_loop_options, add_network_options
from segcoder.config import RunConfig


def register(sub):
    p = sub.add_parser("pretrain", help="pretrain an autoencoder on unlabelled images (no masks)",
                       description="Teach the encoder-decoder to rebuild its input; its encoder can then seed "
                                   "`segcoder train --init-encoder RUN`. Options left out keep the defaults.")
    p.add_argument("--images", nargs="+", required=True, metavar="DIR", help="folders of unlabelled images")
    p.add_argument("--model", help="unet (default) or autoencoder (no skips: everything passes the bottleneck)")
    p.add_argument("--corruption", help="none, noise (Gaussian) or mask (blank patches, default)")
    p.add_argument("--noise-std", type=float, help="noise standard deviation, images in [0, 1] (0.2)")
    p.add_argument("--mask-ratio", type=float, help="share of patches blanked (0.5)")
    p.add_argument("--mask-patch", type=int, help="side of the blanked patches in pixels (16)")
    p.add_argument("--recon-loss", help="mse (default), mae or ssim+l1")
    p.add_argument("--loss-region", help="pixels the loss counts: all (default), or hidden (only the blanked "
                                         "patches of --corruption mask, as a masked autoencoder)")
    p.add_argument("--val-split", type=float, help="share of images held out to score reconstructions (0.1)")
    add_network_options(p)
    add_loop_options(p)
    add_image_scale_option(p, "resize images by this factor to pretrain (1); use the scale the segmenter "
                              "will train at, e.g. 0.5 before `train --image-scale 0.5`")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder once training ends")
    p.set_defaults(run=run)


def run(args):
    from segcoder.pretrain import PretrainConfig, PretrainSettings, pretrain

    config = PretrainConfig(RunConfig(), PretrainSettings(images=list(args.images)))
    config.run.override(**{
        "data.crop_size": args.crop_size, "data.workers": args.workers, "data.image_scale": args.image_scale,
        "model.name": args.model, "model.depth": args.depth, "model.filters": args.filters, "model.norm": args.norm,
        "train.epochs": args.epochs, "train.batch_size": args.batch_size,
        "train.steps_per_epoch": args.steps_per_epoch, "train.learning_rate": args.lr,
        "train.time_limit": args.time_limit, "train.seed": args.seed,
    })
    for key, value in (("corruption", args.corruption), ("noise_std", args.noise_std),
                       ("mask_ratio", args.mask_ratio), ("mask_patch", args.mask_patch),
                       ("loss", args.recon_loss), ("loss_region", args.loss_region),
                       ("val_split", args.val_split)):
        if value is not None:
            setattr(config.pretrain, key, value)
    result = pretrain(config, args.out, overwrite=args.overwrite)
    m = result.metrics
    print(f"reconstruction of {m['images']} {m['scored_on']} (clean input): PSNR {m['psnr']:.2f} dB  "
          f"SSIM {m['ssim']:.4f}  MSE {m['mse']:.5f}")
    print(f"run folder: {result.run_dir}  ({result.seconds:.0f} s)")
    return 0
