"""The ``segcoder`` command line: thin commands that parse options and call one library function.

Each command lives in its own module with ``register(subparsers)``; the
function it sets as ``run`` takes the parsed options and returns an exit code.
"""

from __future__ import annotations

import argparse
import sys

from segcoder.errors import Interrupted, SegcoderError


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from segcoder import __version__
    from segcoder.cli import evaluate_cmd, predict_cmd, train_cmd, demo_cmd
    from segcoder.cli import compress_cmd, pretrain_cmd, reconstruct_cmd
    from segcoder.cli import data_cmd
    from segcoder.cli import export_cmd

    parser = _Parser(prog="segcoder", description="Image segmentation with encoder-decoder networks (Keras 3).")
    parser.add_argument("--version", action="version", version=f"segcoder {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for module in (train_cmd, predict_cmd, evaluate_cmd, demo_cmd, pretrain_cmd, reconstruct_cmd,
                   compress_cmd, data_cmd, export_cmd):
        module.register(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SegcoderError as exc:
        print(f"segcoder: error: {exc}", file=sys.stderr)
        return 2
    except Interrupted as exc:
        print(f"segcoder: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("segcoder: interrupted", file=sys.stderr)
        return 130
