"""AdaptOR 2021 suture entry points: dataset layout, frames, labelme stereo files.

The point-label and submission JSON formats have one home,
:mod:`heatmap_landmarks.adaptor_json` (used by the CLI and the Slicer module
too); :func:`read_point_labels`, :class:`SubmissionEntry`,
:func:`write_submission_json` and :func:`read_submission_json` are re-exported
from there so training code can keep importing them from here.

Layout::

    root/<op>/<video>/images/000000.png
    root/<op>/<video>/point_labels/000000.json   {"points": [{"x": .., "y": ..}, ...],
                                                   "imageHeight": 288, "imageWidth": 512}

``<op>`` is one surgery or simulation session: the unit of the cross-validation
folds (:func:`training.datasets.splits.adaptor_folds`). Format assumptions (see
the README):

* Label coordinates are pixels with x = column, y = row; they are used as
  0-based pixel-centre coordinates after subtracting :data:`LABEL_COORDINATE_OFFSET`
  (0.0; the same offset is added back by :func:`write_submission_json`).
* A point is inside the image when ``-0.5 <= x <= W`` and ``-0.5 <= y <= H``, a
  range that accepts both pixel-centre and labelme's pixel-corner convention.
* ``imageHeight``/``imageWidth`` are optional; when present they must match the PNG.
* Opaque RGBA frames lose their alpha channel (transparent ones are refused by
  ``heatmap_landmarks.io``); grayscale frames are refused.
* labelme stereo files: left view on top, right view below (image height 2*H);
  a point with ``y >= H`` belongs to the right view and is shifted up by H.
  Only ``shape_type == "point"`` shapes are landmarks; other shapes are counted
  in the report and ignored.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import SimpleITK as sitk

from heatmap_landmarks.adaptor_json import (
    LABEL_COORDINATE_OFFSET,
    SubmissionEntry,
    json_number,
    json_positive_int,
    read_json,
    read_point_labels,
    read_submission_json,
    write_submission_json,
)
from heatmap_landmarks.errors import InputError, PathLike
from heatmap_landmarks.io import read_colour_frame

from .report import DatasetReport

__all__ = [
    "IMAGE_DIR",
    "IMAGE_EXTENSIONS",
    "LABEL_COORDINATE_OFFSET",
    "LABEL_DIR",
    "AdaptorFrame",
    "SubmissionEntry",
    "SutureSample",
    "iter_adaptor_dataset",
    "list_adaptor_frames",
    "load_adaptor_frame",
    "read_labelme_stereo",
    "read_png_rgb",
    "read_point_labels",
    "read_submission_json",
    "write_submission_json",
]

IMAGE_DIR = "images"
LABEL_DIR = "point_labels"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


@dataclass(eq=False)
class SutureSample:
    """One endoscopic frame with its suture points.

    Attributes:
        image: ``(H, W, 3)`` float32 RGB in [0, 1].
        points: ``(N, 2)`` float32 ``(x=column, y=row)`` pixels, N >= 0, file order.
        op: surgery/simulation id (the ``<op>`` folder): the group for splits.
        video: the ``<video>`` folder.
        frame_name: image file name, e.g. ``"000000.png"``.
        source: image path; ``label_source``: label JSON path.
        view: None for mono frames, "left"/"right" for halves of a stereo frame.
    """

    image: np.ndarray
    points: np.ndarray
    op: str
    video: str
    frame_name: str
    source: str
    label_source: str
    view: str | None = None


@dataclass(frozen=True)
class AdaptorFrame:
    """An image/label file pair found by :func:`list_adaptor_frames` (nothing read yet)."""

    op: str
    video: str
    frame_name: str
    image_path: str
    label_path: str


def _check_inside(points: np.ndarray, height: int, width: int, path: str, image_path: str) -> None:
    inside = (points[:, 0] >= -0.5) & (points[:, 0] <= width) & (points[:, 1] >= -0.5) & (points[:, 1] <= height)
    if not inside.all():
        n = int(np.flatnonzero(~inside)[0])
        x, y = points[n] + LABEL_COORDINATE_OFFSET
        raise InputError(
            path,
            f"point {n} ({x:g}, {y:g}) lies outside the image {os.path.basename(image_path)} ({width}x{height} pixels)",
        )


def load_adaptor_frame(frame: AdaptorFrame) -> SutureSample:
    """Read one frame and its labels; checks image size against the label and points against the image."""
    points, size = read_point_labels(frame.label_path)
    image = read_png_rgb(frame.image_path)
    height, width = image.shape[:2]
    if size is not None and size != (height, width):
        raise InputError(
            frame.label_path,
            f"imageHeight x imageWidth {size[0]}x{size[1]} disagrees with {frame.image_path} ({height}x{width})",
        )
    _check_inside(points, height, width, frame.label_path, frame.image_path)
    return SutureSample(image, points, frame.op, frame.video, frame.frame_name, frame.image_path, frame.label_path)


def read_png_rgb(path: PathLike) -> np.ndarray:
    """``(H, W, 3)`` float32 RGB in [0, 1]: :func:`heatmap_landmarks.io.read_colour_frame` (grey files refused)."""
    return read_colour_frame(path)


def _shown(value) -> str:
    """Short ``repr`` of a JSON value for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _subdirs(folder: str) -> list[str]:
    return sorted(d for d in os.listdir(folder) if not d.startswith(".") and os.path.isdir(os.path.join(folder, d)))


def list_adaptor_frames(root: PathLike, *, report: DatasetReport | None = None) -> list[AdaptorFrame]:
    """Find every image/label pair under ``root/<op>/<video>/`` (sorted by op, video, frame).

    Images without a label and labels without an image are recorded in ``report``.
    Raises :class:`InputError` when no ``<op>/<video>/images`` folder exists.
    """
    root = os.fspath(root)
    report = report if report is not None else DatasetReport("AdaptOR")
    if not os.path.isdir(root):
        raise InputError(root, "is not a folder; expected the AdaptOR root holding <op>/<video>/images/")
    if os.path.isdir(os.path.join(root, IMAGE_DIR)):
        raise InputError(
            root, f"is a single video folder (holds {IMAGE_DIR}/); pass the folder that contains the <op> folders"
        )
    frames = []
    found_video = False
    for op in _subdirs(root):
        for video in _subdirs(os.path.join(root, op)):
            image_dir = os.path.join(root, op, video, IMAGE_DIR)
            label_dir = os.path.join(root, op, video, LABEL_DIR)
            if not os.path.isdir(image_dir):
                where = os.path.join(root, op, video)
                report.skip(where, "folder without images/", f"{where}: has no {IMAGE_DIR}/ folder")
                continue
            found_video = True
            names = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
            images = {os.path.splitext(f)[0]: f for f in names}
            labels = set()
            if os.path.isdir(label_dir):
                labels = {os.path.splitext(f)[0] for f in os.listdir(label_dir) if f.lower().endswith(".json")}
            for stem in sorted(labels - set(images)):
                path = os.path.join(label_dir, stem + ".json")
                report.skip(path, "label without image", f"{path}: no matching image in {image_dir}")
            for stem, name in sorted(images.items()):
                image_path = os.path.join(image_dir, name)
                if stem not in labels:
                    report.skip(image_path, "image without label", f"{image_path}: no {LABEL_DIR}/{stem}.json")
                    continue
                frames.append(AdaptorFrame(op, video, name, image_path, os.path.join(label_dir, stem + ".json")))
    if not found_video:
        raise InputError(
            root, f"no <op>/<video>/{IMAGE_DIR}/ folders found; expected root/<op>/<video>/{IMAGE_DIR}/NNNNNN.png"
        )
    return frames


def iter_adaptor_dataset(
    root: PathLike, *, report: DatasetReport | None = None, strict: bool = False
) -> Iterator[SutureSample]:
    """Yield every labelled frame under ``root``; bad frames are skipped and recorded in
    ``report`` (``strict=True`` raises instead)."""
    report = report if report is not None else DatasetReport("AdaptOR")
    for frame in list_adaptor_frames(root, report=report):
        try:
            sample = load_adaptor_frame(frame)
        except InputError as err:
            if strict:
                raise
            report.skip(frame.image_path, "invalid frame", str(err))
            continue
        report.add_loaded("frame")
        report.add_loaded("point", len(sample.points))
        yield sample


def read_labelme_stereo(
    json_path: PathLike,
    image_path: PathLike | None = None,
    *,
    op: str = "",
    video: str = "",
    report: DatasetReport | None = None,
) -> tuple[SutureSample, SutureSample]:
    """Split an original labelme stereo annotation into ``(left, right)`` samples.

    ``image_path`` defaults to the JSON's ``imagePath`` (relative to the JSON file),
    else the JSON's name with ``.png``. The stacked image must have even height 2*H;
    right-view points are shifted by -H.
    """
    json_path = os.fspath(json_path)
    report = report if report is not None else DatasetReport("AdaptOR labelme")
    data = read_json(json_path)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise InputError(json_path, 'has no "shapes" list; expected a labelme annotation file')
    if image_path is None:
        if isinstance(data.get("imagePath"), str) and data["imagePath"]:
            image_path = os.path.join(os.path.dirname(json_path), data["imagePath"].replace("\\", "/"))
        else:
            image_path = os.path.splitext(json_path)[0] + ".png"
    image_path = os.fspath(image_path)
    stacked = read_png_rgb(image_path)
    total_h, width = stacked.shape[:2]
    if "imageHeight" in data and "imageWidth" in data:
        size = (json_positive_int(data["imageHeight"], json_path, "imageHeight"),
                json_positive_int(data["imageWidth"], json_path, "imageWidth"))
        if size != (total_h, width):
            raise InputError(
                json_path,
                f"imageHeight x imageWidth {size[0]}x{size[1]} disagrees with {image_path} ({total_h}x{width})",
            )
    if total_h % 2:
        raise InputError(
            image_path, f"stereo image height {total_h} is odd; expected left and right views stacked (2*H)"
        )
    half = total_h // 2
    points = []
    for n, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict):
            raise InputError(json_path, f"shape {n} is not an object")
        if shape.get("shape_type", "point") != "point":
            report.note(f"labelme shapes ignored (shape_type {_shown(shape.get('shape_type'))})")
            continue
        pts = shape.get("points")
        if not (isinstance(pts, list) and len(pts) == 1 and isinstance(pts[0], (list, tuple)) and len(pts[0]) == 2):
            raise InputError(json_path, f'shape {n}: a point shape needs "points": [[x, y]], got {_shown(pts)}')
        points.append((json_number(pts[0][0], json_path, f"shape {n} x"),
                       json_number(pts[0][1], json_path, f"shape {n} y")))
    points = np.array(points, dtype=np.float32).reshape(-1, 2) - LABEL_COORDINATE_OFFSET
    _check_inside(points, total_h, width, json_path, image_path)
    right = points[:, 1] >= half
    name = os.path.basename(image_path)
    left_sample = SutureSample(stacked[:half].copy(), points[~right], op, video, name, image_path, json_path, "left")
    right_points = points[right] - np.array([0.0, half], dtype=np.float32)
    right_sample = SutureSample(stacked[half:].copy(), right_points, op, video, name, image_path, json_path, "right")
    return left_sample, right_sample
