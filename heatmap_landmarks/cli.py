"""``heatmap-landmarks``: the batch command line.

    heatmap-landmarks cardiac INPUT --view sax|lax|auto --out DIR [--weights FILE] [--device cpu|cuda]
                      [--series-uid UID] [--spacing SX SY] [--name NAME]
    heatmap-landmarks sutures INPUT --out DIR [--weights FILE] [--device cpu|cuda]
    heatmap-landmarks from-segmentation LABELMAP [--image IMAGE] [--labels RV,MYO,LV] [--view sax|lax] --out DIR
                      [--series-uid UID] [--image-series-uid UID] [--spacing SX SY] [--name NAME]
    heatmap-landmarks demo [--out DIR]

Each subcommand lives in its own module (``cli_cardiac``, ``cli_sutures``, ``cli_segmentation``)
and registers itself through ``add_parser(subparsers)``; its handler returns
an exit code. Any :class:`~heatmap_landmarks.errors.InputError`, and any
argument argparse refuses, is printed as one line on stderr and the command
exits with status 2. A closed stdout (``| head -1``) ends the command quietly.

Nothing here imports torch, slicer or vtk: ``--help``, refused arguments and
refused inputs stay fast, and torch is imported only when a model is loaded.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys

from . import __version__
from .errors import HeatmapLandmarksError
from .inference import DEVICES

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130
#: Exit status after stdout was closed by the reader (as the Python documentation's SIGPIPE recipe does).
EXIT_BROKEN_PIPE = 1


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose refusals are one line on stderr (``prog: error: ... (see --help)``), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--batch-size``).

    >>> positive_int("8")
    8
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 1, got '0'
    """
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def positive_mm(text: str) -> float:
    """argparse type: a finite length > 0 in millimetres (``--spacing``).

    >>> positive_mm("0.78")
    0.78
    >>> positive_mm("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a finite number of mm > 0, got 'nan'
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0.0):
        raise argparse.ArgumentTypeError(f"must be a finite number of mm > 0, got {text!r}")
    return value


def plain_name(text: str) -> str:
    """argparse type: a file name stem with no folder part (``--name``).

    >>> plain_name("patient01")
    'patient01'
    >>> plain_name("../x")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a plain file name (no folders, not '.' or '..'), got '../x'
    """
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    if (text in ("", ".", "..") or any(s in text for s in separators) or os.path.isabs(text)
            or "\0" in text):
        raise argparse.ArgumentTypeError(f"must be a plain file name (no folders, not '.' or '..'), got {text!r}")
    return text


def add_common_arguments(parser: argparse.ArgumentParser, *, default_out: str | None = None) -> None:
    """Arguments shared by every subcommand that writes results."""
    parser.add_argument("--out", required=default_out is None, default=default_out,
                        help="output folder (created if missing)" + (f"; default {default_out}" if default_out else ""))
    parser.add_argument("--weights", default=None,
                        help="model card (.json) or .safetensors file; default: the shipped demo weights")
    parser.add_argument("--device", default="cpu", choices=DEVICES, help="where to run the model")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="frames per forward pass (default: 8 for cardiac; for sutures 1 on CPU, "
                             "where small batches are fastest, and 16 on CUDA)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from . import cli_cardiac, cli_segmentation, cli_sutures

    parser = OneLineParser(
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
    """Run ``heatmap-landmarks ARGV``; returns the exit status (0 done, 2 bad input, 130 cancelled)."""
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader went away (``| head -1``). Point stdout at devnull so the
        # interpreter's final flush does not raise again, and stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    from .inference import Cancelled

    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the BrokenPipeError handler of main()
        return code
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
