"""``heatmap-landmarks cardiac``: cardiac MR landmarks from the command line.

    heatmap-landmarks cardiac INPUT --view sax|lax|auto --out DIR [--weights FILE] [--device cpu|cuda]
                      [--series-uid UID] [--spacing SX SY] [--name NAME]

INPUT is a NIfTI/NRRD/MetaImage file, a DICOM file or folder, or a PNG/JPEG:
one 2D image, a 3D stack of short-axis slices, or a 2D+t cine. The pipeline is
:func:`heatmap_landmarks.cardiac.detect_cardiac`, the same as the Slicer
module's. DIR receives, with ``<name>`` the input's file name without extension::

    <name>_landmarks.csv     time,slice,label,x,y,r,a,s,confidence (one row per point found)
    <name>.mrk.json          the same points as a Slicer point list (LPS mm in the file, as Slicer writes it)
    <name>_heatmap.nrrd      heatmap (float32 0..1) in the input's geometry and layout
    <name>_measurements.csv  measurement,time,slice,value,unit (annulus diameter/excursion, LV length, RV angle)
    <name>_overlay.png       contact sheet: every frame (at most 36, evenly sampled) with the heatmap
                             (inferno) blended over the image and the points labelled
    <name>_notes.txt         what ran, and one "note:" line per value assumed about the input (a missing
                             pixel spacing, a PNG's pixel size) and per naming decision

``time`` is the time point (0 for a single image or stack) and ``slice`` the
slice index (0 for a 2D image or cine), as in the Slicer module's tables;
``x, y`` are 0-based pixel column and row, and ``r, a, s`` RAS millimetres as
Slicer shows them. In the measurements ``time = -1`` means "over the whole
cine" (an excursion) and ``slice = -1`` "not tied to one slice" (the LV
length). Files written before version 0.2 had one ``frame`` column instead
(the slice of a stack, the time point of a cine); :func:`read_landmark_csv`
reads both.
``--series-uid`` picks one series of a DICOM folder holding several;
``--spacing SX SY`` (mm, column then row) replaces the file's pixel size. Each
value the reader had to assume (e.g. a PNG's 1 mm pixels) is printed on
stderr as ``note: ...`` and kept in the summary's notes.

All files are written to a hidden folder in DIR first and moved into place
together, so a failure leaves nothing partial; existing results are never
replaced without ``--overwrite``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..cardiac import VIEW_CHOICES, CardiacDetections, choose_view, detect_cardiac, load_predictors
from ..errors import InputError, refuse_overwrite
from ..cardiac.pipeline import image_volumes
from ..fileutil import staged_outputs
from ..markups_json import format_confidence, write_markups_json
from ..render import contact_sheet
from ..timing import phase
from ._common import (ProgressBar, add_input_arguments, csv_text, expand_inputs, input_stem, print_summary,
                      read_input, run_batch, take_shard, write_text)

LANDMARK_COLUMNS = ("time", "slice", "label", "x", "y", "r", "a", "s", "confidence")
MEASUREMENT_COLUMNS = ("measurement", "time", "slice", "value", "unit")


def add_parser(subparsers) -> None:
    """Register ``cardiac`` (called by :func:`heatmap_landmarks.cli.build_parser`)."""
    from ._common import add_batch_arguments, add_common_arguments, plain_name

    parser = subparsers.add_parser(
        "cardiac", help="cardiac MR landmarks (RV insertions, LV axis, mitral hinges) on a 2D/3D/2D+t image",
        description="Detect cardiac landmarks: RVI-1, RVI-2 and the LV centre (BCA on the basal slice, ACA on "
                    "the apical slice of a stack) on short-axis images, MV-1 and MV-2 on long-axis images. "
                    "Writes a CSV, a Slicer .mrk.json, the heatmap (.nrrd), measurements and a PNG contact sheet.",
        epilog="The shipped short-axis weights were trained on ACDC patients (research use only) plus synthetic "
               "images, the long-axis weights on synthetic phantoms only: not for clinical use.")
    add_batch_arguments(parser, what="NIfTI/NRRD/MHA file, DICOM file or series folder, or PNG/JPEG")
    parser.add_argument("--view", choices=VIEW_CHOICES, default="auto",
                        help="sax (short axis), lax (long axis) or auto (the more confident model; default)")
    parser.add_argument("--name", type=plain_name, default=None,
                        help="output file name stem, no folders (default: the input's name; one input only)")
    add_input_arguments(parser)
    parser.add_argument("--rotations", type=int, choices=(1, 2, 4), default=None,
                        help="test-time quarter turns averaged per frame (default: the model card's, 4 for the "
                             "shipped models); 1 is about 2.5x faster and less accurate")
    add_common_arguments(parser)
    parser.set_defaults(handler=run_cardiac)


# ---------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------


def output_names(stem: str) -> dict:
    """Output file names by kind.

    >>> sorted(output_names("cine").values())  # doctest: +NORMALIZE_WHITESPACE
    ['cine.mrk.json', 'cine_heatmap.nrrd', 'cine_landmarks.csv', 'cine_measurements.csv', 'cine_notes.txt',
     'cine_overlay.png']
    """
    return {"csv": f"{stem}_landmarks.csv", "markups": f"{stem}.mrk.json", "heatmap": f"{stem}_heatmap.nrrd",
            "measurements": f"{stem}_measurements.csv", "overlay": f"{stem}_overlay.png",
            "notes": f"{stem}_notes.txt"}


def notes_text(title: str, notes) -> str:
    """``<name>_notes.txt``: what ran, then one ``note:`` line per value assumed about the input and per naming note.

    The values a reader assumed (a missing pixel spacing, a PNG's 1 mm) are kept next to the results, not only
    printed on stderr, so that a CSV is never read without them.
    """
    lines = [f"# {title}", *(f"note: {n}" for n in notes)]
    if not notes:
        lines.append("# nothing was assumed about the input")
    return "".join(f"{line}\n" for line in lines)


def frame_of(row: dict, kind: str) -> int:
    """Index of a row's time point or slice along the input image's frames (time for a cine, else slice)."""
    return int(row["time"] if kind == "2d+t" else row["slice"])


def landmark_rows(detections: CardiacDetections, kind: str | None = None) -> list[dict]:
    """CSV rows (:data:`LANDMARK_COLUMNS`) of the found landmarks (``kind`` is not needed; kept for callers)."""
    return [{c: r[c] for c in LANDMARK_COLUMNS} for r in detections.rows()]


def measurement_rows(detections: CardiacDetections, kind: str | None = None) -> list[dict]:
    """CSV rows (:data:`MEASUREMENT_COLUMNS`); ``time``/``slice`` -1 = over the whole cine / not one slice."""
    return [{c: m[c] for c in MEASUREMENT_COLUMNS} for m in detections.measurements()]


def read_landmark_csv(path, *, frame_is: str | None = None) -> list[dict]:
    """Rows of a ``<name>_landmarks.csv`` with ``time`` and ``slice`` as ints and the numbers as floats.

    Files of versions before 0.2 have one ``frame`` column instead: say what it
    counted with ``frame_is`` (``"time"`` for a cine, ``"slice"`` for a stack
    or 2D image); the other index is 0.
    """
    import csv as _csv

    with open(path, newline="", encoding="utf-8") as f:
        reader = _csv.DictReader(f)
        header = reader.fieldnames or []
        rows = list(reader)
    old = "frame" in header and not {"time", "slice"} <= set(header)
    if old and frame_is not in ("time", "slice"):
        raise InputError(path, "has the old 'frame' column (before version 0.2); say whether it counts time "
                               "points or slices (frame_is='time' or 'slice')")
    missing = [c for c in LANDMARK_COLUMNS if c not in header and not (old and c in ("time", "slice"))]
    if missing:
        raise InputError(path, f"is not a landmark CSV: no column(s) {', '.join(missing)}")
    out = []
    for i, r in enumerate(rows, start=2):
        try:
            row = {"label": r["label"], **{c: float(r[c]) if r[c] != "" else float("nan")
                                           for c in ("x", "y", "r", "a", "s", "confidence")}}
            if old:
                row["time"], row["slice"] = (int(r["frame"]), 0) if frame_is == "time" else (0, int(r["frame"]))
            else:
                row["time"], row["slice"] = int(r["time"]), int(r["slice"])
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(path, f"line {i}: {err}") from None
        out.append(row)
    return out


def _save_markups(path: Path, rows: list[dict], kind: str) -> None:
    """Write the points (RAS mm) as a Slicer ``.mrk.json`` point list (standard library, no slicer-core)."""
    where = "time" if kind == "2d+t" else "slice"
    points = np.array([[r["r"], r["a"], r["s"]] for r in rows], dtype=np.float64).reshape(-1, 3)
    descriptions = [f"{where} {frame_of(r, kind)}; {format_confidence(r['confidence'])}" for r in rows]
    write_markups_json(path, points, [r["label"] for r in rows], descriptions, overwrite=True)


def write_landmark_files(folder: Path, names: dict, rows: list[dict], measurements: list[dict], kind: str) -> None:
    """Write the landmark CSV, the measurements CSV and the Slicer point list into ``folder``.

    Args:
        names: :func:`output_names` (``csv``, ``measurements``, ``markups`` are used).
        rows: :func:`landmark_rows`; measurements: :func:`measurement_rows`.
        kind: the input's kind (``"2d+t"`` describes points by frame, otherwise by slice).
    """
    folder = Path(folder)
    write_text(folder / names["csv"], csv_text(LANDMARK_COLUMNS, rows))
    write_text(folder / names["measurements"], csv_text(MEASUREMENT_COLUMNS, measurements))
    _save_markups(folder / names["markups"], rows, kind)


def write_contact_sheet(path: Path, frames: np.ndarray, heatmaps: np.ndarray, rows: list[dict], kind: str) -> None:
    """Save :func:`contact_sheet` of ``frames (F, H, W)`` and ``heatmaps (F, H, W)`` in [0, 1] as a PNG."""
    import cv2

    sheet = contact_sheet(frames, heatmaps, [{**r, "frame": frame_of(r, kind)} for r in rows])
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(path, "could not encode the contact sheet")
    Path(path).write_bytes(png.tobytes())


def detect_file(input_path, out, *, view: str = "auto", weights=None, device: str = "cpu", batch_size: int = 8,
                overwrite: bool = False, quiet: bool = False, name: str | None = None, predictors=None,
                rotations: int | None = None, series_uid: str | None = None, spacing_xy=None) -> dict:
    """Detect cardiac landmarks on one image file (or DICOM folder) and write the outputs to ``out``.

    Args:
        predictors: already loaded ``{view: Predictor}`` (the demo reuses them);
            default: loaded from ``view``/``weights``/``device``/``batch_size``/``rotations``.
        rotations: test-time quarter turns (1, 2, 4); None = the card's setting.
        series_uid: the DICOM series to read from a folder holding several.
        spacing_xy: ``(column, row)`` pixel size in mm replacing the file's.

    Returns:
        summary dict: ``view``, ``view_scores``, ``detections``, ``image``,
        ``landmarks`` (CSV rows), ``measurements`` (CSV rows), ``files``
        (kind -> path), ``seconds``, ``notes`` (``assumed``, then the
        detection's notes), ``assumed`` (what was assumed about the input,
        :attr:`Image.assumed`, each line printed on stderr when read).
    """
    from ..io import check_path_name, write_image

    started = time.perf_counter()
    out = check_path_name(out)  # SimpleITK cannot write under a name that is not UTF-8: refuse it before any work
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; --out must be a folder")
    names = output_names(name or input_stem(input_path))
    for file_name in names.values():
        check_path_name(file_name)
        refuse_overwrite(out / file_name, overwrite)

    # Bad input fails here, before the model is loaded.
    image = read_input(input_path, series_uid=series_uid, spacing_xy=spacing_xy)
    source = os.fspath(input_path)
    array = image.array
    volume_at, n_times = image_volumes(image)
    if predictors is None:
        predictors = load_predictors(view, weights, device=device, batch_size=batch_size, rotations=rotations)
    chosen, scores = choose_view(predictors, volume_at, n_times, source=source)
    heatmap = np.zeros(array.shape, np.float32)

    def on_heatmap(t, heat, _geometry):
        if image.kind == "2d+t":
            heatmap[t] = heat[0]
        else:
            heatmap[...] = heat

    bar = ProgressBar(image.n_frames, f"cardiac {input_stem(input_path)}", quiet)
    try:
        detections = detect_cardiac(volume_at, n_times, predictors[chosen], view=chosen, on_heatmap=on_heatmap,
                                    progress=bar, source=source)
    finally:
        bar.close()
    rows = landmark_rows(detections, image.kind)
    measurements = measurement_rows(detections, image.kind)

    with phase("write"), staged_outputs(out, names, overwrite=overwrite) as (staging, files):
        write_landmark_files(staging, names, rows, measurements, image.kind)
        write_image(staging / names["heatmap"], heatmap, image.geometry, kind=image.kind, overwrite=True)
        write_text(staging / names["notes"], notes_text(
            f"heatmap-landmarks cardiac {source}: view {chosen}, weights {', '.join(detections.weights)}",
            [*image.assumed, *detections.notes]))
        write_contact_sheet(staging / names["overlay"], array, heatmap, rows, image.kind)
    return {"view": chosen, "view_scores": scores, "detections": detections, "image": image, "landmarks": rows,
            "measurements": measurements, "files": files, "seconds": time.perf_counter() - started,
            "notes": [*image.assumed, *detections.notes], "assumed": list(image.assumed)}


def run_cardiac(args) -> int:
    """Handler of ``heatmap-landmarks cardiac``: one input into ``--out``, or many, each into its own subfolder."""
    inputs = expand_inputs(args.inputs)
    batch_size = 8 if args.batch_size is None else args.batch_size
    options = dict(view=args.view, overwrite=args.overwrite, rotations=args.rotations, series_uid=args.series_uid,
                   spacing_xy=args.spacing)
    if len(inputs) == 1 and args.shard is None:
        summary = detect_file(inputs[0], args.out, weights=args.weights, device=args.device, batch_size=batch_size,
                              quiet=args.quiet, name=args.name, **options)
        print_summary(summary)
        return 0
    if args.name is not None:
        raise InputError(None, "--name names the outputs of one input; with several, each gets its input's name")
    inputs = take_shard(inputs, args.shard)
    if not inputs:
        print(f"shard {args.shard[0]}/{args.shard[1]} holds no input")
        return 0
    predictors = load_predictors(args.view, args.weights, device=args.device, batch_size=batch_size,
                                 rotations=args.rotations)  # once, for every input

    def run_one(path, folder):
        summary = detect_file(path, folder, quiet=True, predictors=predictors, **options)
        return (f"{summary['image'].kind}, view {summary['view']}, {len(summary['landmarks'])} landmark(s)"
                + "".join(f"; note: {n}" for n in summary["assumed"]))

    return run_batch(inputs, args.out, run_one, stem_of=input_stem, which=args.shard, overwrite=args.overwrite,
                     quiet=args.quiet, command="cardiac")
