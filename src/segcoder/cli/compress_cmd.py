"""segcoder compress-eval: the autoencoder's 8-bit bottleneck against JPEG at the same number of bytes."""


def register(sub):
    p = sub.add_parser("compress-eval", help="measure a pretrained autoencoder as a compressor against JPEG",
                       description="Quantise the bottleneck to 8 bits, count its bytes, and compare PSNR/SSIM "
                                   "with JPEG at the quality whose size is closest.")
    p.add_argument("run_dir", help="a finished `segcoder pretrain --model autoencoder` run folder")
    p.add_argument("--images", nargs="+", required=True, metavar="DIR",
                   help="folders of images, each scored as one set (e.g. in-domain and out-of-domain)")
    p.add_argument("--max-images", type=int, help="use at most this many images per folder (all)")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--plot", help="also write the rate-distortion plot to this PNG")
    p.set_defaults(run=run)


def run(args):
    from segcoder.compress import compress_eval, format_table

    result = compress_eval(args.run_dir, args.images, args.json, args.plot, args.max_images)
    print(format_table(result))
    return 0
