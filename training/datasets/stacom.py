"""STACOM LV landmark challenge (Cardiac Atlas Project) loader.

Layout: ``root/<study>/Annotations.txt`` with the study's DICOM files beside it::

    PatientID: DET0000101
    [BASE_CENTRAL_AXIS]
    11.5 9.25 IM-0001-0001.dcm
    [APEX_CENTRAL_AXIS]
    12 10 IM-0001-0002.dcm
    [RV_INSERTS]
    7.5 4 IM-0001-0001.dcm
    6 15.5 IM-0001-0001.dcm
    [MITRAL_VALVES]
    10.25 6.75 IM-0002-0001.dcm
    16.5 7 IM-0002-0001.dcm

Each entry is ``X Y DICOM_filename`` (column, row; floats allowed; the file name
may contain spaces and sub-folders). Format assumptions (see the README):

* Coordinates are 0-based pixel-centre image coordinates (:data:`COORDINATE_BASE`).
* RV inserts come in pairs per short-axis image; the first line of a pair (file
  order) is RVI-1 (anterior), the second RVI-2 (inferior). :data:`RVI_ORDER`.
  A geometric diagnostic (``rvi_order_consistent``) counts images where RVI-1 is
  not anterior-superior of RVI-2 so the assumption can be checked on real data;
  it never changes labels.
* Mitral valve points come in pairs per long-axis image: MV-1 then MV-2 by order.
* BCA/ACA: at most one point per image, on short-axis images.
* Blank lines, ``#`` / ``//`` comment lines, CRLF line endings, tabs and extra
  spaces are accepted; section names are case-insensitive.
* Coordinates are plain ASCII decimals (``12``, ``-3.5``, ``1e2``): Python's
  ``float`` would also take ``1_0`` (as 10) and other scripts' digits, which
  no annotation tool writes, so those are refused.
* The DICOM file name is relative to the study folder and stays inside it: an
  absolute path, a drive letter or a ``..`` that leaves the folder is refused.
"""
from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

import SimpleITK as sitk

from heatmap_landmarks.errors import InputError, PathLike
from heatmap_landmarks.io import read_image
from .common import LandmarkSample
from .report import DatasetReport

#: Subtract this from the file's coordinates to get 0-based pixel indices.
#: Assumption: CAP landmark files use 0-based pixel coordinates. Set to 1 if they prove 1-based.
COORDINATE_BASE = 0.0

ANNOTATION_FILE = "Annotations.txt"

#: Names given to the first and second point of an RV-insert pair (file order).
RVI_ORDER = ("RVI-1", "RVI-2")
MV_ORDER = ("MV-1", "MV-2")

#: section -> (landmark names by order within an image, view of the image)
SECTIONS = {
    "BASE_CENTRAL_AXIS": (("BCA",), "sax"),
    "APEX_CENTRAL_AXIS": (("ACA",), "sax"),
    "RV_INSERTS": (RVI_ORDER, "sax"),
    "MITRAL_VALVES": (MV_ORDER, "lax"),
}

_HEADER = re.compile(r"^patient\s*id\s*[:=]\s*(.*)$", re.IGNORECASE)
_SECTION = re.compile(r"^\[\s*([^\]]*?)\s*\]$")
# ASCII only: float() also reads "1_0" as 10 and Arabic-Indic or full-width digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


@dataclass(frozen=True)
class AnnotationEntry:
    """One ``X Y DICOM_filename`` line; ``x``, ``y`` already 0-based pixels."""

    section: str
    x: float
    y: float
    dicom: str
    line: int


@dataclass
class ImageAnnotation:
    """All landmarks of one DICOM image: name -> entry (keeps the line number for errors)."""

    dicom: str
    view: str
    entries: dict = field(default_factory=dict)


@dataclass
class StacomAnnotations:
    """Parsed ``Annotations.txt``.

    Attributes:
        path: the annotation file.
        patient_id: from the ``PatientID:`` header line.
        entries: every entry in file order.
        images: DICOM name -> :class:`ImageAnnotation`, in order of first appearance.
    """

    path: str
    patient_id: str
    entries: list
    images: dict


def _where(path: str, line: int) -> str:
    return f"{path}:{line}"


def _read_text_lines(path: str) -> list[str]:
    try:
        raw = open(path, "rb").read()
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # files written on Windows tools
    return text.splitlines()


def _shown(text: str) -> str:
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _study_relative(name: str, path: str, line: int) -> str:
    """The DICOM file name of an entry, refused when it is not a plain path inside the study folder."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InputError(_where(path, line), f"DICOM file name {_shown(name)} holds control characters")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise InputError(_where(path, line), f"DICOM file name {_shown(name)} is an absolute path; annotations "
                                             f"must name files inside the study folder")
    depth = 0
    for part in name.split("/"):
        depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
        if depth < 0:
            raise InputError(_where(path, line), f"DICOM file name {_shown(name)} leaves the study folder (..); "
                                                 f"annotations must name files inside it")
    if depth == 0:
        raise InputError(_where(path, line), f"DICOM file name {_shown(name)} names no file")
    return posixpath.normpath(name)  # "./a/IM.dcm" and "a//IM.dcm" are the image "a/IM.dcm"


def parse_annotations(path: PathLike) -> StacomAnnotations:
    """Parse one STACOM ``Annotations.txt``; errors name the file and line.

    Landmarks are assigned per image: RV-insert and mitral-valve entries must come
    in pairs per image, BCA/ACA at most once per image, and an image cannot carry
    both short-axis and long-axis landmarks.
    """
    path = os.fspath(path)
    patient_id = None
    section = None
    entries: list[AnnotationEntry] = []
    for number, raw_line in enumerate(_read_text_lines(path), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#") or line.startswith("//"):
            continue
        header = _HEADER.match(line)
        if header:
            if patient_id is not None:
                raise InputError(_where(path, number), "second PatientID header line")
            patient_id = header.group(1).strip()
            if not patient_id:
                raise InputError(_where(path, number), "PatientID header has no value")
            continue
        match = _SECTION.match(line)
        if match:
            name = re.sub(r"\s+", "_", match.group(1).strip()).upper()
            if name not in SECTIONS:
                raise InputError(
                    _where(path, number),
                    f"unknown section [{match.group(1)}]; expected one of " + ", ".join(f"[{s}]" for s in SECTIONS),
                )
            section = name
            continue
        parts = line.split(None, 2)
        if len(parts) != 3 or not all(_NUMBER.fullmatch(v) for v in parts[:2]):
            raise InputError(_where(path, number), f'expected "X Y DICOM_filename", got {_shown(line)} '
                                                   f'(X and Y are plain decimal numbers such as 12.5)')
        x, y = float(parts[0]), float(parts[1])
        if not (np.isfinite(x) and np.isfinite(y)):
            raise InputError(_where(path, number), f"coordinates must be finite numbers, got {_shown(line)}")
        if section is None:
            raise InputError(_where(path, number), "entry before any section header such as [RV_INSERTS]")
        dicom = _study_relative(parts[2].strip().replace("\\", "/"), path, number)
        entries.append(AnnotationEntry(section, x - COORDINATE_BASE, y - COORDINATE_BASE, dicom, number))
    if patient_id is None:
        raise InputError(path, 'missing "PatientID: <id>" header line')
    return StacomAnnotations(path, patient_id, entries, _group_by_image(path, entries))


def _group_by_image(path: str, entries: list[AnnotationEntry]) -> dict:
    images: dict[str, ImageAnnotation] = {}
    per_section: dict[tuple[str, str], list[AnnotationEntry]] = {}
    for entry in entries:
        per_section.setdefault((entry.dicom, entry.section), []).append(entry)
    for (dicom, section), group in per_section.items():
        names, view = SECTIONS[section]
        if len(group) > len(names):
            extra = group[len(names)]
            raise InputError(
                _where(path, extra.line),
                f"[{section}] has more than {len(names)} point(s) for {dicom}",
            )
        if len(group) < len(names):
            raise InputError(
                _where(path, group[0].line),
                f"[{section}] has only {len(group)} point for {dicom}; expected a pair ({', '.join(names)}) per image",
            )
        image = images.setdefault(dicom, ImageAnnotation(dicom, view))
        if image.view != view:
            raise InputError(
                _where(path, group[0].line),
                f"{dicom} has both short-axis (RV_INSERTS/central axis) and long-axis (MITRAL_VALVES) landmarks",
            )
        for name, entry in zip(names, group):
            image.entries[name] = entry
    # Order images by their first line so output follows the file.
    first_line = {d: min(e.line for e in im.entries.values()) for d, im in images.items()}
    return {d: images[d] for d in sorted(images, key=first_line.get)}


@dataclass(eq=False)
class StacomSample(LandmarkSample):
    """One annotated STACOM DICOM image (see :class:`LandmarkSample` for shapes and units).

    Extra attributes: ``view`` ("sax" or "lax"), ``annotation_file``, DICOM
    ``series_uid``/``instance_number``/``trigger_time_ms`` (None when absent) and
    ``rvi_order_consistent`` (None unless both RV inserts are present; a diagnostic only).
    """

    view: str = "sax"
    annotation_file: str = ""
    series_uid: str | None = None
    instance_number: int | None = None
    trigger_time_ms: float | None = None
    rvi_order_consistent: bool | None = None


def _find_case_insensitive(folder: str, name: str) -> str | None:
    """Path of ``name`` inside ``folder``; falls back to a unique case-insensitive match
    because datasets prepared on Windows often disagree in case with their annotations."""
    exact = os.path.join(folder, name)
    if os.path.isfile(exact):
        return exact
    parent = os.path.dirname(exact)
    base = os.path.basename(exact).lower()
    try:
        matches = [f for f in os.listdir(parent) if f.lower() == base and os.path.isfile(os.path.join(parent, f))]
    except OSError:
        return None
    return os.path.join(parent, matches[0]) if len(matches) == 1 else None


def _dicom_tags(path: str) -> dict:
    """A few DICOM tags (header only): series UID, instance number, trigger time; None when absent."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    try:
        reader.ReadImageInformation()
    except RuntimeError:  # read_image already read the pixels; missing tags are not an error
        return {}
    tags = {}
    for key in ("0020|000e", "0020|0013", "0018|1060"):
        if reader.HasMetaDataKey(key) and reader.GetMetaData(key).strip():
            tags[key] = reader.GetMetaData(key).strip()
    return tags


def _as_number(text: str | None, kind):
    try:
        return None if text is None else kind(float(text))
    except ValueError:
        return None


def _rvi_consistent(geometry, landmarks) -> bool | None:
    if not all(n in landmarks for n in RVI_ORDER):
        return None
    ras = geometry.pixel_to_ras([[*landmarks[n], 0.0] for n in RVI_ORDER])
    # Anterior insertion should be more anterior (+A) and superior (+S) than the inferior one.
    score = ras[:, 1] + ras[:, 2]
    return bool(score[0] > score[1])


def find_annotation_file(folder: PathLike) -> str | None:
    """``Annotations.txt`` inside ``folder`` (case-insensitive), or None."""
    return _find_case_insensitive(os.fspath(folder), ANNOTATION_FILE)


def load_stacom_study(folder: PathLike) -> list[StacomSample]:
    """Load every annotated image of one study folder, one sample per DICOM image.

    Returns samples in annotation-file order, each with ``image`` ``(H, W)`` float32,
    ``spacing_xy`` mm, ``landmarks`` in 0-based ``(x, y)`` pixels and ``view``.
    Raises :class:`InputError` for a missing ``Annotations.txt``, a bad annotation
    line, a DICOM named by an annotation that does not exist or is not a single
    frame, and points outside their image (file and line named).
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise InputError(folder, "is not a folder; expected a study folder holding Annotations.txt and DICOM files")
    ann_path = find_annotation_file(folder)
    if ann_path is None:
        raise InputError(
            folder,
            f"has no {ANNOTATION_FILE}; expected one folder per study with {ANNOTATION_FILE} beside its DICOM files",
        )
    annotations = parse_annotations(ann_path)
    samples = []
    for dicom, image_ann in annotations.images.items():
        first = min(e.line for e in image_ann.entries.values())
        dicom_path = _find_case_insensitive(folder, dicom)
        if dicom_path is None:
            raise InputError(_where(ann_path, first), f"DICOM file {dicom!r} named here does not exist in {folder}")
        image = read_image(dicom_path, rgb="grey")
        if image.n_frames != 1:
            raise InputError(dicom_path, f"has {image.n_frames} frames; annotations refer to single-frame DICOM files")
        height, width = image.shape_hw
        geometry = image.geometry
        tags = _dicom_tags(dicom_path)
        landmarks = {}
        for name, entry in image_ann.entries.items():
            if not (-0.5 <= entry.x <= width - 0.5 and -0.5 <= entry.y <= height - 0.5):
                raise InputError(
                    _where(ann_path, entry.line),
                    f"point ({entry.x + COORDINATE_BASE:g}, {entry.y + COORDINATE_BASE:g}) lies outside {dicom} "
                    f"({width}x{height} pixels)",
                )
            landmarks[name] = np.array([entry.x, entry.y], dtype=np.float32)
        samples.append(
            StacomSample(
                image=image.array[0],
                spacing_xy=np.array(geometry.spacing[:2], dtype=np.float64),
                geometry=geometry,
                landmarks=landmarks,
                patient_id=annotations.patient_id,
                source=dicom_path,
                view=image_ann.view,
                annotation_file=ann_path,
                series_uid=tags.get("0020|000e"),
                instance_number=_as_number(tags.get("0020|0013"), int),
                trigger_time_ms=_as_number(tags.get("0018|1060"), float),
                rvi_order_consistent=_rvi_consistent(geometry, landmarks),
            )
        )
    return samples


def iter_stacom_dataset(
    root: PathLike, *, report: DatasetReport | None = None, strict: bool = False
) -> Iterator[StacomSample]:
    """Yield samples of every study folder under ``root`` (sorted by folder name).

    A study that fails to load is skipped and recorded in ``report`` (pass your own
    :class:`DatasetReport` to read it afterwards); ``strict=True`` raises instead.
    Raises :class:`InputError` when ``root`` is not in the expected layout at all
    (no sub-folder holds ``Annotations.txt``).
    """
    root = os.fspath(root)
    report = report if report is not None else DatasetReport("STACOM")
    if not os.path.isdir(root):
        raise InputError(root, "is not a folder; expected the STACOM dataset root holding one folder per study")
    if find_annotation_file(root) is not None:
        raise InputError(
            root, f"is a single study folder (holds {ANNOTATION_FILE}); pass the folder that contains the study folders"
        )
    studies = sorted(d for d in os.listdir(root) if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
    with_annotations = [d for d in studies if find_annotation_file(os.path.join(root, d)) is not None]
    if not with_annotations:
        raise InputError(
            root,
            f"no study folder with {ANNOTATION_FILE} found; "
            f"expected root/<study>/{ANNOTATION_FILE} beside the DICOM files",
        )
    for name in studies:
        folder = os.path.join(root, name)
        if name not in with_annotations:
            if strict:
                raise InputError(folder, f"has no {ANNOTATION_FILE}")
            report.skip(folder, f"folder without {ANNOTATION_FILE}", f"{folder}: has no {ANNOTATION_FILE}")
            continue
        try:
            samples = load_stacom_study(folder)
        except InputError as err:
            if strict:
                raise
            report.skip(folder, "invalid study", str(err))
            continue
        report.add_loaded("study")
        for sample in samples:
            report.add_loaded(f"{sample.view} image")
            if sample.rvi_order_consistent is False:
                report.note("SAX images with RVI-1 not anterior-superior of RVI-2 (check RVI_ORDER)")
            yield sample
