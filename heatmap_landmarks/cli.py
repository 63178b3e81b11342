"""``heatmap-landmarks``: the batch command line.

    heatmap-landmarks cardiac INPUT --view sax|lax --out DIR [--weights FILE] [--device cpu|cuda]
    heatmap-landmarks sutures INPUT --out DIR [--weights FILE] [--device cpu|cuda]
    heatmap-landmarks from-segmentation LABELMAP [--image IMAGE] [--labels RV,MYO,LV] [--view sax|lax] --out DIR
    heatmap-landmarks demo [--out DIR]

Each subcommand lives in its own module (``cli_cardiac``, ``cli_sutures``, ``cli_segmentation``)
and registers itself through ``add_parser(subparsers)``; its handler returns
an exit code. Any :class:`~heatmap_landmarks.errors.InputError` is printed as
one line on stderr and the command exits with status 2.
"""
from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .errors import HeatmapLandmarksError

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


def add_common_arguments(parser: argparse.ArgumentParser, *, default_out: str | None = None) -> None:
    """Arguments shared by every subcommand that writes results."""
    parser.add_argument("--out", required=default_out is None, default=default_out,
                        help="output folder (created if missing)" + (f"; default {default_out}" if default_out else ""))
    parser.add_argument("--weights", default=None,
                        help="model card (.json) or .safetensors file; default: the shipped demo weights")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="where to run the model")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="frames per forward pass (default: 8 for cardiac; for sutures 1 on CPU, "
                             "where small batches are fastest, and 16 on CUDA)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from . import cli_cardiac, cli_segmentation, cli_sutures

    parser = argparse.ArgumentParser(
        prog="heatmap-landmarks",
        description="Heatmap-based landmark detection: cardiac MR landmarks and endoscopic suture points.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{cardiac,sutures,from-segmentation,demo}")
    cli_cardiac.add_parser(sub)
    cli_sutures.add_parser(sub)
    cli_segmentation.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    from .inference import Cancelled

    try:
        return int(args.handler(args) or 0)
    except HeatmapLandmarksError as err:
        print(f"heatmap-landmarks {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Cancelled as err:
        print(f"heatmap-landmarks {args.command}: {err}", file=sys.stderr)
        return EXIT_CANCELLED
    except KeyboardInterrupt:
        print(f"heatmap-landmarks {args.command}: interrupted", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
