"""What every ``heatmap-landmarks`` subcommand shares: argument types, common options, reading an image, outputs.

Nothing here imports torch, OpenCV, slicer or vtk at load time.
"""
from __future__ import annotations

import argparse
import csv
import io as _stdio
import math
import os
import sys
import time
from pathlib import Path

from ..errors import HeatmapLandmarksError, InputError, refuse_overwrite
from ..fileutil import atomic_text_file
from ..inference import DEVICES
from ..timing import phase

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130
#: After SIGTERM (128 + 15, as a shell reports a process ended by it).
EXIT_TERMINATED = 143
#: Exit status after stdout was closed by the reader (as the Python documentation's SIGPIPE recipe does).
EXIT_BROKEN_PIPE = 1

_KNOWN_SUFFIXES = (".nii.gz", ".seq.nrrd", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd", ".dcm", ".dicom", ".ima",
                   ".png", ".jpg", ".jpeg")


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
    parser.add_argument("--timings", action="store_true",
                        help="print on stderr where the time went: start-up, imports, model load, reading, "
                             "preprocessing, forward passes, decoding, writing")


def add_input_arguments(parser, *, what: str = "INPUT") -> None:
    """``--series-uid`` and ``--spacing``: how to read an image file (shared with ``from-segmentation``)."""
    parser.add_argument("--series-uid", default=None, metavar="UID",
                        help=f"SeriesInstanceUID to read when {what} is a DICOM folder holding several series")
    parser.add_argument("--spacing", type=positive_mm, nargs=2, default=None, metavar=("SX", "SY"),
                        help=f"pixel size in mm, column then row, replacing {what}'s (e.g. a PNG, which has none)")


def read_input(path, *, series_uid: str | None = None, spacing_xy=None, stream=None):
    """:func:`heatmap_landmarks.io.read_image` (grey) that prints each assumed value as ``note: ...`` on stderr.

    Args:
        spacing_xy: ``(column, row)`` pixel size in mm, or None for the file's.
    Returns:
        the :class:`~heatmap_landmarks.io.Image`; its ``assumed`` lines are also the caller's notes.
    """
    with phase("imports"):
        from ..io import read_image
    with phase("read"):
        image = read_image(path, rgb="grey", series_uid=series_uid, spacing_xy=spacing_xy)
    for note in image.assumed:
        print(f"note: {note}", file=stream or sys.stderr)
    return image


def input_stem(path) -> str:
    """File name without its (compound) extension; a folder's own name.

    >>> input_stem("/data/cine.nii.gz"), input_stem("/data/dicom_series/")
    ('cine', 'dicom_series')
    """
    p = Path(path)
    name = p.name
    for suffix in _KNOWN_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name or "input"


def csv_text(columns, rows) -> str:
    buffer = _stdio.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row[c]) for c in columns])
    return buffer.getvalue()


def format_value(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


class ProgressBar:
    """tqdm progress bar driven by ``progress(fraction, message)`` callbacks (or nothing when quiet)."""

    def __init__(self, total: int, desc: str, quiet: bool):
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="frame", desc=desc, file=sys.stderr)

    def __call__(self, fraction: float, _message: str = "") -> None:
        if self.bar is not None:
            target = int(round(fraction * self.bar.total))
            if target > self.bar.n:
                self.bar.update(target - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def print_summary(summary: dict, stream=None) -> None:
    stream = stream or sys.stdout
    image = summary["image"]
    scores = summary["view_scores"]
    how = f" (auto: {', '.join(f'{v} {s:.2f}' for v, s in sorted(scores.items()))})" if scores else ""
    print(f"{image.source}: {image.kind} {image.n_frames} frame(s) {image.shape_hw[1]}x{image.shape_hw[0]} px, "
          f"view {summary['view']}{how}: {len(summary['landmarks'])} landmark(s) in {summary['seconds']:.1f} s",
          file=stream)
    for m in summary["measurements"]:
        frame = m["time"] if image.kind == "2d+t" else m["slice"]
        if frame == -1 or image.n_frames == 1 or (image.kind != "2d+t" and m["measurement"] != "RV insertion angle"):
            print(f"  {m['measurement']}: {m['value']:.1f} {m['unit']}", file=stream)
    for note in summary["notes"]:
        if note not in summary.get("assumed", ()):  # those were printed on stderr when the input was read
            print(f"  note: {note}", file=stream)
    for path in summary["files"].values():
        print(f"  wrote {path}", file=stream)


# ---------------------------------------------------------------------------
# many inputs in one process
# ---------------------------------------------------------------------------
SUMMARY_COLUMNS = ("input", "output", "status", "seconds", "message")


def add_batch_arguments(parser: argparse.ArgumentParser, *, what: str) -> None:
    """``INPUT [INPUT ...]`` (``@list.txt`` allowed) and ``--shard I/N``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help=f"{what}; several are processed in one process (the model loads once), each into "
                             f"its own subfolder of --out, with a summary.csv; @FILE reads paths from FILE, one "
                             f"per line (relative to FILE's folder; '#' starts a comment)")
    parser.add_argument("--shard", type=shard, default=None, metavar="I/N",
                        help="process only inputs I, I+N, I+2N, ... (0 <= I < N) of the list: one job of a job "
                             "array (e.g. SLURM's --array=0-{N-1} with --shard $SLURM_ARRAY_TASK_ID/N)")


def shard(text: str) -> tuple[int, int]:
    """``"I/N"`` with ``0 <= I < N`` -> ``(I, N)``.

    >>> shard("2/8")
    (2, 8)
    """
    try:
        i, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be I/N with whole numbers, e.g. 0/4, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise argparse.ArgumentTypeError(f"needs 0 <= I < N, got {text!r}")
    return i, n


def expand_inputs(items) -> list[str]:
    """The inputs named on the command line, with every ``@FILE`` replaced by the paths listed in it.

    Paths in a list are relative to the list's folder; blank lines and ``#`` comments are skipped.
    """
    out: list[str] = []
    for item in items:
        if not item.startswith("@"):
            out.append(item)
            continue
        listing = Path(item[1:])
        try:
            text = listing.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(listing, f"cannot read the list of inputs: {getattr(err, 'strerror', None) or err}") \
                from None
        for line in text.splitlines():
            entry = line.split("#", 1)[0].strip()
            if entry:
                p = Path(entry)
                out.append(os.fspath(p if p.is_absolute() else listing.parent / p))
    if not out:
        raise InputError(None, "no inputs given (the lists were empty)")
    return out


def take_shard(inputs: list, which: tuple[int, int] | None) -> list:
    """Inputs ``I, I+N, ...`` of ``inputs`` for ``which = (I, N)``; all of them for None."""
    if which is None:
        return list(inputs)
    i, n = which
    return list(inputs)[i::n]


def summary_name(which: tuple[int, int] | None) -> str:
    """``summary.csv``, or ``summary-shard-I-of-N.csv`` so that the jobs of an array never write the same file."""
    return "summary.csv" if which is None else f"summary-shard-{which[0]}-of-{which[1]}.csv"


def batch_folders(inputs: list, stem_of) -> list[str]:
    """One output subfolder name per input (its stem); two inputs with the same stem get ``-2``, ``-3``, ..."""
    seen: dict = {}
    out = []
    for path in inputs:
        stem = stem_of(path)
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return out


def run_batch(inputs: list, out, run_one, *, stem_of, which=None, overwrite: bool = False, quiet: bool = False,
              command: str = "", stream=None) -> int:
    """Run ``run_one(input, folder) -> message`` for every input, each into ``out/<stem>``; write a summary CSV.

    A bad input (a one-line :class:`~heatmap_landmarks.errors.HeatmapLandmarksError`) is reported on
    ``stream`` and in the summary, and the others still run. One progress bar counts the inputs.

    Returns:
        the exit status: 0 when every input succeeded, :data:`EXIT_BAD_INPUT` otherwise.
    """
    stream = stream or sys.stderr
    out = Path(out)
    summary_path = out / summary_name(which)
    refuse_overwrite(summary_path, overwrite)  # before any work
    folders = batch_folders(inputs, stem_of)
    bar = None
    if not quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(inputs), unit="input", desc=command or "inputs", file=sys.stderr)
    rows, failed = [], 0
    try:
        for path, folder in zip(inputs, folders):
            started = time.perf_counter()
            try:
                message, status = run_one(path, out / folder), "ok"
            except HeatmapLandmarksError as err:
                failed += 1
                message, status = str(err), "error"
                print(f"heatmap-landmarks {command}: error: {err}", file=stream)
            rows.append({"input": path, "output": folder, "status": status,
                         "seconds": time.perf_counter() - started, "message": message})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    out.mkdir(parents=True, exist_ok=True)
    with atomic_text_file(summary_path, overwrite=overwrite, newline="") as fh:
        fh.write(csv_text(SUMMARY_COLUMNS, rows))
    print(f"{len(inputs) - failed} of {len(inputs)} input(s) done, {failed} failed -> {summary_path}")
    return EXIT_BAD_INPUT if failed else 0
