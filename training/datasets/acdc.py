"""ACDC short-axis stacks, with landmarks from the expert masks or from the RV-insertion labels of Koehler et al.

Two label sources (``labels=``):

* ``"gt"`` (the ACDC training set as published): ``patientXXX_frameYY_gt.nii.gz``
  masks (0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity). RVI-1, RVI-2
  and LVC of every slice come from
  :func:`heatmap_landmarks.cardiac.segmentation.sax_landmarks_from_labels`, with anterior
  up in the array (:data:`~heatmap_landmarks.cardiac.segmentation.ANTERIOR_UP`; ACDC's
  headers carry no scanner orientation, and its slices are stored in the display
  orientation). A landmark the masks do not give is *absent* (known), not unknown:
  ``absent_known`` is True and training supervises its channel as empty.
* ``"rvip"``: ``patientXXX_frameYY_rvip.nrrd`` label volumes, described below;
  NaN landmarks there are unknown (not annotated).

Layout::

    root/patient001/Info.cfg                      ED: 1 / ES: 12 / Group: DCM / Height / NbFrame / Weight
    root/patient001/patient001_frame01.nii.gz     3D SAX stack, NIfTI shape (x, y, z)
    root/patient001/patient001_frame01_rvip.nrrd  labels: 1 = RVI-1 (anterior), 2 = RVI-2 (inferior)

The label files may instead live in a separate folder (``rvip_folder`` /
``rvip_root``). Format assumptions (see the README):

* One blob per label per slice; the landmark is the blob centroid, the mean of
  its pixel centres, in ``(x=column, y=row)`` pixels of that slice of the image
  array (array ``(z, y, x)`` = ``(F, H, W)``, as SimpleITK/``read_image`` return it).
* Label values are 0/1/2 (floats that round to these within 1e-3 are accepted).
* If the label volume's geometry differs from the image's (beyond 1e-3 pixel),
  each centroid is mapped label pixel -> RAS -> image pixel and assigned to the
  nearest image slice; such samples have ``mapped_through_ras=True``.
* Frames whose image has no ``_rvip.nrrd`` are skipped and reported; unknown
  Info.cfg keys are kept in :attr:`AcdcInfo.extra`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from scipy import ndimage

from heatmap_landmarks.errors import InputError, PathLike
from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.io import read_image
from heatmap_landmarks.cardiac.segmentation import ACDC_LABELS, ANTERIOR_UP, sax_landmarks_from_labels
from .common import LandmarkSample
from .report import DatasetReport

INFO_FILE = "Info.cfg"
RVIP_SUFFIX = "_rvip.nrrd"
GT_SUFFIX = "_gt.nii.gz"
LABEL_SOURCES = ("gt", "rvip")
#: label value -> landmark name
RVIP_LABELS = {1: "RVI-1", 2: "RVI-2"}

_PATIENT_DIR = re.compile(r"^patient\d+$")
FRAME_IMAGE = re.compile(r"^(patient\d+)_frame(\d+)\.nii(\.gz)?$")
_INFO_TYPES = {"ED": int, "ES": int, "NbFrame": int, "Height": float, "Weight": float, "Group": str}
_GEOMETRY_TOLERANCE_PX = 1e-3


@dataclass(frozen=True)
class AcdcInfo:
    """Contents of ``Info.cfg``: ED/ES frame numbers (1-based as in the file names),
    pathology ``group``, ``height_cm``, ``weight_kg``, ``n_frames``; other keys in ``extra``."""

    path: str
    ed: int
    es: int
    group: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    n_frames: int | None = None
    extra: dict = field(default_factory=dict)


def _convert(kind, text: str):
    if kind is str:
        if not text:
            raise ValueError
        return text
    value = float(text)
    if not np.isfinite(value):
        raise ValueError
    if kind is int:
        if value != int(value):
            raise ValueError
        return int(value)
    return value


def parse_info_cfg(path: PathLike) -> AcdcInfo:
    """Parse an ACDC ``Info.cfg`` (``Key: value`` lines); errors name file and line."""
    path = os.fspath(path)
    try:
        text = open(path, "rb").read().decode("utf-8-sig", errors="replace")
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror})") from None
    values: dict = {}
    extra: dict = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not key or " " in key:
            raise InputError(f"{path}:{number}", f'expected "Key: value", got {line!r}')
        if key in values or key in extra:
            raise InputError(f"{path}:{number}", f"{key} given twice")
        if key in _INFO_TYPES:
            try:
                values[key] = _convert(_INFO_TYPES[key], value)
            except ValueError:
                kind = {int: "a whole number", float: "a number", str: "a value"}[_INFO_TYPES[key]]
                raise InputError(f"{path}:{number}", f"{key} must be {kind}, got {value!r}") from None
        else:
            extra[key] = value
    for key in ("ED", "ES"):
        if key not in values:
            raise InputError(path, f'missing "{key}: <frame>" line')
    return AcdcInfo(
        path=path,
        ed=values["ED"],
        es=values["ES"],
        group=values.get("Group"),
        height_cm=values.get("Height"),
        weight_kg=values.get("Weight"),
        n_frames=values.get("NbFrame"),
        extra=extra,
    )


@dataclass(eq=False)
class AcdcSample(LandmarkSample):
    """One short-axis slice of an ACDC frame (see :class:`LandmarkSample` for shapes and units).

    ``landmarks`` always holds "RVI-1" and "RVI-2" (and "LVC" with ``labels="gt"``),
    NaN where the slice has none. Extra attributes: ``frame`` (1-based, from the file
    name), ``phase`` ("ED", "ES" or None), ``slice_index`` (0-based, array axis 0),
    ``n_slices`` (of the stack), ``label_source``, ``group`` (pathology),
    ``mapped_through_ras``, ``absent_known`` (NaN means absent, not unknown) and
    ``label`` (``(H, W)`` int16 mask slice, ``labels="gt"`` only; else None).
    """

    frame: int = 0
    phase: str | None = None
    slice_index: int = 0
    label_source: str = ""
    group: str | None = None
    mapped_through_ras: bool = False
    n_slices: int = 0
    absent_known: bool = False
    label: np.ndarray | None = None


def _shape_xyz(array: np.ndarray) -> str:
    return "(x, y, z) = (" + ", ".join(str(s) for s in array.shape[::-1]) + ")"


def _label_points(label: np.ndarray, label_path: str) -> list[tuple[int, int, np.ndarray]]:
    """Centroids ``(label_value, slice, (x, y, k) label pixels)`` of every blob; one per label per slice."""
    rounded = np.rint(label)
    if np.any(np.abs(label - rounded) > 1e-3) or not np.isin(rounded, (0, 1, 2)).all():
        bad = np.unique(label[~np.isin(rounded, (0, 1, 2)) | (np.abs(label - rounded) > 1e-3)])
        shown = ", ".join(f"{v:g}" for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise InputError(label_path, f"label values other than 0/1/2 found: {shown}")
    points = []
    eight = np.ones((3, 3), dtype=bool)
    for k in range(rounded.shape[0]):
        for value in RVIP_LABELS:
            mask = rounded[k] == value
            if not mask.any():
                continue
            _, count = ndimage.label(mask, structure=eight)
            if count != 1:
                raise InputError(
                    label_path,
                    f"slice {k}: label {value} ({RVIP_LABELS[value]}) has {count} separate blobs; "
                    "expected one per slice",
                )
            rows, cols = np.nonzero(mask)
            points.append((value, k, np.array([cols.mean(), rows.mean(), float(k)])))
    return points


def _same_grid(image_geometry, label_geometry, shape) -> bool:
    f, h, w = shape
    corners = np.array([[i, j, k] for i in (0, w - 1) for j in (0, h - 1) for k in (0, f - 1)], dtype=np.float64)
    mapped = image_geometry.ras_to_pixel(label_geometry.pixel_to_ras(corners))
    return bool(np.max(np.abs(mapped - corners)) <= _GEOMETRY_TOLERANCE_PX)


def _read_stack(path: str) -> tuple[np.ndarray, Geometry]:
    """``(slices, H, W)`` float32 and geometry of a 3D (or single-slice) scalar volume."""
    image = read_image(path, rgb="grey")
    if image.kind == "2d+t":
        raise InputError(path, f"is a 2D+t cine ({image.n_frames} time points); expected one 3D short-axis stack")
    return image.array, image.geometry


def _load_frame(image_path: str, label_path: str, patient_id: str, frame: int, info: AcdcInfo) -> list[AcdcSample]:
    image, geometry = _read_stack(image_path)
    label, label_geometry = _read_stack(label_path)
    if label.shape != image.shape:
        raise InputError(
            label_path,
            f"label volume shape {_shape_xyz(label)} differs from image "
            f"{os.path.basename(image_path)} {_shape_xyz(image)}",
        )
    n_slices, height, width = image.shape
    same = _same_grid(geometry, label_geometry, image.shape)
    landmarks = [{name: np.full(2, np.nan, dtype=np.float32) for name in RVIP_LABELS.values()} for _ in range(n_slices)]
    for value, k, xyk in _label_points(label, label_path):
        name = RVIP_LABELS[value]
        if not same:
            xyk = geometry.ras_to_pixel(label_geometry.pixel_to_ras(xyk[None]))[0]
        x, y, kk = float(xyk[0]), float(xyk[1]), int(round(float(xyk[2])))
        if not (0 <= kk < n_slices and -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5):
            where = os.path.basename(image_path)
            raise InputError(label_path, f"slice {k}: {name} blob maps outside the image {where}")
        if not np.isnan(landmarks[kk][name][0]):
            raise InputError(label_path, f"two {name} blobs map onto image slice {kk}")
        landmarks[kk][name] = np.array([x, y], dtype=np.float32)
    phase = "ED" if frame == info.ed else "ES" if frame == info.es else None
    spacing_xy = np.array(geometry.spacing[:2], dtype=np.float64)
    return [
        AcdcSample(
            image=image[k],
            spacing_xy=spacing_xy,
            geometry=geometry.frame(k),
            landmarks=landmarks[k],
            patient_id=patient_id,
            source=image_path,
            frame=frame,
            phase=phase,
            slice_index=k,
            label_source=label_path,
            group=info.group,
            mapped_through_ras=not same,
            n_slices=n_slices,
        )
        for k in range(n_slices)
    ]


def _load_gt_frame(image_path: str, label_path: str, patient_id: str, frame: int, info: AcdcInfo) -> list[AcdcSample]:
    image, geometry = _read_stack(image_path)
    label, label_geometry = _read_stack(label_path)
    if label.shape != image.shape:
        raise InputError(
            label_path,
            f"mask shape {_shape_xyz(label)} differs from image {os.path.basename(image_path)} {_shape_xyz(image)}",
        )
    if not _same_grid(geometry, label_geometry, image.shape):
        raise InputError(label_path, f"mask geometry differs from image {os.path.basename(image_path)}")
    rounded = np.rint(label)
    known = np.isin(rounded, (0, ACDC_LABELS.rv, ACDC_LABELS.myo, ACDC_LABELS.lv))
    if np.any(np.abs(label - rounded) > 1e-3) or not known.all():
        bad = np.unique(label[~known | (np.abs(label - rounded) > 1e-3)])
        shown = ", ".join(f"{v:g}" for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise InputError(label_path, f"mask values other than 0/1/2/3 found: {shown}")
    masks = rounded.astype(np.int16)
    phase = "ED" if frame == info.ed else "ES" if frame == info.es else None
    spacing_xy = np.array(geometry.spacing[:2], dtype=np.float64)
    samples = []
    for k in range(image.shape[0]):
        found = sax_landmarks_from_labels(masks[k], ACDC_LABELS, anterior_xy=ANTERIOR_UP)
        landmarks = {n: found.get(n).astype(np.float32) for n in ("RVI-1", "RVI-2", "LVC")}
        samples.append(AcdcSample(
            image=image[k], spacing_xy=spacing_xy, geometry=geometry.frame(k), landmarks=landmarks,
            patient_id=patient_id, source=image_path, frame=frame, phase=phase, slice_index=k,
            label_source=label_path, group=info.group, n_slices=image.shape[0], absent_known=True,
            label=masks[k]))
    return samples


def load_acdc_patient(
    folder: PathLike, *, rvip_folder: PathLike | None = None, report: DatasetReport | None = None,
    labels: str = "rvip",
) -> list[AcdcSample]:
    """Per-slice samples of every labelled frame of one patient folder.

    Args:
        folder: ``.../patientXXX`` holding ``Info.cfg`` and ``patientXXX_frameYY.nii.gz``.
        rvip_folder: where the ``*_rvip.nrrd`` files are; default ``folder`` (``labels="rvip"``).
        report: receives frames skipped for lack of labels and other notes.
        labels: ``"gt"`` (landmarks from the ``*_gt.nii.gz`` masks beside the images) or
            ``"rvip"`` (the RV-insertion label volumes).

    Returns every slice of every labelled frame, in (frame, slice) order, including
    slices without blobs (NaN landmarks). Raises :class:`InputError` for a missing or
    bad ``Info.cfg``, unreadable images, label shape or value problems, or when no
    frame at all has labels.
    """
    folder = os.fspath(folder)
    report = report if report is not None else DatasetReport("ACDC")
    if labels not in LABEL_SOURCES:
        raise ValueError(f"labels must be one of {LABEL_SOURCES}, got {labels!r}")
    if not os.path.isdir(folder):
        raise InputError(folder, "is not a folder; expected an ACDC patient folder (patientXXX)")
    info_path = os.path.join(folder, INFO_FILE)
    if not os.path.isfile(info_path):
        raise InputError(folder, f"has no {INFO_FILE}; expected root/patientXXX/{INFO_FILE} beside the frame images")
    info = parse_info_cfg(info_path)
    patient_id = os.path.basename(os.path.normpath(folder))
    label_dir = folder if (rvip_folder is None or labels == "gt") else os.fspath(rvip_folder)
    suffix = GT_SUFFIX if labels == "gt" else RVIP_SUFFIX
    frames = []
    for name in sorted(os.listdir(folder)):
        match = FRAME_IMAGE.match(name)
        if match:
            frames.append((int(match.group(2)), name, re.sub(r"\.nii(\.gz)?$", "", name)))
    if not frames:
        raise InputError(folder, "has no patientXXX_frameYY.nii.gz images")
    stems = {stem for _, _, stem in frames}
    if os.path.isdir(label_dir):
        for name in sorted(os.listdir(label_dir)):
            stem = name[: -len(suffix)]
            if name.startswith(patient_id + "_") and name.endswith(suffix) and stem not in stems:
                path = os.path.join(label_dir, name)
                report.skip(path, "labels without image", f"{path}: no matching frame image in {folder}")
    samples: list[AcdcSample] = []
    for frame, name, stem in frames:
        image_path = os.path.join(folder, name)
        label_path = os.path.join(label_dir, stem + suffix)
        if not os.path.isfile(label_path):
            reason = f"{image_path}: no {stem + suffix} in {label_dir}"
            report.skip(image_path, "frame without masks" if labels == "gt" else "frame without RV-insertion labels",
                        reason)
            continue
        load = _load_gt_frame if labels == "gt" else _load_frame
        frame_samples = load(image_path, label_path, patient_id, frame, info)
        if frame_samples and frame_samples[0].mapped_through_ras:
            report.note("frames whose labels were mapped through RAS (label geometry differs from image)")
        samples.extend(frame_samples)
    if not samples:
        raise InputError(folder, f"no frame image has a matching *{suffix} label file in {label_dir}")
    return samples


def iter_acdc_dataset(
    root: PathLike,
    *,
    rvip_root: PathLike | None = None,
    report: DatasetReport | None = None,
    strict: bool = False,
    labels: str = "rvip",
    patients: "set[str] | None" = None,
) -> Iterator[AcdcSample]:
    """Yield per-slice samples of every ``patientXXX`` folder under ``root`` (sorted).

    ``rvip_root``: folder of the label files when they are not beside the images;
    ``rvip_root/patientXXX/`` is used when it exists, else ``rvip_root`` itself.
    A patient that fails to load is skipped and recorded in ``report``
    (``strict=True`` raises instead). ``labels``: see :func:`load_acdc_patient`;
    ``patients``: load only these folder names (e.g. one split). Raises
    :class:`InputError` when ``root`` holds no patient folders.
    """
    root = os.fspath(root)
    report = report if report is not None else DatasetReport("ACDC")
    if not os.path.isdir(root):
        raise InputError(root, "is not a folder; expected the ACDC root holding patientXXX folders")
    patient_filter = None if patients is None else set(patients)
    patients = sorted(d for d in os.listdir(root) if _PATIENT_DIR.match(d) and os.path.isdir(os.path.join(root, d)))
    if not patients:
        raise InputError(
            root,
            "has no patientXXX folders; expected root/patientXXX/Info.cfg (point at the training/ or testing/ folder)",
        )
    if patient_filter is not None:
        patients = [p for p in patients if p in patient_filter]
    for patient in patients:
        folder = os.path.join(root, patient)
        rvip_folder = None
        if rvip_root is not None:
            nested = os.path.join(os.fspath(rvip_root), patient)
            rvip_folder = nested if os.path.isdir(nested) else os.fspath(rvip_root)
        try:
            samples = load_acdc_patient(folder, rvip_folder=rvip_folder, report=report, labels=labels)
        except InputError as err:
            if strict:
                raise
            report.skip(folder, "invalid patient", str(err))
            continue
        report.add_loaded("patient")
        for sample in samples:
            report.add_loaded("slice")
            present = sum(not np.isnan(sample.landmarks[n][0]) for n in RVIP_LABELS.values())
            report.note({2: "slices with both RVIs", 1: "slices with one RVI", 0: "slices without RVI"}[present])
            if labels == "gt" and np.isnan(sample.landmarks["LVC"][0]):
                report.note("slices without LV cavity")
            yield sample
