"""segcoder demo: the whole job on a generated dataset."""


def register(sub):
    p = sub.add_parser("demo", help="generate a synthetic dataset, then train, evaluate and predict on it")
    p.add_argument("--out", default="demo_run", help="folder for the data, run and predictions (demo_run)")
    p.add_argument("--epochs", type=int, default=12, help="training epochs (12)")
    p.set_defaults(run=run)


def run(args):
    from segcoder.demo import run_demo

    run_demo(args.out, epochs=args.epochs)
    return 0
