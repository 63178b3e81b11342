"""``heatmap-landmarks from-segmentation``: cardiac landmarks from a label map (no model, no torch).

    heatmap-landmarks from-segmentation LABELMAP [--image IMAGE] [--labels RV,MYO,LV] [--view sax|lax]
                                       --out DIR [--overwrite] [--name NAME]

LABELMAP is a NIfTI/NRRD/MetaImage (or DICOM) label map: a 2D slice, a 3D
short-axis stack or a 2D+t cine of integer labels. Every slice (stack) or frame
(cine) goes through :func:`heatmap_landmarks.cardiac.segmentation.detections_from_labels`:
``--view sax`` gives RVI-1, RVI-2 and the LV centre (LVC, or BCA/ACA on the end
slices of a stack, named as ``cardiac`` names them), ``--view lax`` the mitral
hinges MV-1 (septal) and MV-2 of a 4-chamber view. ``--labels`` gives the RV,
myocardium and LV cavity values in that order, for both views; the default
``1,2,3`` is ACDC's, M&Ms-2 files need ``--labels 3,2,1``.

DIR receives the files ``cardiac`` writes, in the same formats, except the
heatmap (there is none)::

    <name>_landmarks.csv     time,slice,label,x,y,r,a,s,confidence (confidence empty: not a model output)
    <name>.mrk.json          the same points as a Slicer point list (LPS mm in the file, as Slicer writes it)
    <name>_measurements.csv  measurement,time,slice,value,unit (RV insertion angle, LV length, annulus diameter...)
    <name>_notes.txt         how the points were named (anterior rule) and where, and why, points are absent
    <name>_overlay.png       only with --image: contact sheet of the image with the labels tinted and the points

RVI-1 is the anterior insertion, named as ``cardiac`` names it. With a real
patient orientation in the label map's header it comes from the header (on a
stack: the turn of the insertions around the LV centre seen from base to apex,
which a header with turned axes cannot swap; on one slice: the larger A); with
an identity direction (ACDC's files carry none) anterior is taken as up in the
image, and the output says so. A header that puts the RV posterior to the LV is
flagged. Everything is written to a hidden folder first and moved into place
together.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..cardiac.pipeline import image_volumes
from ..fileutil import staged_outputs
from ._common import add_input_arguments, input_stem, print_summary, read_input, write_text
from .cardiac import landmark_rows, measurement_rows, output_names, write_contact_sheet, write_landmark_files
from ..errors import InputError, refuse_overwrite
from ..cardiac.segmentation import ACDC_LABELS, LabelValues, detections_from_labels

#: How strongly each structure tints the overlay (inferno heat value, 0..1).
TINT = {"rv": 0.45, "myo": 0.7, "lv": 1.0}
#: Largest distance, mm, between where the image and the label map put the same corner voxel, on "the same grid".
GRID_TOLERANCE_MM = 1e-2


def add_parser(subparsers) -> None:
    """Register ``from-segmentation`` (called by :func:`heatmap_landmarks.cli.build_parser`)."""
    from ._common import plain_name

    parser = subparsers.add_parser(
        "from-segmentation", help="cardiac landmarks from a label map (RV insertions, LV centre, mitral hinges)",
        description="Derive RVI-1, RVI-2 and the LV centre (short axis) or MV-1 and MV-2 (4-chamber long axis) "
                    "from a label map, slice by slice or frame by frame, and write them in the formats of the "
                    "cardiac command (CSV, Slicer .mrk.json, measurements). No model is run.",
        epilog="RVI-1 is the anterior insertion, named as the cardiac command names it: from the label map's "
               "orientation when its header has one, else anterior is taken as up in the image (stated in the "
               "output). --labels applies to both views: ACDC is 1,2,3 (the default), M&Ms-2 is 3,2,1.")
    parser.add_argument("labelmap", metavar="LABELMAP", help="label map: NIfTI/NRRD/MHA file or DICOM")
    parser.add_argument("--image", default=None,
                        help="the image the labels belong to (same grid); adds an overlay PNG")
    parser.add_argument("--labels", default="1,2,3", metavar="RV,MYO,LV",
                        help="label values of the RV cavity, LV myocardium and LV cavity (default 1,2,3 = ACDC; "
                             "M&Ms-2: 3,2,1)")
    parser.add_argument("--view", choices=("sax", "lax"), default="sax",
                        help="sax: RV insertions and LV centre (default); lax: mitral hinges of a 4-chamber view")
    add_input_arguments(parser, what="LABELMAP")
    parser.add_argument("--image-series-uid", default=None, metavar="UID",
                        help="SeriesInstanceUID to read when --image is a DICOM folder holding several series "
                             "(--spacing applies to the image too)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--name", type=plain_name, default=None,
                        help="output file name stem, no folders (default: the label map's name)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.set_defaults(handler=run_from_segmentation)


def segmentation_output_names(stem: str, *, overlay: bool) -> dict:
    """Output file names by kind: :func:`~heatmap_landmarks.cli.cardiac.output_names` without the heatmap, plus notes.

    >>> sorted(segmentation_output_names("seg", overlay=False).values())
    ['seg.mrk.json', 'seg_landmarks.csv', 'seg_measurements.csv', 'seg_notes.txt']
    """
    return {k: v for k, v in output_names(stem).items() if k != "heatmap" and (overlay or k != "overlay")}


def label_tint(volume: np.ndarray, labels: LabelValues) -> np.ndarray:
    """``(F, H, W)`` float32 in [0, 1] "heatmap" showing the structures (:data:`TINT`) for the contact sheet."""
    heat = np.zeros(volume.shape, np.float32)
    for key, value in (("rv", labels.rv), ("myo", labels.myo), ("lv", labels.lv)):
        heat[volume == value] = TINT[key]
    return heat


def _same_grid(label_image, image) -> None:
    if image.kind != label_image.kind or image.array.shape != label_image.array.shape:
        raise InputError(image.source, f"is on another grid than the label map {label_image.source}: "
                                       f"{image.kind} {image.array.shape} vs {label_image.kind} "
                                       f"{label_image.array.shape} (frames, rows, columns)")
    f, h, w = label_image.array.shape[:3]
    corners = np.array([[i, j, k] for i in (0, w - 1) for j in (0, h - 1) for k in (0, f - 1)], np.float64)
    diff = float(np.linalg.norm(image.pixel_to_ras(corners) - label_image.pixel_to_ras(corners), axis=1).max())
    if diff > GRID_TOLERANCE_MM:
        raise InputError(image.source, f"is on another grid than the label map {label_image.source}: the same "
                                       f"voxel lies up to {diff:.3g} mm apart in the two (spacing, origin or "
                                       f"direction differ)")


def points_from_label_file(labelmap, out, *, image=None, labels: LabelValues = ACDC_LABELS, view: str = "sax",
                           overwrite: bool = False, name: str | None = None, series_uid: str | None = None,
                           image_series_uid: str | None = None, spacing_xy=None) -> dict:
    """Derive landmarks from one label-map file and write the outputs to ``out`` (all or nothing).

    Args:
        series_uid, image_series_uid: the DICOM series to read when the label map
            or the image is a folder holding several.
        spacing_xy: ``(column, row)`` pixel size in mm replacing the files' (both).

    Returns:
        summary dict as :func:`~heatmap_landmarks.cli.cardiac.detect_file` returns it (``view``,
        ``view_scores`` (empty), ``detections``, ``image`` (the label map), ``landmarks``,
        ``measurements``, ``files``, ``seconds``, ``notes``, ``assumed``); the notes are also in
        ``<name>_notes.txt``.
    """
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; --out must be a folder")
    names = segmentation_output_names(name or input_stem(labelmap), overlay=image is not None)
    for file_name in names.values():
        refuse_overwrite(out / file_name, overwrite)

    label_image = read_input(labelmap, series_uid=series_uid, spacing_xy=spacing_xy)
    assumed = list(label_image.assumed)
    picture = None
    if image is not None:
        picture = read_input(image, series_uid=image_series_uid, spacing_xy=spacing_xy)
        assumed += [n for n in picture.assumed if n not in assumed]
        _same_grid(label_image, picture)
    volume_at, n_times = image_volumes(label_image)
    detections = detections_from_labels(volume_at, n_times, view=view, labels=labels,
                                         source=os.fspath(labelmap))
    rows = landmark_rows(detections, label_image.kind)
    measurements = measurement_rows(detections, label_image.kind)
    notes_text = "".join(f"{line}\n" for line in (
        f"# heatmap-landmarks from-segmentation {os.fspath(labelmap)}",
        f"# view {view}; label values RV={labels.rv}, myocardium={labels.myo}, LV cavity={labels.lv}",
        "# points are pixels of the label map; confidence is empty because no model was run",
        *(f"note: {n}" for n in (*assumed, *detections.notes))))

    with staged_outputs(out, names, overwrite=overwrite) as (staging, files):
        write_landmark_files(staging, names, rows, measurements, label_image.kind)
        write_text(staging / names["notes"], notes_text)
        if picture is not None:
            write_contact_sheet(staging / names["overlay"], picture.array,
                                label_tint(label_image.array, labels), rows, label_image.kind)
    return {"view": view, "view_scores": {}, "detections": detections, "image": label_image, "landmarks": rows,
            "measurements": measurements, "files": files, "seconds": time.perf_counter() - started,
            "notes": [*assumed, *detections.notes], "assumed": assumed}


def run_from_segmentation(args) -> int:
    """Handler of ``heatmap-landmarks from-segmentation``."""
    try:
        labels = LabelValues.parse(args.labels)
    except ValueError as err:
        raise InputError("--labels", str(err)) from None
    summary = points_from_label_file(args.labelmap, args.out, image=args.image, labels=labels, view=args.view,
                                     overwrite=args.overwrite, name=args.name, series_uid=args.series_uid,
                                     image_series_uid=args.image_series_uid, spacing_xy=args.spacing)
    print_summary(summary)
    return 0
