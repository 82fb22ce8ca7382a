"""segcoder predict: write index, colour and overlay masks for new images."""


def register(sub):
    p = sub.add_parser("predict", help="predict masks for image files and folders")
    p.add_argument("run_dir", help="a finished training run folder")
    p.add_argument("inputs", nargs="+", help="image files and/or folders")
    p.add_argument("--out", required=True, help="folder for the predicted masks")
    p.set_defaults(run=run)


def run(args):
    from segcoder.predict import predict_files

    written = predict_files(args.run_dir, args.inputs, args.out)
    print(f"wrote {len(written)} files to {args.out}")
    return 0
