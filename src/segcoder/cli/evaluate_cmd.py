"""segcoder evaluate: score a run on image/mask folders."""


def register(sub):
    p = sub.add_parser("evaluate", help="score a run against image/mask folders at full resolution")
    p.add_argument("run_dir", help="a finished training run folder")
    p.add_argument("--images", required=True, help="folder of images")
    p.add_argument("--masks", required=True, help="folder of masks")
    p.add_argument("--json", help="also write the scores to this JSON file")
    p.add_argument("--tta", default="none", help="test-time augmentation: none (default), flip (4 views) or d4 (flips and 90-degree turns, 8 views)")
    p.set_defaults(run=run)


def run(args):
    from segcoder.evaluate import evaluate
    from segcoder.scores import format_scores

    result = evaluate(args.run_dir, args.images, args.masks, args.json, tta=args.tta)
    print(f"{result['images']} images, {result['pixels']} scored pixels")
    print(format_scores(result))
    return 0
