"""``heatmap-landmarks cardiac`` and ``heatmap-landmarks demo``: cardiac MR landmarks from the command line.

    heatmap-landmarks cardiac INPUT --view sax|lax|auto --out DIR [--weights FILE] [--device cpu|cuda]
                      [--series-uid UID] [--spacing SX SY] [--name NAME]
    heatmap-landmarks demo [--out DIR]

INPUT is a NIfTI/NRRD/MetaImage file, a DICOM file or folder, or a PNG/JPEG:
one 2D image, a 3D stack of short-axis slices, or a 2D+t cine. The pipeline is
:func:`heatmap_landmarks.cardiac.detect_cardiac`, the same as the Slicer
module's. DIR receives, with ``<name>`` the input's file name without extension::

    <name>_landmarks.csv     frame,label,x,y,r,a,s,confidence (one row per point found)
    <name>.mrk.json          the same points as a Slicer point list (LPS mm in the file, as Slicer writes it)
    <name>_heatmap.nrrd      heatmap (float32 0..1) in the input's geometry and layout
    <name>_measurements.csv  measurement,frame,value,unit (annulus diameter/excursion, LV length, RV angle)
    <name>_overlay.png       contact sheet: every frame (at most 36, evenly sampled) with the heatmap
                             (inferno) blended over the image and the points labelled

``frame`` is the index along the input's third axis (the slice of a stack,
the time point of a cine), ``x, y`` are 0-based pixel column and row, and
``r, a, s`` RAS millimetres as Slicer shows them; ``frame = -1`` in the
measurements means "over all frames" (e.g. an excursion over the cine).
``--series-uid`` picks one series of a DICOM folder holding several;
``--spacing SX SY`` (mm, column then row) replaces the file's pixel size. Each
value the reader had to assume (e.g. a PNG's 1 mm pixels) is printed on
stderr as ``note: ...`` and kept in the summary's notes.

All files are written to a hidden folder in DIR first and moved into place
together, so a failure leaves nothing partial; existing results are never
replaced without ``--overwrite``.
"""
from __future__ import annotations

import contextlib
import csv
import io as _stdio
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from .cardiac import VIEW_CHOICES, CardiacDetections, choose_view, detect_cardiac, load_predictors
from .errors import InputError, refuse_overwrite
from .inference import DEVICES
from .markups_json import format_confidence, write_markups_json

#: Contact sheets show at most this many frames (evenly sampled).
SHEET_MAX_TILES = 36
#: Longest side of one contact-sheet tile, pixels.
SHEET_TILE = 256
LANDMARK_COLUMNS = ("frame", "label", "x", "y", "r", "a", "s", "confidence")
MEASUREMENT_COLUMNS = ("measurement", "frame", "value", "unit")
_KNOWN_SUFFIXES = (".nii.gz", ".seq.nrrd", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd", ".dcm", ".dicom", ".ima",
                   ".png", ".jpg", ".jpeg")


def add_parser(subparsers) -> None:
    """Register ``cardiac`` and ``demo`` (called by :func:`heatmap_landmarks.cli.build_parser`)."""
    from .cli import add_common_arguments, plain_name, positive_int

    parser = subparsers.add_parser(
        "cardiac", help="cardiac MR landmarks (RV insertions, LV axis, mitral hinges) on a 2D/3D/2D+t image",
        description="Detect cardiac landmarks: RVI-1, RVI-2 and the LV centre (BCA on the basal slice, ACA on "
                    "the apical slice of a stack) on short-axis images, MV-1 and MV-2 on long-axis images. "
                    "Writes a CSV, a Slicer .mrk.json, the heatmap (.nrrd), measurements and a PNG contact sheet.",
        epilog="The shipped short-axis weights were trained on ACDC patients (research use only) plus synthetic "
               "images, the long-axis weights on synthetic phantoms only: not for clinical use.")
    parser.add_argument("input", metavar="INPUT", help="NIfTI/NRRD/MHA file, DICOM file or folder, or PNG/JPEG")
    parser.add_argument("--view", choices=VIEW_CHOICES, default="auto",
                        help="sax (short axis), lax (long axis) or auto (the more confident model; default)")
    parser.add_argument("--name", type=plain_name, default=None,
                        help="output file name stem, no folders (default: the input's name)")
    add_input_arguments(parser)
    parser.add_argument("--rotations", type=int, choices=(1, 2, 4), default=None,
                        help="test-time quarter turns averaged per frame (default: the model card's, 4 for the "
                             "shipped models); 1 is about 2.5x faster and less accurate")
    add_common_arguments(parser)
    parser.set_defaults(handler=run_cardiac)

    demo = subparsers.add_parser(
        "demo", help="generate phantom cines, detect their landmarks and compare with the truth",
        description="Generate a synthetic short-axis cine (several slices) and a long-axis cine, write them as "
                    "NIfTI files, run the cardiac detection on a SAX stack, a SAX cine and the LAX cine with the "
                    "shipped demo weights, and print the errors against the phantom's exact landmarks.")
    demo.add_argument("--out", default="heatmap_landmarks_demo",
                      help="output folder (created if missing); default heatmap_landmarks_demo")
    demo.add_argument("--frames", type=int, default=30, help="time points per cine (default 30)")
    demo.add_argument("--slices", type=int, default=6, help="short-axis slices (default 6)")
    demo.add_argument("--seed", type=int, default=2024, help="phantom seed (default 2024)")
    demo.add_argument("--randomisation", choices=("none", "train", "wide"), default="none",
                      help="phantom variability: none (canonical pose and contrast; default), train, wide")
    demo.add_argument("--weights-sax", default=None, help="short-axis model card (default: shipped)")
    demo.add_argument("--weights-lax", default=None, help="long-axis model card (default: shipped)")
    demo.add_argument("--device", default="cpu", choices=DEVICES, help="where to run the model")
    demo.add_argument("--batch-size", type=positive_int, default=8, help="frames per forward pass (default 8)")
    demo.add_argument("--overwrite", action="store_true", help="replace existing output files")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(handler=run_demo)


def add_input_arguments(parser, *, what: str = "INPUT") -> None:
    """``--series-uid`` and ``--spacing``: how to read an image file (shared with ``from-segmentation``)."""
    from .cli import positive_mm

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
    from .io import read_image

    image = read_image(path, rgb="grey", series_uid=series_uid, spacing_xy=spacing_xy)
    for note in image.assumed:
        print(f"note: {note}", file=stream or sys.stderr)
    return image


# ---------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------
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


def output_names(stem: str) -> dict:
    """Output file names by kind.

    >>> sorted(output_names("cine").values())
    ['cine.mrk.json', 'cine_heatmap.nrrd', 'cine_landmarks.csv', 'cine_measurements.csv', 'cine_overlay.png']
    """
    return {"csv": f"{stem}_landmarks.csv", "markups": f"{stem}.mrk.json", "heatmap": f"{stem}_heatmap.nrrd",
            "measurements": f"{stem}_measurements.csv", "overlay": f"{stem}_overlay.png"}


def _csv_text(columns, rows) -> str:
    buffer = _stdio.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_fmt(row[c]) for c in columns])
    return buffer.getvalue()


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def landmark_rows(detections: CardiacDetections, kind: str) -> list[dict]:
    """CSV rows (``LANDMARK_COLUMNS``) of the found landmarks; ``frame`` = index along the input's third axis."""
    out = []
    for r in detections.rows():
        frame = r["time"] if kind == "2d+t" else r["slice"]
        out.append({"frame": frame, "label": r["label"], "x": r["x"], "y": r["y"], "r": r["r"], "a": r["a"],
                    "s": r["s"], "confidence": r["confidence"]})
    return out


def measurement_rows(detections: CardiacDetections, kind: str) -> list[dict]:
    """CSV rows (``MEASUREMENT_COLUMNS``); ``frame`` as in :func:`landmark_rows`, -1 = over all frames."""
    return [{"measurement": m["measurement"], "frame": m["time"] if kind == "2d+t" else m["slice"],
             "value": m["value"], "unit": m["unit"]} for m in detections.measurements()]


def _greyscale_rgb(frame: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = np.clip((frame.astype(np.float32) - low) / max(high - low, 1e-6), 0.0, 1.0)
    return np.repeat(scaled[..., None], 3, axis=2)


def contact_sheet(frames: np.ndarray, heatmaps: np.ndarray, rows: list[dict], *, opacity: float = 0.6,
                  max_tiles: int = SHEET_MAX_TILES, tile: int = SHEET_TILE) -> np.ndarray:
    """One RGB image showing the frames with heatmaps and labelled points.

    Args:
        frames: ``(F, H, W)`` grey; heatmaps: ``(F, H, W)`` in [0, 1].
        rows: :func:`landmark_rows` (``frame`` indexes ``frames``).
    Returns:
        ``(rows * tile, cols * tile, 3)`` uint8 RGB (frames evenly sampled when more than ``max_tiles``).
    """
    import cv2

    from .cli_sutures import render_overlay  # one home for heatmap-over-image drawing

    n = frames.shape[0]
    picks = np.unique(np.linspace(0, n - 1, min(n, max_tiles)).round().astype(int))
    low, high = (float(v) for v in np.percentile(frames, (1.0, 99.0)))
    h, w = frames.shape[1:]
    scale = tile / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    cols = int(math.ceil(math.sqrt(len(picks))))
    grid_rows = int(math.ceil(len(picks) / cols))
    sheet = np.zeros((grid_rows * tile, cols * tile, 3), np.uint8)
    for i, f in enumerate(picks):
        rgb = cv2.resize(_greyscale_rgb(frames[f], low, high), size, interpolation=cv2.INTER_AREA)
        heat = cv2.resize(heatmaps[f].astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        mine = [r for r in rows if r["frame"] == f]
        # Pixel centres: x_tile = (x + 0.5) * scale - 0.5.
        points = [((r["x"] + 0.5) * scale - 0.5, (r["y"] + 0.5) * scale - 0.5) for r in mine]
        image = render_overlay(rgb, heat, points, [r["label"] for r in mine], opacity=opacity)
        cv2.putText(image, f"frame {f}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        y0, x0 = (i // cols) * tile, (i % cols) * tile
        sheet[y0:y0 + size[1], x0:x0 + size[0]] = image
    return sheet


def _save_markups(path: Path, rows: list[dict], kind: str) -> None:
    """Write the points (RAS mm) as a Slicer ``.mrk.json`` point list (standard library, no slicer-core)."""
    where = "frame" if kind == "2d+t" else "slice"
    points = np.array([[r["r"], r["a"], r["s"]] for r in rows], dtype=np.float64).reshape(-1, 3)
    descriptions = [f"{where} {r['frame']}; {format_confidence(r['confidence'])}" for r in rows]
    write_markups_json(path, points, [r["label"] for r in rows], descriptions, overwrite=True)


def _write_text(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def write_landmark_files(folder: Path, names: dict, rows: list[dict], measurements: list[dict], kind: str) -> None:
    """Write the landmark CSV, the measurements CSV and the Slicer point list into ``folder``.

    Args:
        names: :func:`output_names` (``csv``, ``measurements``, ``markups`` are used).
        rows: :func:`landmark_rows`; measurements: :func:`measurement_rows`.
        kind: the input's kind (``"2d+t"`` describes points by frame, otherwise by slice).
    """
    folder = Path(folder)
    _write_text(folder / names["csv"], _csv_text(LANDMARK_COLUMNS, rows))
    _write_text(folder / names["measurements"], _csv_text(MEASUREMENT_COLUMNS, measurements))
    _save_markups(folder / names["markups"], rows, kind)


def write_contact_sheet(path: Path, frames: np.ndarray, heatmaps: np.ndarray, rows: list[dict]) -> None:
    """Save :func:`contact_sheet` of ``frames (F, H, W)`` and ``heatmaps (F, H, W)`` in [0, 1] as a PNG."""
    import cv2

    sheet = contact_sheet(frames, heatmaps, rows)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(path, "could not encode the contact sheet")
    Path(path).write_bytes(png.tobytes())


@contextlib.contextmanager
def staged_outputs(out: Path, names: dict, *, overwrite: bool = False) -> Iterator[tuple[Path, dict]]:
    """All-or-nothing publishing of a run's files into the folder ``out``.

    Yields ``(staging, files)``: write the files named in ``names`` (kind -> file
    name) into the hidden folder ``staging`` inside ``out``. When the block ends
    without an exception, every one of them that exists there is moved into
    ``out`` and recorded in ``files`` (kind -> final path); the staging folder is
    removed in every case, so a failure leaves nothing partial. Existing files
    are only replaced with ``overwrite``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cardiac-partial-", dir=out))
    files: dict = {}
    try:
        yield staging, files
        for kind, file_name in names.items():
            if (staging / file_name).exists():
                refuse_overwrite(out / file_name, overwrite)  # someone may have written it meanwhile
                os.replace(staging / file_name, out / file_name)
                files[kind] = out / file_name
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def image_volumes(image):
    """``(volume_at, n_times)`` of an :class:`~heatmap_landmarks.io.Image` for :func:`detect_cardiac`.

    A ``"2d+t"`` cine is ``F`` time points of one slice (``volume_at(t)`` gives
    ``(1, H, W)``); a 2D image or a 3D stack is one time point of ``F`` slices.
    """
    array = image.array
    if image.kind == "2d+t":
        def volume_at(t):
            return array[t:t + 1], image.geometry

        return volume_at, image.n_frames

    def volume_at(_t):
        return array, image.geometry

    return volume_at, 1


# ---------------------------------------------------------------------------
# the cardiac command
# ---------------------------------------------------------------------------
class _Bar:
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
    from .io import write_image

    started = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; --out must be a folder")
    names = output_names(name or input_stem(input_path))
    for file_name in names.values():
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

    bar = _Bar(image.n_frames, f"cardiac {input_stem(input_path)}", quiet)
    try:
        detections = detect_cardiac(volume_at, n_times, predictors[chosen], view=chosen, on_heatmap=on_heatmap,
                                    progress=bar, source=source)
    finally:
        bar.close()
    rows = landmark_rows(detections, image.kind)
    measurements = measurement_rows(detections, image.kind)

    with staged_outputs(out, names, overwrite=overwrite) as (staging, files):
        write_landmark_files(staging, names, rows, measurements, image.kind)
        write_image(staging / names["heatmap"], heatmap, image.geometry, kind=image.kind, overwrite=True)
        write_contact_sheet(staging / names["overlay"], array, heatmap, rows)
    return {"view": chosen, "view_scores": scores, "detections": detections, "image": image, "landmarks": rows,
            "measurements": measurements, "files": files, "seconds": time.perf_counter() - started,
            "notes": [*image.assumed, *detections.notes], "assumed": list(image.assumed)}


def _print_summary(summary: dict, stream=None) -> None:
    stream = stream or sys.stdout
    image = summary["image"]
    scores = summary["view_scores"]
    how = f" (auto: {', '.join(f'{v} {s:.2f}' for v, s in sorted(scores.items()))})" if scores else ""
    print(f"{image.source}: {image.kind} {image.n_frames} frame(s) {image.shape_hw[1]}x{image.shape_hw[0]} px, "
          f"view {summary['view']}{how}: {len(summary['landmarks'])} landmark(s) in {summary['seconds']:.1f} s",
          file=stream)
    for m in summary["measurements"]:
        if m["frame"] == -1 or image.n_frames == 1 or (image.kind != "2d+t" and m["measurement"] != "RV insertion angle"):
            print(f"  {m['measurement']}: {m['value']:.1f} {m['unit']}", file=stream)
    for note in summary["notes"]:
        if note not in summary.get("assumed", ()):  # those were printed on stderr when the input was read
            print(f"  note: {note}", file=stream)
    for path in summary["files"].values():
        print(f"  wrote {path}", file=stream)


def run_cardiac(args) -> int:
    """Handler of ``heatmap-landmarks cardiac``."""
    summary = detect_file(args.input, args.out, view=args.view, weights=args.weights, device=args.device,
                          batch_size=8 if args.batch_size is None else args.batch_size, overwrite=args.overwrite,
                          quiet=args.quiet, name=args.name, rotations=args.rotations, series_uid=args.series_uid,
                          spacing_xy=args.spacing)
    _print_summary(summary)
    return 0


# ---------------------------------------------------------------------------
# the demo
# ---------------------------------------------------------------------------
def _demo_inputs(folder: Path, args) -> list:
    """Write the phantom inputs; returns ``[(name, path, truth)]`` with ``truth(label, frame) -> (x, y) px or None``."""
    from .io import write_image
    from .phantoms import make_cardiac_cine

    sax = make_cardiac_cine(args.seed, view="sax", n_frames=args.frames, n_slices=args.slices,
                            randomisation=args.randomisation)
    lax = make_cardiac_cine(args.seed + 1, view="lax", n_frames=args.frames, lax_view="4ch",
                            randomisation=args.randomisation)
    z_cine = max(1, args.slices // 3)  # a basal-to-mid slice: the RV is there
    folder.mkdir(parents=True, exist_ok=True)
    inputs = []

    def truth_of(cine, t_fixed=None, z_fixed=None):
        def truth(label, frame):
            t = frame if t_fixed is None else t_fixed
            z = frame if z_fixed is None else z_fixed
            if label not in cine.landmarks:
                return None
            xy = cine.landmarks[label][t, z]
            return None if not np.isfinite(xy).all() else xy
        return truth

    specs = (
        ("sax_stack", sax.frames[0], sax.geometry, "3d", truth_of(sax, t_fixed=0)),
        ("sax_cine", sax.frames[:, z_cine], sax.geometry.frame(z_cine), "2d+t", truth_of(sax, z_fixed=z_cine)),
        ("lax_cine", lax.frames[:, 0], lax.geometry, "2d+t", truth_of(lax, z_fixed=0)),
    )
    for name, frames, geometry, kind, truth in specs:
        path = folder / f"{name}.nii.gz"
        write_image(path, frames.astype(np.float32), geometry, kind=kind, overwrite=args.overwrite)
        inputs.append((name, path, truth))
    return inputs


def demo_errors(summary: dict, truth) -> tuple[dict, dict]:
    """Per-label errors (px, mm) of the detections against the phantom truth; NaN = expected but not found."""
    image = summary["image"]
    by_key = {(r["label"], r["frame"]): r for r in summary["landmarks"]}
    labels = sorted({r["label"] for r in summary["landmarks"]}
                    | ({"MV-1", "MV-2"} if summary["view"] == "lax" else {"RVI-1", "RVI-2"}))
    err_px: dict = {}
    err_mm: dict = {}
    for label in labels:
        for frame in range(image.n_frames):
            xy = truth(label, frame)
            if xy is None:
                continue
            if label == "LVC" and any(truth(end, frame) is not None for end in ("BCA", "ACA")):
                continue  # the LV centre of an end slice is named BCA/ACA there, and scored under that name
            row = by_key.get((label, frame))
            true_ras = image.points_to_ras([xy], frame=frame)[0]
            if row is None:
                px = mm = float("nan")
            else:
                px = float(np.hypot(row["x"] - xy[0], row["y"] - xy[1]))
                mm = float(np.linalg.norm(np.array([row["r"], row["a"], row["s"]]) - true_ras))
            err_px.setdefault(label, []).append(px)
            err_mm.setdefault(label, []).append(mm)
    return err_px, err_mm


def run_demo(args) -> int:
    """Handler of ``heatmap-landmarks demo``."""
    from .metrics import format_markdown_table, summarise_landmark_errors

    if args.frames < 1 or args.slices < 2:  # before the models (and torch) are loaded
        raise InputError(None, f"--frames must be >= 1 and --slices >= 2, got {args.frames}, {args.slices}")
    out = Path(args.out)
    started = time.perf_counter()
    weights = {}
    if args.weights_sax:
        weights["sax"] = args.weights_sax
    if args.weights_lax:
        weights["lax"] = args.weights_lax
    from .catalog import default_weights_key

    for view in ("sax", "lax"):
        weights.setdefault(view, default_weights_key("cardiac", view))
    predictors = load_predictors("auto", weights, device=args.device, batch_size=args.batch_size or 8)
    for name in ("sax_stack", "sax_cine", "lax_cine"):  # refuse before generating anything
        for file_name in output_names(name).values():
            refuse_overwrite(out / file_name, args.overwrite)
        refuse_overwrite(out / "inputs" / f"{name}.nii.gz", args.overwrite)
    inputs = _demo_inputs(out / "inputs", args)
    generated = time.perf_counter() - started
    print(f"Phantoms (synthetic, seed {args.seed}, randomisation {args.randomisation}) written to {out / 'inputs'} "
          f"in {generated:.1f} s. The short-axis weights were trained on ACDC patients (research use only), the long-axis weights "
          f"on synthetic phantoms only.")
    for name, path, truth in inputs:
        view = "lax" if name.startswith("lax") else "sax"
        summary = detect_file(path, out, view=view, overwrite=args.overwrite, quiet=args.quiet, name=name,
                              predictors={view: predictors[view]})
        err_px, err_mm = demo_errors(summary, truth)
        frames = summary["image"].n_frames
        print(f"\n## {name}: {summary['image'].kind}, {frames} frame(s), view {summary['view']}, "
              f"{summary['seconds']:.1f} s ({1000 * summary['detections'].seconds / frames:.0f} ms/frame detection)")
        if err_px:
            print(format_markdown_table(summarise_landmark_errors(err_px, err_mm)))
        for m in summary["measurements"]:
            if m["frame"] == -1 or (summary["image"].kind == "3d" and m["measurement"] != "RV insertion angle"):
                print(f"- {m['measurement']}: {m['value']:.1f} {m['unit']}")
        print(f"- outputs: {', '.join(p.name for p in summary['files'].values())}")
    print(f"\nDone in {time.perf_counter() - started:.1f} s; results in {out}")
    return 0
