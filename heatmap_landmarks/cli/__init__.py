"""``heatmap-landmarks``: the batch command line.

    heatmap-landmarks cardiac INPUT --view sax|lax|auto --out DIR [--weights FILE] [--device cpu|cuda]
                      [--series-uid UID] [--spacing SX SY] [--name NAME]
    heatmap-landmarks sutures INPUT --out DIR [--weights FILE] [--device cpu|cuda]
    heatmap-landmarks from-segmentation LABELMAP [--image IMAGE] [--labels RV,MYO,LV] [--view sax|lax] --out DIR
                      [--series-uid UID] [--image-series-uid UID] [--spacing SX SY] [--name NAME]
    heatmap-landmarks demo [--out DIR]

Each subcommand lives in its own module of this package (``cardiac``, ``sutures``, ``segmentation``,
``demo``; what they share is in ``_common``) and registers itself through ``add_parser(subparsers)``; its handler returns
an exit code. Any :class:`~heatmap_landmarks.errors.InputError`, and any
argument argparse refuses, is printed as one line on stderr and the command
exits with status 2. A closed stdout (``| head -1``) ends the command quietly.

Nothing here imports torch, slicer or vtk: ``--help``, refused arguments and
refused inputs stay fast, and torch is imported only when a model is loaded.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

from .. import __version__
from ..errors import HeatmapLandmarksError
from ..timing import PHASES, process_seconds, recording
from ._common import EXIT_BAD_INPUT, EXIT_BROKEN_PIPE, EXIT_CANCELLED, EXIT_TERMINATED, OneLineParser



def build_parser() -> argparse.ArgumentParser:
    from . import cardiac, demo, segmentation, sutures

    parser = OneLineParser(
        prog="heatmap-landmarks",
        description="Heatmap-based landmark detection: cardiac MR landmarks and endoscopic suture points.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{cardiac,sutures,from-segmentation,demo}")
    cardiac.add_parser(sub)
    sutures.add_parser(sub)
    segmentation.add_parser(sub)
    demo.add_parser(sub)
    return parser


def _timed(args) -> int:
    """Run the handler recording its phases; print the breakdown on stderr (also when it fails)."""
    started = time.perf_counter()
    with recording() as seconds:
        try:
            return int(args.handler(args) or 0)
        finally:
            print(format_timings(seconds, time.perf_counter() - started, process_seconds()), file=sys.stderr)


def format_timings(seconds, command_s: float, process_s: float | None) -> str:
    """One line: start-up before the command, then each phase, the rest, and the total.

    >>> format_timings({"forward": 1.0, "read": 0.25}, 2.0, 3.5)
    'timings: start-up 1.50 s, read 0.25 s, forward 1.00 s, other 0.75 s, total 3.50 s'
    """
    parts = []
    if process_s is not None and process_s >= command_s:
        parts.append(f"start-up {process_s - command_s:.2f} s")
    known = [p for p in PHASES if seconds.get(p)] + sorted(p for p in seconds if p not in PHASES and seconds[p])
    parts += [f"{p} {seconds[p]:.2f} s" for p in known]
    parts.append(f"other {max(command_s - sum(seconds[p] for p in known), 0.0):.2f} s")
    parts.append(f"total {process_s if process_s is not None and process_s >= command_s else command_s:.2f} s")
    return "timings: " + ", ".join(parts)


class Terminated(Exception):
    """SIGTERM arrived (a scheduler's time limit, ``kill``): unwind like Ctrl-C, so nothing partial stays."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    """Run ``heatmap-landmarks ARGV``; returns the exit status (0 done, 2 bad input, 130 cancelled, 143 terminated).

    SIGTERM is turned into an exception while the command runs, so its staging folder is removed and
    nothing partial is left, as after Ctrl-C.
    """
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
    from ..inference import Cancelled

    previous = None
    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if getattr(args, "timings", False):
            code = _timed(args)
        else:
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
    except Terminated:
        print(f"heatmap-landmarks {args.command}: terminated (SIGTERM); nothing was written", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
