"""segcoder predict: masks (and probabilities) for image files, folders and TIFF stacks, at any size."""


def register(sub):
    p = sub.add_parser(
        "predict", help="predict masks for image files, folders and TIFF stacks",
        description="Predict every input at full resolution. Images with a side above --tile are predicted in "
        "overlapping, Gaussian-blended tiles. Inputs whose outputs already exist are skipped (--force redoes "
        "them); a file that fails is reported and the rest go on, with exit code 1 at the end.",
    )
    p.add_argument("run_dir", help="a finished training run folder")
    p.add_argument("inputs", nargs="+", help="image files, folders and multi-page TIFF stacks")
    p.add_argument("--out", required=True, help="folder for the outputs")
    p.add_argument("--tile", type=int, default=512,
                   help="tile side in pixels; larger images are tiled (default 512; 0: always whole)")
    p.add_argument("--overlap", type=float, default=0.25, help="share of a tile its neighbours overlap (0.25)")
    p.add_argument("--tta", default="none", choices=("none", "flip", "d4"),
                   help="test-time augmentation: average 4 flips, or d4: flips and 90-degree rotations (8 views)")
    p.add_argument("--save", default="index,color,overlay",
                   help="outputs, comma-separated from index,color,overlay,prob (default index,color,overlay)")
    p.add_argument("--prob-format", default="tif", choices=("tif", "npy"),
                   help="probability maps as float16 TIFF or .npy (default tif)")
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass (default 4)")
    p.add_argument("--engine", default="keras", choices=("keras", "onnx"), help="inference engine (default keras)")
    p.add_argument("--force", action="store_true", help="redo inputs whose outputs already exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar; only failures and the summary")
    p.set_defaults(run=run)


def run(args):
    import sys

    from segcoder.batch import predict_files

    result = predict_files(
        args.run_dir, args.inputs, args.out, save=args.save, prob_format=args.prob_format, tta=args.tta,
        tile=args.tile or None, overlap=args.overlap, batch_size=args.batch_size, engine=args.engine,
        force=args.force, progress=not args.quiet, log=lambda line: print(line, file=sys.stderr)
        if line.startswith("failed") else None,
    )
    if args.quiet:
        print(result.summary(), file=sys.stderr)
    return 0 if result.ok else 1
