"""segcoder export: write a run's model for another runtime (ONNX)."""

from segcoder.export import DEFAULT_OPSET, FORMATS


def register(sub):
    p = sub.add_parser("export", help="export a run's model (ONNX) for onnxruntime and other runtimes",
                       description="Export RUN_DIR/model.keras; 'segcoder predict --engine onnx' then uses it.")
    p.add_argument("run_dir", help="a finished training run folder")
    p.add_argument("--format", default="onnx", choices=FORMATS, help="export format (onnx)")
    p.add_argument("--out", help="file to write (default RUN_DIR/model.onnx, where --engine onnx looks)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset version ({DEFAULT_OPSET})")
    p.set_defaults(run=run)


def run(args):
    from segcoder.export import export

    path = export(args.run_dir, args.format, args.out, opset=args.opset)
    print(f"wrote {path}")
    return 0
