"""segcoder reconstruct: original | reconstruction | error map for images, from a pretrain run."""


def register(sub):
    p = sub.add_parser("reconstruct", help="rebuild images with a pretrained autoencoder, side by side with the error")
    p.add_argument("run_dir", help="a finished `segcoder pretrain` run folder")
    p.add_argument("inputs", nargs="+", help="image files and/or folders")
    p.add_argument("--out", required=True, help="folder for the <name>_reconstruction.png files")
    p.set_defaults(run=run)


def run(args):
    from segcoder.reconstruct import reconstruct_files

    written = reconstruct_files(args.run_dir, args.inputs, args.out)
    print(f"wrote {len(written)} files to {args.out}")
    return 0
