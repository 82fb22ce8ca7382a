"""segcoder data: verify, convert, fetch and list datasets."""

import sys


def register(sub):
    p = sub.add_parser("data", help="check, convert and download image/mask datasets",
                       description="Check, convert and download image/mask datasets.")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    v = data_sub.add_parser("verify", help="report encoding, classes, imbalance and every problem of a folder pair",
                            description="Read every image and mask; exit 0 when the data is usable, 2 when not.")
    v.add_argument("--images", required=True, help="folder of images, or a multi-page TIFF")
    v.add_argument("--masks", required=True, help="folder of masks paired by file stem, or a multi-page TIFF")
    v.add_argument("--classes", help="classes.json (default: classes found from the masks)")
    v.add_argument("--sheet", help="write a contact sheet of mask overlays to this PNG")
    v.add_argument("--tolerance", type=float, help="RGB distance for JPEG colour masks (default 64)")
    v.set_defaults(run=run_verify)

    c = data_sub.add_parser("convert", help="write masks of any encoding as index PNGs plus classes.json",
                            description="Convert masks to index PNGs; the output folder appears only when complete.")
    c.add_argument("--masks", required=True, help="folder of masks, or a multi-page TIFF")
    c.add_argument("--classes", required=True, help="classes.json with ids and colours")
    c.add_argument("--out", required=True, help="output folder to create")
    c.add_argument("--tolerance", type=float, help="RGB distance for JPEG colour masks (default 64)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    c.set_defaults(run=run_convert)

    f = data_sub.add_parser("fetch", help="download a public dataset into the cache, checking sha256 sums",
                            description="Download a dataset into ~/.cache/segcoder (or --dest); resumes partial files.")
    f.add_argument("name", help="dataset name (see 'segcoder data list')")
    f.add_argument("--dest", help="cache folder (default ~/.cache/segcoder)")
    f.add_argument("--mirror", help="local folder with the segcoder layout to copy from instead of the network "
                                    "(default $SEGCODER_DATA_MIRROR)")
    f.set_defaults(run=run_fetch)

    ls = data_sub.add_parser("list", help="list the datasets 'data fetch' knows and what is in the cache")
    ls.add_argument("--dest", help="cache folder (default ~/.cache/segcoder)")
    ls.set_defaults(run=run_list)


def run_verify(args):
    from segcoder.data.encodings import JPEG_TOLERANCE
    from segcoder.data.verify import verify_data

    tolerance = JPEG_TOLERANCE if args.tolerance is None else args.tolerance
    report = verify_data(args.images, args.masks, args.classes, args.sheet, tolerance)
    print(report.format())
    if not report.usable:  # the report went to stdout; scripts watching stderr get the verdict in one line
        first = report.problems[0] if report.problems else "no readable image/mask pair"
        more = f" (and {len(report.problems) - 1} more problems, listed above)" if len(report.problems) > 1 else ""
        print(f"segcoder: data not usable: {first}{more}", file=sys.stderr)
        return 2
    return 0


def run_convert(args):
    from segcoder.data.convert import convert_masks
    from segcoder.data.encodings import JPEG_TOLERANCE

    tolerance = JPEG_TOLERANCE if args.tolerance is None else args.tolerance
    result = convert_masks(args.masks, args.classes, args.out, tolerance, args.overwrite)
    print(f"converted {result.files} masks ({result.encoding}) -> {result.out} (index PNGs + classes.json)")
    if result.beyond:
        print(f"{result.beyond} JPEG pixels matched no class colour within the tolerance; written as "
              f"'{[c.name for c in result.classes.classes if c.id == result.classes.ignore_index][0]}' "
              f"(id {result.classes.ignore_index}, ignored)")
    return 0


def run_fetch(args):
    from segcoder.data.fetch import fetch_dataset

    result = fetch_dataset(args.name, args.dest, args.mirror)
    print(f"{args.name}: {result.files} files checked, {result.fetched} fetched "
          f"({result.resumed} resumed, {result.bytes_copied / 1e6:.1f} MB) -> {result.root}")
    return 0


def run_list(args):
    from segcoder.data.fetch import list_datasets

    for d in list_datasets(args.dest):
        state = "complete" if d.present == d.files else ("missing" if d.present == 0 else f"{d.present}/{d.files}")
        print(f"{d.name:<18} {d.files:>5} files {d.megabytes:>7.1f} MB  cache: {state:<9} {d.title}")
        print(f"{'':<18} source: {d.source}")
    return 0
