"""Reading and writing images with their patient geometry.

Every reader returns an :class:`Image`: a ``(F, H, W)`` float32 array (or
``(F, H, W, 3)`` for colour) plus a :class:`~heatmap_landmarks.geometry.Geometry`
in RAS millimetres, so that pixel ``(column, row, frame)`` maps exactly to the
patient position Slicer shows for the same file.

Supported inputs (all through SimpleITK, which works in LPS; the flip to RAS
happens here and nowhere else):

* NIfTI (``.nii``, ``.nii.gz``), NRRD (``.nrrd``, ``.nhdr``), MetaImage
  (``.mha``, ``.mhd``): 2D, 3D, and 4D with a single slice (2D+t).
* One DICOM file (``.dcm``, ``.ima``, ``.dicom``, no suffix, or any file with
  the ``DICM`` preamble).
* A folder holding one DICOM series: several slice positions give a 3D volume
  sorted along the plane normal; one position with several instances gives a
  2D+t cine sorted by TriggerTime, then InstanceNumber.
* PNG and JPEG (2D, read with OpenCV and returned in RGB order). They store no patient placement; the geometry is the one
  Slicer gives them (LPS identity, i.e. RAS direction ``diag(-1, -1, 1)``,
  origin 0) with the PNG's physical pixel size when it has one.

The ``kind`` of an image is ``"2d"`` (one frame), ``"3d"`` (frames are slices
along ``geometry``'s k axis) or ``"2d+t"`` (frames are time points of the
same plane). For ``"2d+t"`` the geometry's k axis is the plane normal scaled by
the slice thickness, and *every* frame lies in the k = 0 plane: use
:meth:`Image.pixel_to_ras` or :meth:`Image.frame_geometry`, which know this,
rather than ``image.geometry.pixel_to_ras`` with a frame index.

Any problem with a user's file raises :class:`~heatmap_landmarks.errors.InputError`
with one line naming the file.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import SimpleITK as sitk

from .errors import InputError, PathLike, refuse_overwrite
from .geometry import LPS_TO_RAS, Geometry

__all__ = [
    "Image",
    "read_image",
    "read_image_series",
    "read_rgb_frame",
    "write_image",
    "KINDS",
    "RGB_MODES",
]

#: Allowed values of :attr:`Image.kind`.
KINDS = ("2d", "3d", "2d+t")
#: Allowed values of ``read_image(..., rgb=)``.
RGB_MODES = ("auto", "grey", "keep")

# suffix -> (ITK ImageIO name, human format name)
_FORMATS = {
    ".nii": ("NiftiImageIO", "NIfTI"),
    ".nii.gz": ("NiftiImageIO", "NIfTI"),
    ".nrrd": ("NrrdImageIO", "NRRD"),
    ".nhdr": ("NrrdImageIO", "NRRD"),
    ".mha": ("MetaImageIO", "MetaImage"),
    ".mhd": ("MetaImageIO", "MetaImage"),
    ".png": ("PNGImageIO", "PNG"),
    ".jpg": ("JPEGImageIO", "JPEG"),
    ".jpeg": ("JPEGImageIO", "JPEG"),
    ".dcm": ("GDCMImageIO", "DICOM"),
    ".dicom": ("GDCMImageIO", "DICOM"),
    ".ima": ("GDCMImageIO", "DICOM"),
    "": ("GDCMImageIO", "DICOM"),
}
_RASTER_FORMATS = ("PNG", "JPEG")
_SUPPORTED_TEXT = "NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), DICOM file or folder, PNG, JPEG"

# Positions closer than this (mm) are the same slice position.
_SAME_POSITION_MM = 0.01


# ---------------------------------------------------------------------------
# Image
# ---------------------------------------------------------------------------
@dataclass(eq=False)
class Image:
    """An image and where it lies in the patient.

    Attributes:
        array: ``(F, H, W)`` float32 scalar frames, or ``(F, H, W, 3)`` float32
            RGB frames; values as stored in the file (not rescaled).
        geometry: pixel ``(column, row, frame)`` -> RAS mm (see module notes
            for ``"2d+t"``).
        kind: ``"2d"``, ``"3d"`` or ``"2d+t"``.
        source: the path it was read from (for messages); may be empty.
        frame_times_ms: ``(F,)`` float64 frame times in ms for a DICOM cine
            (TriggerTime), else None.
        metadata: small dict of strings about the source (format, series UID,
            modality, description...).

    >>> img = Image(np.zeros((1, 4, 6), np.float32), Geometry(), "2d")
    >>> img.n_frames, img.shape_hw, img.is_rgb
    (1, (4, 6), False)
    """

    array: np.ndarray
    geometry: Geometry
    kind: str
    source: str = ""
    frame_times_ms: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        a = self.array
        if not isinstance(a, np.ndarray) or a.dtype != np.float32:
            raise ValueError("Image.array must be a float32 numpy array")
        if not (a.ndim == 3 or (a.ndim == 4 and a.shape[3] == 3)):
            raise ValueError(f"Image.array must be (F, H, W) or (F, H, W, 3), got shape {a.shape}")
        if self.kind not in KINDS:
            raise ValueError(f"Image.kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "2d" and a.shape[0] != 1:
            raise ValueError(f"a '2d' image has exactly one frame, got {a.shape[0]}")
        if not isinstance(self.geometry, Geometry):
            raise ValueError("Image.geometry must be a Geometry")
        self.source = os.fspath(self.source)
        if self.frame_times_ms is not None:
            t = np.asarray(self.frame_times_ms, dtype=np.float64).reshape(-1)
            if t.shape[0] != a.shape[0]:
                raise ValueError(f"frame_times_ms has {t.shape[0]} values for {a.shape[0]} frames")
            self.frame_times_ms = t

    @property
    def is_rgb(self) -> bool:
        """True for ``(F, H, W, 3)`` colour images."""
        return self.array.ndim == 4

    @property
    def n_frames(self) -> int:
        return int(self.array.shape[0])

    @property
    def shape_hw(self) -> tuple[int, int]:
        """``(rows, columns)`` of one frame."""
        return int(self.array.shape[1]), int(self.array.shape[2])

    @property
    def spacing_xy(self) -> tuple[float, float]:
        """In-plane pixel size ``(column spacing, row spacing)`` in mm."""
        return float(self.geometry.spacing[0]), float(self.geometry.spacing[1])

    def frame_geometry(self, frame: int) -> Geometry:
        """Geometry of one frame (for ``"2d+t"`` the same plane for every frame).

        >>> g = Geometry(spacing=(1, 1, 5))
        >>> Image(np.zeros((3, 2, 2), np.float32), g, "2d+t").frame_geometry(2).origin.tolist()
        [0.0, 0.0, 0.0]
        >>> Image(np.zeros((3, 2, 2), np.float32), g, "3d").frame_geometry(2).origin.tolist()
        [0.0, 0.0, 10.0]
        """
        if not 0 <= frame < self.n_frames:
            raise IndexError(f"frame {frame} out of range 0..{self.n_frames - 1}")
        return self.geometry if self.kind != "3d" else self.geometry.frame(frame)

    def pixel_to_ras(self, ijk) -> np.ndarray:
        """``(N, 3)`` pixel ``(column, row, frame)`` -> ``(N, 3)`` RAS mm.

        Unlike ``geometry.pixel_to_ras`` this puts every frame of a ``"2d+t"``
        cine in the k = 0 plane (the frame index is time, not position).

        >>> img = Image(np.zeros((3, 2, 2), np.float32), Geometry(spacing=(1, 1, 5)), "2d+t")
        >>> img.pixel_to_ras([[1, 1, 2]]).tolist()
        [[1.0, 1.0, 0.0]]
        """
        p = np.array(np.atleast_2d(np.asarray(ijk, dtype=np.float64)))
        if self.kind == "2d+t":
            p[:, 2] = 0.0
        return self.geometry.pixel_to_ras(p)

    def points_to_ras(self, points_xy, frame: int = 0) -> np.ndarray:
        """``(N, 2)`` pixel points ``(x, y)`` on ``frame`` -> ``(N, 3)`` RAS mm."""
        p = np.atleast_2d(np.asarray(points_xy, dtype=np.float64))
        ijk = np.column_stack([p[:, 0], p[:, 1], np.full(len(p), float(frame))])
        return self.pixel_to_ras(ijk)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _has_dicm_preamble(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _format_of(path: Path) -> tuple[str, str]:
    """(ImageIO, format name) for a file, or InputError for unsupported types."""
    suffix = _suffix(path)
    if suffix in _FORMATS and suffix != "":
        return _FORMATS[suffix]
    if suffix == "" or _has_dicm_preamble(path):
        return _FORMATS[""]
    raise InputError(path, f"unsupported file type '{suffix}'; supported: {_SUPPORTED_TEXT}")


def _sitk_detail(err: Exception) -> str:
    """The useful last words of a SimpleITK exception (its text is multi-line C++ noise)."""
    text = str(err).strip().splitlines()
    last = text[-1] if text else ""
    if "ERROR:" in last:
        last = last.split("ERROR:", 1)[1]
    last = " ".join(last.split())
    return last[:200]


def _meta(img_or_reader, key: str) -> str | None:
    if img_or_reader.HasMetaDataKey(key):
        value = img_or_reader.GetMetaData(key).strip()
        return value or None
    return None


def _meta_float(img_or_reader, key: str) -> float | None:
    value = _meta(img_or_reader, key)
    if value is None:
        return None
    try:
        out = float(value.split("\\")[0])
    except ValueError:
        return None
    return out if np.isfinite(out) else None


def _lps_to_ras_geometry(spacing, origin_lps, direction_lps) -> Geometry:
    return Geometry(
        spacing=spacing,
        origin=LPS_TO_RAS @ np.asarray(origin_lps, dtype=np.float64),
        direction=LPS_TO_RAS @ np.asarray(direction_lps, dtype=np.float64),
    )


def _spatial_lps(img: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spacing (3,), origin (3,), direction (3,3)) in LPS of the spatial axes of a 2D/3D/4D image.

    A 2D image gets spacing 1 along k and a k axis = normal of its plane
    (cross product of the column and row directions), so the result is right-handed.
    """
    dim = img.GetDimension()
    spacing = np.asarray(img.GetSpacing(), dtype=np.float64)
    origin = np.asarray(img.GetOrigin(), dtype=np.float64)
    direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(dim, dim)
    if dim == 2:
        d = np.zeros((3, 3))
        d[:2, :2] = direction
        d[:, 2] = np.cross(d[:, 0], d[:, 1])
        return np.array([spacing[0], spacing[1], 1.0]), np.array([origin[0], origin[1], 0.0]), d
    return spacing[:3].copy(), origin[:3].copy(), direction[:3, :3].copy()


def _check_finite(path, array: np.ndarray) -> None:
    if array.dtype.kind in "fc":
        finite = np.isfinite(array)
        if not finite.all():
            n_nan = int(np.isnan(array).sum())
            n_inf = int(array.size - finite.sum() - n_nan)
            parts = []
            if n_nan:
                parts.append(f"{n_nan} NaN")
            if n_inf:
                parts.append(f"{n_inf} infinite")
            raise InputError(path, f"image contains {' and '.join(parts)} pixel values")


def _resolve_channels(path, array: np.ndarray, rgb: str, fmt: str) -> np.ndarray:
    """``(F, H, W, C)`` native pixels -> ``(F, H, W)`` grey or ``(F, H, W, 3)`` colour (native dtype).

    Alpha: an all-opaque alpha channel is dropped silently; any transparency
    is an error (we cannot know what background the pixels were meant on).
    Grey stored as RGB(A) becomes one channel unless ``rgb == "keep"``.
    """
    n_comp = array.shape[-1]
    if n_comp == 1:
        return array[..., 0]
    if n_comp not in (2, 3, 4):
        raise InputError(path, f"image has {n_comp}-component (vector) pixels; expected greyscale or RGB")
    if n_comp in (2, 4):
        alpha = array[..., -1]
        full = np.iinfo(alpha.dtype).max if alpha.dtype.kind in "ui" else alpha.max()
        n_transparent = int(np.count_nonzero(alpha != full))
        if n_transparent:
            raise InputError(
                path,
                f"{fmt} image has transparency (alpha below {full} at {n_transparent} pixels), which would change "
                f"the pixels; flatten it onto a background and save without alpha",
            )
        array = array[..., :-1]
        if n_comp == 2:
            return array[..., 0]
    colour = array
    # JPEG's colour transform can leave grey pixels off by a level; lossless formats must match exactly.
    tolerance = 2 if fmt == "JPEG" else 0
    c = colour.astype(np.float64) if colour.dtype.kind != "f" else colour
    spread = max(float(np.abs(c[..., 0] - c[..., 1]).max(initial=0)), float(np.abs(c[..., 1] - c[..., 2]).max(initial=0)))
    is_grey = spread <= tolerance
    if rgb == "keep":
        return colour
    if is_grey:
        return colour[..., 0] if tolerance == 0 else c.mean(axis=-1)
    if rgb == "grey":
        raise InputError(path, "RGB image whose channels differ; the cardiac model needs a greyscale image")
    return colour


def _to_float32(path, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "c":
        raise InputError(path, "image has complex pixel values; expected real greyscale or RGB")
    _check_finite(path, array)
    with np.errstate(over="ignore"):
        out = array.astype(np.float32)
    if not np.isfinite(out).all():
        raise InputError(path, "pixel values overflow float32")
    return np.ascontiguousarray(out)


def _check_not_empty(path, shape) -> None:
    if int(np.prod(shape)) == 0:
        raise InputError(path, f"empty image (0 pixels; size {tuple(int(s) for s in shape)})")


# ---------------------------------------------------------------------------
# single files
# ---------------------------------------------------------------------------
_MAGIC = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff"}


def _read_sitk(path: Path, image_io: str, fmt: str) -> sitk.Image:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO(image_io)
    try:
        reader.ReadImageInformation()
        size = reader.GetSize()
        _check_not_empty(path, size)
        return reader.Execute()
    except RuntimeError as err:
        raise InputError(path, f"cannot read as {fmt}: the file is corrupt, truncated or not a {fmt} image "
                               f"(SimpleITK: {_sitk_detail(err)})") from None


@dataclass
class _Volumes:
    """Internal result of reading: native arrays before float conversion."""

    arrays: list  # list of (F, H, W, C) native-dtype arrays, one per volume
    geometry: Geometry
    kind: str
    fmt: str
    frame_times_ms: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)


def _read_raster(path: Path, image_io: str, fmt: str) -> _Volumes:
    """PNG/JPEG pixels through OpenCV (SimpleITK cannot read grey+alpha PNGs); pixel size through ITK."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(_MAGIC[fmt]):
        raise InputError(path, f"cannot read as {fmt}: the file does not start with a {fmt} signature "
                               f"(corrupt, or another format with a {_suffix(path)} name)")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise InputError(path, f"cannot read as {fmt}: the file is corrupt or truncated")
    _check_not_empty(path, pixels.shape)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    elif pixels.shape[2] in (3, 4):  # OpenCV is BGR(A)
        pixels = np.concatenate([pixels[..., 2::-1], pixels[..., 3:]], axis=-1)
    spacing = [1.0, 1.0]
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO(image_io)
    try:
        reader.ReadImageInformation()
        spacing = list(reader.GetSpacing())[:2]
    except RuntimeError:
        pass  # e.g. grey+alpha PNG: ITK cannot describe it; keep 1 mm pixels
    # Slicer's (ITK's) placement of a raster image: origin 0, LPS identity axes.
    geometry = _lps_to_ras_geometry([spacing[0], spacing[1], 1.0], np.zeros(3), np.eye(3))
    return _Volumes([pixels[None]], geometry, "2d", fmt, metadata={"format": fmt})


def _read_file(path: Path, *, allow_series: bool) -> _Volumes:
    image_io, fmt = _format_of(path)
    if fmt in _RASTER_FORMATS:
        return _read_raster(path, image_io, fmt)
    img = _read_sitk(path, image_io, fmt)
    dim = img.GetDimension()
    n_comp = img.GetNumberOfComponentsPerPixel()
    arr = sitk.GetArrayFromImage(img)  # (z, y, x[, c]) / (t, z, y, x[, c])
    if n_comp == 1:
        arr = arr[..., None]
    spacing, origin, direction = _spatial_lps(img)
    metadata = {"format": fmt}
    if fmt == "NRRD" and _meta(img, "NRRD_kinds[pixel]") == "list" and n_comp > 1 and dim == 3:
        # A Slicer sequence NRRD: the "list" axis is time, which ITK hands over as components.
        arr = np.moveaxis(arr, -1, 0)[..., None]  # (t, z, y, x, 1)
        dim, n_comp = 4, 1
    if dim > 4:
        raise InputError(path, f"{dim}D images are not supported")
    if dim == 4:
        if n_comp > 1:
            raise InputError(path, f"4D image with {n_comp}-component (vector) pixels is not supported; "
                                   f"expected a scalar 2D+t or 3D+t image")
        n_t, n_z = arr.shape[0], arr.shape[1]
        if n_z > 1 and n_t > 1:
            if allow_series:
                geometry = _lps_to_ras_geometry(spacing, origin, direction)
                return _Volumes([arr[t] for t in range(n_t)], geometry, "3d", fmt, metadata=metadata)
            raise InputError(path, f"this is a 3D+t image ({n_z} slices x {n_t} time points); load it in Slicer "
                                   f"as a sequence, split it into one 3D file per time point, or use "
                                   f"read_image_series() to get one 3D image per time point")
        if n_z == 1 and n_t > 1:
            geometry = _lps_to_ras_geometry(spacing, origin, direction)
            return _Volumes([arr[:, 0]], geometry, "2d+t", fmt, metadata=metadata)
        arr = arr[0]  # a single time point: an ordinary 2D/3D image
    if arr.ndim == 3:  # 2D image (y, x, c)
        arr = arr[None]
    if fmt == "DICOM" and arr.shape[0] == 1:
        # A lone slice has no slice-to-slice distance; its thickness is the honest k extent.
        thickness = _meta_float(img, "0018|0050") or _meta_float(img, "0018|0088")
        spacing[2] = thickness if thickness and thickness > 0 else 1.0
        for key, name in (("0020|000e", "series_uid"), ("0008|0060", "modality"), ("0008|103e", "series_description")):
            value = _meta(img, key)
            if value:
                metadata[name] = value
    geometry = _lps_to_ras_geometry(spacing, origin, direction)
    kind = "2d" if arr.shape[0] == 1 else "3d"
    return _Volumes([arr], geometry, kind, fmt, metadata=metadata)


# ---------------------------------------------------------------------------
# DICOM folders
# ---------------------------------------------------------------------------
def _series_summary(uid: str, files) -> str:
    description = ""
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(files[0])
    try:
        reader.ReadImageInformation()
        description = _meta(reader, "0008|103e") or _meta(reader, "0008|0060") or ""
    except RuntimeError:
        pass
    description = description.replace('"', "'")
    return f'{uid or "(no SeriesInstanceUID)"} ("{description}", {len(files)} files)'


def _read_dicom_folder(folder: Path, series_uid: str | None, *, allow_series: bool) -> _Volumes:
    entries = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    if not entries:
        raise InputError(folder, "empty folder: no image files in it")
    try:
        uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    except RuntimeError as err:
        raise InputError(folder, f"cannot scan folder for DICOM series (SimpleITK: {_sitk_detail(err)})") from None
    if not uids:
        raise InputError(folder, f"folder has no DICOM series ({len(entries)} files, none of them DICOM); give the "
                                 f"path of a single image file instead")
    files_of = {uid: list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)) for uid in uids}
    if series_uid is None:
        if len(uids) > 1:
            listing = "; ".join(_series_summary(u, files_of[u]) for u in uids)
            raise InputError(folder, f"folder has {len(uids)} DICOM series: {listing}; choose one with "
                                     f"series_uid=<SeriesInstanceUID> (CLI: --series-uid) or put each series in its own folder")
        series_uid = uids[0]
    elif series_uid not in files_of:
        listing = "; ".join(_series_summary(u, files_of[u]) for u in uids)
        raise InputError(folder, f"no DICOM series with SeriesInstanceUID {series_uid} in this folder; it has: {listing}")
    files = files_of[series_uid]
    label = series_uid or "(no SeriesInstanceUID)"

    slices = []
    for name in files:
        img = _read_sitk(Path(name), "GDCMImageIO", "DICOM")
        if img.GetDimension() == 3 and img.GetSize()[2] != 1:
            raise InputError(name, f"multi-frame DICOM file ({img.GetSize()[2]} frames) inside a series folder is not "
                                   f"supported; give the path of this file on its own")
        spacing, origin, direction = _spatial_lps(img)
        arr = sitk.GetArrayFromImage(img)
        if img.GetNumberOfComponentsPerPixel() == 1:
            arr = arr[..., None]
        if arr.ndim == 3:
            arr = arr[None]
        slices.append({
            "name": name, "array": arr[0], "spacing": spacing, "origin": origin, "direction": direction,
            "trigger": _meta_float(img, "0018|1060"), "instance": _meta_float(img, "0020|0013"),
            "thickness": _meta_float(img, "0018|0050") or _meta_float(img, "0018|0088"),
            "patient": _meta(img, "0010|0020"), "img": img,
        })
    patients = sorted({s["patient"] for s in slices if s["patient"]})
    if len(patients) > 1:
        raise InputError(folder, f"series {label} mixes images of {len(patients)} patients (PatientID "
                                 f"{', '.join(patients[:5])}{', ...' if len(patients) > 5 else ''}); put each series in its own folder")
    first = slices[0]
    for s in slices[1:]:
        if s["array"].shape != first["array"].shape:
            raise InputError(s["name"], f"slice size {s['array'].shape[:2]} differs from {first['array'].shape[:2]} "
                                        f"in the rest of series {label}")
        if not np.allclose(s["direction"], first["direction"], atol=1e-4):
            raise InputError(s["name"], f"slice orientation differs from the rest of series {label}; "
                                        f"slices of one volume must be parallel")
        if not np.allclose(s["spacing"][:2], first["spacing"][:2], rtol=1e-4):
            raise InputError(s["name"], f"pixel spacing differs from the rest of series {label}")

    img0 = first["img"]
    metadata = {"format": "DICOM series", "series_uid": series_uid}
    for key, mname in (("0008|0060", "modality"), ("0008|103e", "series_description")):
        value = _meta(img0, key)
        if value:
            metadata[mname] = value
    normal = np.cross(first["direction"][:, 0], first["direction"][:, 1])
    normal /= np.linalg.norm(normal)

    # Group slices by position: one group = a cine; all singletons = a volume.
    along = np.array([s["origin"] @ normal for s in slices])
    order = np.argsort(along, kind="stable")
    groups: list[list[dict]] = []
    for idx in order:
        s = slices[idx]
        if groups and np.linalg.norm(s["origin"] - groups[-1][0]["origin"]) < _SAME_POSITION_MM:
            groups[-1].append(s)
        else:
            groups.append([s])

    def time_key(s):
        return (s["trigger"] if s["trigger"] is not None else np.inf,
                s["instance"] if s["instance"] is not None else np.inf, s["name"])

    def plane_geometry(s) -> Geometry:
        spacing = s["spacing"].copy()
        spacing[2] = s["thickness"] if s["thickness"] and s["thickness"] > 0 else 1.0
        direction = s["direction"].copy()
        direction[:, 2] = normal
        return _lps_to_ras_geometry(spacing, s["origin"], direction)

    if len(groups) == 1:
        ordered = sorted(groups[0], key=time_key)
        arr = np.stack([s["array"] for s in ordered])
        if len(ordered) == 1:
            return _Volumes([arr], plane_geometry(ordered[0]), "2d", "DICOM", metadata=metadata)
        times = [s["trigger"] for s in ordered]
        frame_times = np.array(times, dtype=np.float64) if all(t is not None for t in times) else None
        return _Volumes([arr], plane_geometry(ordered[0]), "2d+t", "DICOM", frame_times, metadata)

    counts = sorted({len(g) for g in groups})
    if counts != [1] and len(counts) > 1:
        raise InputError(folder, f"series {label} repeats slice positions unevenly ({len(groups)} positions "
                                 f"with {counts[0]} to {counts[-1]} images each); cannot tell volume from time")
    n_t = counts[0]
    if n_t > 1 and not allow_series:
        raise InputError(folder, f"series {label} is 3D+t ({len(groups)} slice positions x {n_t} time points); "
                                 f"load it in Slicer as a sequence, or use read_image_series() to get one 3D image per time point")
    groups = [sorted(g, key=time_key) for g in groups]
    positions = np.array([g[0]["origin"] for g in groups])
    steps = np.diff(positions, axis=0)
    step_len = np.linalg.norm(steps, axis=1)
    mean_step = steps.mean(axis=0)
    dz = float(np.linalg.norm(mean_step))
    if step_len.max() - step_len.min() > max(0.01, 0.01 * dz):
        raise InputError(folder, f"slice spacing in series {label} is not uniform ({step_len.min():.3f} to "
                                 f"{step_len.max():.3f} mm); slices may be missing")
    off_normal = np.linalg.norm(mean_step - (mean_step @ normal) * normal)
    if off_normal > 0.01 * dz:
        raise InputError(folder, f"slices of series {label} are not stacked along their plane normal (gantry "
                                 f"tilt or sheared stack, {off_normal:.3f} mm sideways per slice); not supported")
    spacing = first["spacing"].copy()
    spacing[2] = dz
    direction = first["direction"].copy()
    direction[:, 2] = normal
    geometry = _lps_to_ras_geometry(spacing, positions[0], direction)
    volumes = [np.stack([g[t]["array"] for g in groups]) for t in range(n_t)]
    return _Volumes(volumes, geometry, "3d", "DICOM", metadata=metadata)


# ---------------------------------------------------------------------------
# public readers
# ---------------------------------------------------------------------------
def _load(path: PathLike, series_uid: str | None, *, allow_series: bool) -> tuple[Path, _Volumes]:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file or folder does not exist")
    if path.is_dir():
        return path, _read_dicom_folder(path, series_uid, allow_series=allow_series)
    if series_uid is not None:
        raise InputError(path, "series_uid only applies to a DICOM folder, but this is a single file")
    if not os.access(path, os.R_OK):
        raise InputError(path, "file is not readable (permission denied)")
    return path, _read_file(path, allow_series=allow_series)


def _to_image(path: Path, vols: _Volumes, native: np.ndarray, rgb: str) -> Image:
    _check_not_empty(path, native.shape)
    pixels = _resolve_channels(path, native, rgb, vols.fmt)
    array = _to_float32(path, pixels)
    return Image(array, vols.geometry, vols.kind, os.fspath(path), vols.frame_times_ms, dict(vols.metadata))


def read_image(path: PathLike, *, series_uid: str | None = None, rgb: str = "auto") -> Image:
    """Read an image file or DICOM series folder with its RAS geometry.

    Args:
        path: file (NIfTI, NRRD, MetaImage, DICOM, PNG, JPEG) or DICOM folder.
        series_uid: SeriesInstanceUID to pick when a folder holds several series.
        rgb: colour handling. ``"auto"``: grey stored as RGB becomes one
            channel, true colour stays ``(F, H, W, 3)``. ``"grey"``: always one
            channel; colour whose channels differ is an InputError (the cardiac
            path). ``"keep"``: RGB files stay ``(F, H, W, 3)`` even when grey
            (the suture path).

    Returns:
        :class:`Image` with a float32 array of the stored values.

    Raises:
        InputError: one line naming the file, for every unusable input.

    >>> import tempfile, os
    >>> tmp = tempfile.TemporaryDirectory()
    >>> g = Geometry(spacing=(0.7, 0.9, 3.0), origin=(10.0, -5.0, 2.0))
    >>> _ = write_image(os.path.join(tmp.name, "x.nrrd"), np.ones((2, 3, 4), np.float32), g)
    >>> img = read_image(os.path.join(tmp.name, "x.nrrd"))
    >>> img.kind, img.array.shape, img.geometry.almost_equal(g)
    ('3d', (2, 3, 4), True)
    >>> tmp.cleanup()
    """
    if rgb not in RGB_MODES:
        raise ValueError(f"rgb must be one of {RGB_MODES}, got {rgb!r}")
    path, vols = _load(path, series_uid, allow_series=False)
    return _to_image(path, vols, vols.arrays[0], rgb)


def read_image_series(path: PathLike, *, series_uid: str | None = None, rgb: str = "auto") -> list[Image]:
    """Read a 3D+t file or DICOM folder as a list of 3D images, one per time point.

    Anything else gives a one-element list (same as :func:`read_image`).

    >>> import tempfile, os
    >>> tmp = tempfile.TemporaryDirectory()
    >>> p = os.path.join(tmp.name, "x.mha")
    >>> _ = write_image(p, np.zeros((2, 3, 4), np.float32), Geometry())
    >>> [im.kind for im in read_image_series(p)]
    ['3d']
    >>> tmp.cleanup()
    """
    if rgb not in RGB_MODES:
        raise ValueError(f"rgb must be one of {RGB_MODES}, got {rgb!r}")
    path, vols = _load(path, series_uid, allow_series=True)
    return [_to_image(path, vols, native, rgb) for native in vols.arrays]


def read_rgb_frame(path: PathLike) -> np.ndarray:
    """Read one colour frame (e.g. an endoscopic video frame) as RGB.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1], channels in R, G, B order. Integer
        pixels are divided by their type's maximum (255 for 8-bit); a grey
        image is repeated into three channels.

    >>> import tempfile, os
    >>> tmp = tempfile.TemporaryDirectory()
    >>> p = os.path.join(tmp.name, "f.png")
    >>> rgb = np.zeros((1, 2, 3, 3), np.uint8); rgb[..., 0] = 255
    >>> _ = write_image(p, rgb, Geometry())
    >>> read_rgb_frame(p)[0, 0].tolist()
    [1.0, 0.0, 0.0]
    >>> tmp.cleanup()
    """
    path, vols = _load(path, None, allow_series=False)
    native = vols.arrays[0]
    _check_not_empty(path, native.shape)
    if native.shape[0] != 1:
        raise InputError(path, f"has {native.shape[0]} frames; expected a single 2D colour frame")
    pixels = _resolve_channels(path, native, "keep", vols.fmt)[0]
    if native.dtype.kind in "ui":
        scale = float(np.iinfo(native.dtype).max)
    else:
        scale = 1.0
    frame = _to_float32(path, pixels) / np.float32(scale)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.min() < 0.0 or frame.max() > 1.0:
        raise InputError(path, f"colour frame values span {frame.min():g}..{frame.max():g}; expected 8/16-bit "
                               f"integers or floats in [0, 1]")
    return np.ascontiguousarray(frame)


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
_VOLUME_WRITE = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")
_RASTER_WRITE = (".png", ".jpg", ".jpeg")


def write_image(path: PathLike, array, geometry: Geometry, *, kind: str | None = None,
                overwrite: bool = False) -> Path:
    """Write an array with its geometry, atomically.

    Args:
        path: ``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``;
            or ``.png``/``.jpg`` for 2D previews (uint8, PNG also uint16), which
            keep the in-plane spacing at most (PNG) and no origin/direction.
        array: ``(F, H, W)`` scalar or ``(F, H, W, 3)`` RGB, any real dtype
            (kept as is; bool is stored as uint8); ``(H, W)`` means one frame.
        geometry: RAS geometry of ``array``.
        kind: ``"2d+t"`` with ``F > 1`` writes a 4D (x, y, 1, t) scalar file
            that :func:`read_image` reads back as ``"2d+t"``; otherwise frames
            are slices along k.
        overwrite: replace an existing file; otherwise
            :class:`~heatmap_landmarks.errors.OutputExistsError`.

    Returns:
        The path written. The file appears complete or not at all: it is
        written in a temporary folder next to it, then moved into place.

    >>> import tempfile, os
    >>> tmp = tempfile.TemporaryDirectory()
    >>> write_image(os.path.join(tmp.name, "m.nii.gz"), np.zeros((1, 2, 2), np.float32), Geometry()).name
    'm.nii.gz'
    >>> tmp.cleanup()
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix not in _VOLUME_WRITE + _RASTER_WRITE:
        raise InputError(path, f"cannot write '{suffix}' files; use .nii.gz, .nrrd, .mha (or .png/.jpg previews)")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    refuse_overwrite(path, overwrite)
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8)
    if a.dtype.kind not in "uif":
        raise ValueError(f"cannot write pixels of dtype {a.dtype}")
    if a.ndim == 2:
        a = a[None]
    is_rgb = a.ndim == 4 and a.shape[3] == 3
    if not (a.ndim == 3 or is_rgb):
        raise ValueError(f"array must be (F, H, W), (F, H, W, 3) or (H, W); got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"refusing to write an empty image of shape {a.shape}")
    if a.dtype == np.float16:
        a = a.astype(np.float32)

    if suffix in _RASTER_WRITE:
        if a.shape[0] != 1:
            raise ValueError(f"{suffix} holds one 2D frame; got {a.shape[0]} frames")
        allowed = (np.uint8,) if suffix != ".png" else (np.uint8, np.uint16)
        if a.dtype.type not in allowed:
            raise ValueError(f"{suffix} previews need {' or '.join(t.__name__ for t in allowed)} pixels, got {a.dtype}; "
                             f"convert first, e.g. (x * 255).round().astype(np.uint8)")
        img = sitk.GetImageFromArray(a[0], isVector=is_rgb)
        img.SetSpacing([float(s) for s in geometry.spacing[:2]])
    else:
        spacing = geometry.spacing
        origin_lps = LPS_TO_RAS @ geometry.origin
        direction_lps = LPS_TO_RAS @ geometry.direction
        if kind == "2d+t" and a.shape[0] > 1:
            if is_rgb:
                raise ValueError("RGB 2D+t images cannot be written as 4D files; write one file per frame")
            img = sitk.GetImageFromArray(a[:, None], isVector=False)  # (t, 1, y, x) -> 4D
            d4 = np.eye(4)
            d4[:3, :3] = direction_lps
            img.SetSpacing([*map(float, spacing), 1.0])
            img.SetOrigin([*map(float, origin_lps), 0.0])
            img.SetDirection(d4.ravel().tolist())
        else:
            img = sitk.GetImageFromArray(a, isVector=is_rgb)
            img.SetSpacing([float(s) for s in spacing])
            img.SetOrigin([float(v) for v in origin_lps])
            img.SetDirection(direction_lps.ravel().tolist())

    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(path, f"output folder {parent} does not exist")
    tmp_dir = Path(tempfile.mkdtemp(prefix=".tmp-write-", dir=parent))
    try:
        tmp_path = tmp_dir / path.name
        try:
            sitk.WriteImage(img, str(tmp_path), useCompression=suffix in (".nrrd", ".mha", ".nii.gz"))
        except RuntimeError as err:
            raise InputError(path, f"cannot write image (SimpleITK: {_sitk_detail(err)})") from None
        # Header formats (.mhd, .nhdr) come with a data file; move it first so the header never dangles.
        produced = sorted(tmp_dir.iterdir(), key=lambda p: p.name == path.name)
        for p in produced:
            if p.name != path.name:
                refuse_overwrite(parent / p.name, overwrite)
        for p in produced:
            os.replace(p, parent / p.name)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path
