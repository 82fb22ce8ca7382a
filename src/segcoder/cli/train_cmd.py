"""segcoder train: fit a segmenter on image/mask folders."""

from segcoder.cli.options import add_image_scale_option, add_loop_options, add_network_options
from segcoder.config import RunConfig


def register(sub):
    p = sub.add_parser("train", help="train a segmenter on image/mask folders",
                       description="Train a segmenter; options left out keep the --config value or the default.")
    p.add_argument("--images", help="folder of training images")
    p.add_argument("--masks", help="folder of training masks, paired with images by file stem")
    p.add_argument("--val-images", help="folder of validation images")
    p.add_argument("--val-masks", help="folder of validation masks")
    p.add_argument("--val-split", type=float, help="share held out for validation without --val-images (0.2)")
    p.add_argument("--classes", help="classes.json with names, colours and ignore_index")
    p.add_argument("--model", help="architecture: unet (default) or autoencoder")
    add_network_options(p)
    p.add_argument("--loss", help="ce, dice, focal, tversky or a sum such as focal+dice (default ce+dice)")
    p.add_argument("--class-weights", help="'median-frequency' (SegNet) or one comma-separated weight per class")
    p.add_argument("--lr-schedule", help="constant (default), cosine or plateau")
    p.add_argument("--warmup-epochs", type=int, help="linear warm-up epochs before cosine decay (0)")
    p.add_argument("--patience", type=int, help="early stopping: epochs without a better val mean IoU")
    p.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps (always each epoch)")
    p.add_argument("--preview-every", type=int, help="prediction grid PNG every N epochs (5; 0 = never)")
    p.add_argument("--tensorboard", action="store_true", default=None, help="write TensorBoard logs")
    add_loop_options(p)
    add_image_scale_option(p, "resize images and masks by this factor to train, e.g. 0.5 (1); predict and "
                              "evaluate resize by it too and return full-size results")
    p.add_argument("--precision", help="float32 (default), mixed_bfloat16 or mixed_float16 (GPU)")
    p.add_argument("--init-encoder", metavar="RUN", help="start from the encoder of this `segcoder pretrain` run")
    p.add_argument("--init-decoder", action="store_true", default=None,
                   help="with --init-encoder: also copy the pretrained U-Net's decoder (all but the output layer)")
    p.add_argument("--freeze-encoder-epochs", type=int, help="keep the copied encoder frozen this many epochs (0)")
    p.add_argument("--config", help="run.yaml with data/model/train sections")
    p.add_argument("--out", help="run folder to create")
    p.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder once training ends")
    p.set_defaults(run=run)


def run(args):
    from segcoder.scores import format_scores
    from segcoder.train import train

    from segcoder.errors import SegcoderError

    if args.resume:
        result = train(None, args.resume, resume=True)
        return report(result, format_scores)
    if not args.out:
        raise SegcoderError("train needs --out RUN_DIR (or --resume RUN_DIR to continue a run)")
    config = RunConfig.from_yaml(args.config) if args.config else RunConfig()
    config.override(**{
        "data.images": args.images, "data.masks": args.masks, "data.val_images": args.val_images,
        "data.val_masks": args.val_masks, "data.val_split": args.val_split, "data.classes": args.classes,
        "data.crop_size": args.crop_size, "data.workers": args.workers, "data.image_scale": args.image_scale,
        "model.name": args.model, "model.depth": args.depth, "model.filters": args.filters, "model.norm": args.norm,
        "train.epochs": args.epochs, "train.batch_size": args.batch_size,
        "train.steps_per_epoch": args.steps_per_epoch, "train.learning_rate": args.lr, "train.loss": args.loss,
        "train.seed": args.seed, "train.time_limit": args.time_limit, "train.precision": args.precision,
        "train.init_encoder": args.init_encoder, "train.freeze_encoder_epochs": args.freeze_encoder_epochs,
        "train.init_decoder": args.init_decoder,
        "train.class_weights": args.class_weights, "train.lr_schedule": args.lr_schedule,
        "train.warmup_epochs": args.warmup_epochs, "train.patience": args.patience,
        "train.checkpoint_every": args.checkpoint_every, "train.preview_every": args.preview_every,
        "train.tensorboard": args.tensorboard,
    })
    return report(train(config, args.out, overwrite=args.overwrite), format_scores)


def report(result, format_scores):
    print(f"validation (best checkpoint, full resolution, {result.metrics['images']} images):")
    print(format_scores(result.metrics))
    print(f"run folder: {result.run_dir}  ({result.seconds:.0f} s)")
    return 0
