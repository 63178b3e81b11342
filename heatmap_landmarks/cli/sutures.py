"""``heatmap-landmarks sutures``: suture entry points on endoscopic frames, folders or videos.

    heatmap-landmarks sutures INPUT --out DIR [--weights FILE] [--device cpu|cuda]
                              [--threshold T] [--opening K] [--no-cut] [--overlay-every N]

INPUT is one frame (PNG/JPG), a folder of frames, or a video file (mp4, avi,
... decoded by OpenCV and streamed: memory does not grow with its length).
DIR receives::

    DIR/point_labels/<frame>.json   AdaptOR label per frame: {"points": [{"x", "y"}], "imageHeight", "imageWidth"}
    DIR/submission.json             AdaptOR submission: one entry per frame
    DIR/<name>_sutures.csv          frame,label,x,y,confidence (one row per point)
    DIR/overlays/<frame>.png        frame with the inferno heatmap blended in and the points drawn

Video frame ``i`` is named ``{i:06d}.png``. Overlays are written for every
frame of inputs with at most 100 frames and for every 25th frame (0, 25, ...)
of longer ones, unless ``--overlay-every N`` says otherwise (0: none).

Everything is first written to a hidden folder inside DIR and moved into
place only when all frames succeeded, so a bad frame, a crash or Ctrl-C leaves
no partial results. Existing results are never replaced without
``--overwrite``; with it, ``point_labels/`` and ``overlays/`` are replaced as
a whole, so no file of an earlier run stays behind. Two runs into one DIR
publish one at a time: without ``--overwrite`` the later one is refused.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import cv2

from ..adaptor_json import SubmissionEntry, SubmissionWriter, SutureCsvWriter, write_point_labels
from ..errors import InputError, OutputExistsError
from ..fileutil import staged_outputs
from ..io import check_path_name
from ..render import render_overlay
from ..timing import phase
from ..sutures.decode import user_settings
from ..sutures.pipeline import detect_sutures
from ..video import FrameSource, open_frames

#: Inputs with more frames than this get overlays for every ``LONG_INPUT_OVERLAY_STEP``-th frame only.
OVERLAY_ALL_UP_TO = 100
LONG_INPUT_OVERLAY_STEP = 25
LABEL_DIR = "point_labels"
OVERLAY_DIR = "overlays"
SUBMISSION_FILE = "submission.json"


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sutures`` subcommand (called by :func:`heatmap_landmarks.cli.build_parser`)."""
    from ._common import add_batch_arguments, add_common_arguments

    parser = subparsers.add_parser(
        "sutures",
        help="suture entry points on endoscopic RGB frames, frame folders or videos",
        description="Detect suture entry points with the suture heatmap network (ResNeXt U-Net) and write "
                    "AdaptOR JSON (per frame and one submission file), a CSV and overlay PNGs.",
        epilog=f"Overlays: every frame for inputs of at most {OVERLAY_ALL_UP_TO} frames, else every "
               f"{LONG_INPUT_OVERLAY_STEP}th frame; change with --overlay-every N (0 = none). The shipped demo "
               "weights were trained on synthetic frames only.",
    )
    add_batch_arguments(parser, what="frame (PNG/JPG), folder of frames, or video file (mp4/avi/...)")
    add_common_arguments(parser)
    parser.add_argument("--threshold", type=float, default=None,
                        help="heatmap threshold in [0, 1); default: Otsu's threshold per frame")
    parser.add_argument("--opening", type=int, default=None, metavar="K",
                        help="morphological opening kernel in px (0 = off); default: the model card's (3)")
    parser.add_argument("--no-cut", action="store_true", help="do not cut large blobs into several points")
    parser.add_argument("--overlay-every", type=int, default=None, metavar="N",
                        help=f"write an overlay PNG for every N-th frame (0 = none); default 1 for inputs of at "
                             f"most {OVERLAY_ALL_UP_TO} frames, else {LONG_INPUT_OVERLAY_STEP}")
    parser.add_argument("--ignore-box", type=float, nargs=4, action="append", default=None,
                        metavar=("X0", "Y0", "X1", "Y1"),
                        help="drop points inside this pixel box (repeatable), e.g. where the endoscope draws its "
                             "overlay; the model is not told, so its heatmap still shows what it saw there")
    parser.add_argument("--accept-short-video", action="store_true",
                        help="use the frames of a video that ends before the frame count its container declares "
                             "(a truncated file); without it such a video is refused")
    parser.add_argument("--folder-name", default=None,
                        help="folderName in submission.json (default: from an AdaptOR <op>/<video>/images layout, "
                             "else the input's parent folder)")
    parser.add_argument("--subfolder-name", default=None,
                        help="subfolderName in submission.json (default: the video/folder name)")
    parser.set_defaults(handler=run)
    return parser


# ---------------------------------------------------------------------------
# overlays
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------
def default_submission_names(source: FrameSource) -> tuple[str, str]:
    """``(folderName, subfolderName)`` for the submission: from ``<op>/<video>/images``, else the input's folders."""
    path = source.path.resolve()
    base = path if source.kind == "folder" else path.parent
    if base.name == "images" and base.parent.name:
        return base.parent.parent.name or "op", base.parent.name
    if source.kind == "video":
        return path.parent.name or "op", path.stem
    return base.parent.name or "op", base.name or "video"


def overlay_step(n_frames: int, requested: int | None) -> int:
    """Every how many frames an overlay is written (0 = never).

    >>> overlay_step(100, None), overlay_step(101, None), overlay_step(5000, 0)
    (1, 25, 0)
    """
    if requested is not None:
        if requested < 0:
            raise InputError(None, f"--overlay-every must be >= 0, got {requested}")
        return int(requested)
    return 1 if n_frames <= OVERLAY_ALL_UP_TO else LONG_INPUT_OVERLAY_STEP


def _decoder_overrides(args) -> dict:
    return user_settings(args.threshold, args.opening, False if args.no_cut else None,
                         threshold_name="--threshold", opening_name="--opening")


def _check_outputs(out: Path, csv_name: str, overwrite: bool) -> None:
    """Refuse before any work when results from an earlier run are in ``out``."""
    if overwrite:
        return
    for name in (SUBMISSION_FILE, csv_name):
        if os.path.lexists(out / name):
            raise OutputExistsError(out / name, "already exists; pass --overwrite to replace it")
    for name in (LABEL_DIR, OVERLAY_DIR):
        folder = out / name
        if folder.is_dir() and any(not f.startswith(".") for f in os.listdir(folder)):
            raise OutputExistsError(folder, "already holds results; pass --overwrite to replace them "
                                            "(or choose another --out)")


def check_out(out, source: FrameSource, overwrite: bool) -> Path:
    """The output folder as a checked Path; refuses, before any work, a name OpenCV cannot take, a file, or old results.

    OpenCV crashes (SIGSEGV) on a file name that is not valid UTF-8, so ``out``
    and every name built in it go through :func:`heatmap_landmarks.io.check_path_name`.
    """
    out = check_path_name(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; --out must be a folder")
    _check_outputs(out, check_path_name(f"{source.name}_sutures.csv").name, overwrite)
    return out


def detect_to_folder(source: FrameSource, predictor, out: Path, *, decoder: dict, overwrite: bool = False,
                     ignore_boxes=(), overlay_every: int | None = None, folder_name: str | None = None,
                     subfolder_name: str | None = None, progress=None) -> dict:
    """Run ``predictor`` over ``source`` and write all results to ``out`` (all or nothing).

    Args:
        progress: optional object with ``update(n)`` (e.g. tqdm).

    Returns:
        summary dict: frames, points, csv, submission, overlays (count).
    """
    out = check_out(out, source, overwrite)
    csv_name = f"{source.name}_sutures.csv"
    step = overlay_step(len(source), overlay_every)
    op, video = default_submission_names(source)
    op, video = folder_name or op, subfolder_name or video
    names = {"submission": SUBMISSION_FILE, "csv": csv_name, "labels": LABEL_DIR, "overlays": OVERLAY_DIR}
    n_frames = n_points = n_overlays = 0
    # One staging folder, renamed into place entry by entry at the end: label and overlay folders are replaced
    # whole (nothing of an earlier, longer run stays), and two runs into one folder never mix.
    with staged_outputs(out, names, overwrite=overwrite, prefix=".sutures-partial-") as (staging, _published):
        (staging / LABEL_DIR).mkdir()
        if step:
            (staging / OVERLAY_DIR).mkdir()
        with SubmissionWriter(staging / SUBMISSION_FILE, overwrite=True) as submission, \
                SutureCsvWriter(staging / csv_name, overwrite=True) as table:
            for frame, pred, labels in detect_sutures(source, predictor, rgb_of=lambda f: f.rgb, decoder=decoder,
                                                      ignore_boxes=ignore_boxes, return_heatmaps=bool(step),
                                                      source=os.fspath(source.path)):
                name, shape = frame.name, frame.rgb.shape[:2]
                rgb = frame.rgb if step and frame.index % step == 0 else None
                stem = check_path_name(os.path.splitext(name)[0]).name
                with phase("write"):
                    write_point_labels(staging / LABEL_DIR / f"{stem}.json", pred.points, shape)
                    submission.add(SubmissionEntry(op, video, name, pred.points))
                    table.add(name, pred.points, labels, pred.confidence)
                    if rgb is not None:
                        overlay = render_overlay(rgb, pred.heatmap, pred.points, labels)
                        if not cv2.imwrite(os.fspath(staging / OVERLAY_DIR / f"{stem}.png"),
                                           cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR)):
                            raise InputError(out / OVERLAY_DIR, f"could not write the overlay of {name}")
                        n_overlays += 1
                n_frames += 1
                n_points += len(pred.points)
                if progress is not None:
                    progress.update(1)
    return {"frames": n_frames, "points": n_points, "overlays": n_overlays, "csv": os.fspath(out / csv_name),
            "submission": os.fspath(out / SUBMISSION_FILE), "labels": os.fspath(out / LABEL_DIR)}


def run(args) -> int:
    """Handler of ``heatmap-landmarks sutures``: one input into ``--out``, or many, each into its own subfolder."""
    from ..catalog import default_weights_key
    from ..sutures import SuturePredictor
    from ._common import expand_inputs, input_stem, run_batch, take_shard

    inputs = expand_inputs(args.inputs)
    decoder = _decoder_overrides(args)
    weights = args.weights or default_weights_key("sutures")
    batch_size = args.batch_size or (1 if args.device == "cpu" else 16)
    boxes = [tuple(b) for b in (args.ignore_box or [])]
    for b in boxes:
        if not all(math.isfinite(v) for v in b) or b[0] > b[2] or b[1] > b[3]:
            raise InputError(None, f"--ignore-box needs X0 <= X1 and Y0 <= Y1 (finite pixels), got {' '.join(map(str, b))}")
    options = dict(decoder=decoder, overwrite=args.overwrite, overlay_every=args.overlay_every, ignore_boxes=boxes,
                   folder_name=args.folder_name, subfolder_name=args.subfolder_name)

    def opened(path, out):
        source = open_frames(path, accept_short_video=args.accept_short_video)
        source.probe()  # an unusable (first) frame fails here, before the model is loaded
        overlay_step(len(source), args.overlay_every)
        check_out(out, source, args.overwrite)  # before the model (and torch) is loaded
        return source

    if len(inputs) == 1 and args.shard is None:
        source = opened(inputs[0], args.out)
        predictor = SuturePredictor(weights, device=args.device, batch_size=batch_size)
        progress = None
        if not args.quiet:
            from tqdm import tqdm

            progress = tqdm(total=len(source), unit="frame", desc=f"sutures {source.name}", file=sys.stderr)
        try:
            summary = detect_to_folder(source, predictor, args.out, progress=progress, **options)
        finally:
            if progress is not None:
                progress.close()
        print(f"{summary['frames']} frame(s), {summary['points']} suture point(s) -> {summary['csv']}, "
              f"{summary['submission']}, {summary['labels']}/ ({summary['overlays']} overlay(s))")
        if getattr(source, "short_note", None):
            print(f"note: {source.short_note}", file=sys.stderr)
        return 0
    inputs = take_shard(inputs, args.shard)
    if not inputs:
        print(f"shard {args.shard[0]}/{args.shard[1]} holds no input")
        return 0
    predictor = SuturePredictor(weights, device=args.device, batch_size=batch_size)  # once, for every input

    def run_one(path, folder):
        source = opened(path, folder)
        summary = detect_to_folder(source, predictor, folder, **options)
        note = f"; note: {source.short_note}" if getattr(source, "short_note", None) else ""
        return f"{summary['frames']} frame(s), {summary['points']} suture point(s){note}"

    return run_batch(inputs, args.out, run_one, stem_of=input_stem, which=args.shard, overwrite=args.overwrite,
                     quiet=args.quiet, command="sutures")
