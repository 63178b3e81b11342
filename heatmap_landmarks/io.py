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
with one line naming the file. Values the file lacks and the reader had to
assume (a DICOM without PixelSpacing, a PNG without a pixel size) are listed in
:attr:`Image.assumed`, one line each. What SimpleITK, GDCM, MetaIO or libpng
print while reading is kept off the terminal; what matters in it becomes part
of the error or of those notes.
"""
from __future__ import annotations

import errno
import gzip
import os
import re
import shutil
import struct
import sys
import tempfile
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import SimpleITK as sitk

from .errors import InputError, PathLike, one_line, refuse_overwrite
from .fileutil import NO_SPACE, no_space_left
from .geometry import LPS_TO_RAS, Geometry
from .pixels import CHANNEL_MODES, GREY_FRAME, RASTER_FORMATS, resolve_channels, stored_channels, unit_rgb

__all__ = [
    "Image",
    "check_input_path",
    "check_path_name",
    "read_image",
    "read_image_series",
    "read_colour_frame",
    "read_rgb_frame",
    "write_image",
    "KINDS",
    "RGB_MODES",
]

#: Allowed values of :attr:`Image.kind`.
KINDS = ("2d", "3d", "2d+t")
#: Allowed values of ``read_image(..., rgb=)``.
RGB_MODES = CHANNEL_MODES

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
        assumed: one-line notes on values the file lacks or holds in an
            unusable form and that were assumed instead, e.g.
            ``"PixelSpacing missing in IM-1.dcm: 1.0 mm assumed"``; empty when
            the file describes itself fully. Meant to be shown to the user and
            kept with the results.

    >>> img = Image(np.zeros((1, 4, 6), np.float32), Geometry(), "2d")
    >>> img.n_frames, img.shape_hw, img.is_rgb, img.assumed
    (1, (4, 6), False, [])
    """

    array: np.ndarray
    geometry: Geometry
    kind: str
    source: str = ""
    frame_times_ms: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    assumed: list = field(default_factory=list)

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
        if isinstance(self.assumed, str) or not all(isinstance(n, str) for n in self.assumed):
            raise ValueError("Image.assumed must be a list of strings")
        self.assumed = list(self.assumed)

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


def check_path_name(path: PathLike) -> Path:
    """``path`` as a :class:`~pathlib.Path`, or an InputError when C++ libraries cannot be given its name.

    SimpleITK aborts the whole process (SIGABRT) and OpenCV crashes
    (SIGSEGV) on a name that is not valid UTF-8, e.g. a byte from another
    encoding that Python keeps as ``\\udcff``; a NUL byte cannot be in a file
    name at all. Such names are refused here, before any library sees them,
    with the bad bytes escaped in the message.

    >>> check_path_name("scan.nii.gz").name
    'scan.nii.gz'
    >>> check_path_name(os.fsdecode(b"caf\\xe9.png"))
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: caf\\xe9.png: file name is not valid UTF-8 ...
    """
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        raise InputError(path, "file name holds characters that are not valid Unicode; rename the file") from None
    if b"\0" in raw:
        raise InputError(path, "file name holds a NUL byte")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(path, "file name is not valid UTF-8 (the bad bytes are shown as \\xNN); SimpleITK and "
                               "OpenCV cannot open it: rename the file or folder") from None
    return Path(os.fsdecode(raw))


def check_input_path(path: PathLike) -> Path:
    """``path`` as a Path when it names an existing file or folder SimpleITK/OpenCV can open, else InputError.

    Says why a path cannot be reached: it does not exist, is a dangling
    symbolic link or a link loop, a folder on the way is not searchable, ...

    >>> check_input_path("/no/such/scan.nii")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: /no/such/scan.nii: file or folder does not exist
    """
    path = check_path_name(path)
    try:
        os.stat(path)
    except OSError as err:
        raise InputError(path, _unreachable(path, err)) from None
    except ValueError as err:  # e.g. a name too long for the platform's path type
        raise InputError(path, f"is not a usable path ({err})") from None
    return path


def _unreachable(path: Path, err: OSError) -> str:
    if err.errno == errno.ELOOP:
        return "is a symbolic link loop (the link points back at itself); fix the link"
    if err.errno == errno.ENOENT and os.path.islink(path):
        return f"is a symbolic link to {os.readlink(path)}, which does not exist"
    if err.errno == errno.EACCES:
        return "cannot be reached: permission denied on a folder of the path"
    if err.errno == errno.ENOTDIR:
        return "cannot be reached: a part of the path is a file, not a folder"
    if err.errno == errno.ENAMETOOLONG:
        return "path or file name is too long"
    if err.errno == errno.ENOENT:
        return "file or folder does not exist"
    return f"cannot be reached ({err.strerror})"


class LibraryOutput:
    """Keep what SimpleITK, GDCM, MetaIO and libpng print off the terminal; hand it over as text.

    Inside the block ITK's warnings are switched off and the process's
    standard error (file descriptor 2, where the C/C++ libraries write) goes
    to a temporary file; afterwards ``text`` holds what was written there,
    e.g. MetaIO's reason for a failed read. Blocks may nest; one lock keeps
    threads from interleaving their redirections.

    >>> with LibraryOutput() as out:
    ...     _ = os.write(2, b"MetaImage: Read: Cannot open data file\\n")
    >>> out.text
    'MetaImage: Read: Cannot open data file\\n'
    """

    _lock = threading.RLock()
    _depth = 0
    _file = None
    _saved_fd = None
    _saved_warnings = True

    def __init__(self) -> None:
        self.text = ""
        self._start = 0

    def __enter__(self) -> "LibraryOutput":
        cls = type(self)
        cls._lock.acquire()
        try:
            if cls._depth == 0:
                cls._saved_warnings = sitk.ProcessObject.GetGlobalWarningDisplay()
                sitk.ProcessObject.SetGlobalWarningDisplay(False)
                try:
                    sys.stderr.flush()
                except (AttributeError, OSError, ValueError):
                    pass
                try:
                    capture = tempfile.TemporaryFile()
                    saved = os.dup(2)
                except OSError:  # no usable fd 2 (a daemon, some GUI builds): warnings are still off
                    capture = saved = None
                if capture is not None:
                    os.dup2(capture.fileno(), 2)
                cls._file, cls._saved_fd = capture, saved
            cls._depth += 1
            if cls._file is not None:
                self._start = os.lseek(cls._file.fileno(), 0, os.SEEK_END)
        except BaseException:
            cls._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> bool:
        cls = type(self)
        try:
            if cls._file is not None:
                fd = cls._file.fileno()
                end = os.lseek(fd, 0, os.SEEK_END)
                os.lseek(fd, self._start, os.SEEK_SET)
                self.text = os.read(fd, end - self._start).decode("utf-8", "replace") if end > self._start else ""
                os.lseek(fd, end, os.SEEK_SET)
            cls._depth -= 1
            if cls._depth == 0:
                if cls._file is not None:
                    os.dup2(cls._saved_fd, 2)
                    os.close(cls._saved_fd)
                    cls._file.close()
                cls._file = cls._saved_fd = None
                sitk.ProcessObject.SetGlobalWarningDisplay(cls._saved_warnings)
        finally:
            cls._lock.release()
        return False


_POINTER = re.compile(r"\b\w+\(0x[0-9a-fA-F]+\):\s*")


def _sitk_detail(err: Exception, printed: str = "") -> str:
    """The useful last words of a SimpleITK exception (its text is multi-line C++ noise).

    ``printed`` is what the library wrote on stderr meanwhile (:class:`LibraryOutput`):
    MetaIO puts its reason there, while the exception ends in a stale
    ``Reason: <errno text>`` ("No such file or directory" for a file that
    exists), which is dropped.
    """
    lines = [" ".join(line.split()) for line in str(err).strip().splitlines()]
    lines = [line for line in lines if line and not line.startswith("Reason:")]
    last = lines[-1] if lines else ""
    if "ERROR:" in last:
        last = last.split("ERROR:", 1)[1]
    said = [" ".join(line.split()) for line in printed.splitlines()]
    said = [line for line in said if line and not line.startswith(("WARNING:", "Reason:"))]
    if said:
        last = "; ".join(said[-2:])
    last = _POINTER.sub("", last).strip()
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
    output = LibraryOutput()
    try:
        with output:
            reader.ReadImageInformation()
            size = reader.GetSize()
            _check_not_empty(path, size)
            return reader.Execute()
    except RuntimeError as err:
        raise InputError(path, f"cannot read as {fmt}: the file is corrupt, truncated or not a {fmt} image "
                               f"(SimpleITK: {_sitk_detail(err, output.text)})") from None


@dataclass
class _Volumes:
    """Internal result of reading: native arrays before float conversion."""

    arrays: list  # list of (F, H, W, C) native-dtype arrays, one per volume
    geometry: Geometry
    kind: str
    fmt: str
    frame_times_ms: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    assumed: list = field(default_factory=list)  # _Note objects


@dataclass(frozen=True)
class _Note:
    """What a file lacked and what was assumed: ``"<problem> in <file>: <assumed>"``.

    ``kind`` ("spacing", "orientation", "position", "geometry") lets an
    explicit ``spacing_xy`` drop the spacing notes it makes untrue.
    """

    kind: str
    problem: str
    file: str
    assumed: str

    def text(self, others: int = 0) -> str:
        more = f" and {others} more file{'s' if others > 1 else ''} of the series" if others else ""
        return one_line(f"{self.problem} in {self.file}{more}: {self.assumed}")


def _note_lines(notes) -> list[str]:
    """One line per distinct (kind, problem, assumed); the same problem in many slices is one line."""
    groups: dict = {}
    for n in notes:
        groups.setdefault((n.kind, n.problem, n.assumed), []).append(n)
    return [same[0].text(len(same) - 1) for same in groups.values()]


# ---------------------------------------------------------------------------
# NIfTI: what ITK's reader does not check
# ---------------------------------------------------------------------------
# datatype code -> (bytes per voxel, numpy float type to check for NaN/inf or None)
_NIFTI_TYPES = {2: (1, None), 4: (2, None), 8: (4, None), 16: (4, "f4"), 32: (8, "f4"), 64: (8, "f8"),
                128: (3, None), 256: (1, None), 512: (2, None), 768: (4, None), 1024: (8, None),
                1280: (8, None), 1536: (16, None), 1792: (16, "f8"), 2048: (32, None), 2304: (4, None)}
# scalar datatypes whose voxels we can hand over ourselves: code -> numpy type
_NIFTI_SCALARS = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8",
                  1280: "u8"}
_NIFTI_CHUNK = 1 << 22


def _nifti_header(head: bytes) -> dict | None:
    """The fields we check of a NIfTI-1 single-file (``n+1``) header, or None (let ITK judge it)."""
    for e in "<>":
        if len(head) >= 348 and struct.unpack(e + "i", head[:4])[0] == 348 and head[344:347] == b"n+1":
            dim = struct.unpack(e + "8h", head[40:56])
            datatype = struct.unpack(e + "h", head[70:72])[0]
            pixdim = struct.unpack(e + "8f", head[76:108])
            vox_offset = max(352, int(struct.unpack(e + "f", head[108:112])[0]))
            slope, inter = struct.unpack(e + "2f", head[112:120])
            sform_code = struct.unpack(e + "h", head[254:256])[0]
            srow = struct.unpack(e + "12f", head[280:328])
            break
    else:  # NIfTI-2 (which this ITK build does not read) and anything else: ITK judges it
        return None
    n = dim[0]
    if not 1 <= n <= 7 or any(d < 1 for d in dim[1:n + 1]) or datatype not in _NIFTI_TYPES:
        return None
    size, float_type = _NIFTI_TYPES[datatype]
    unscaled = slope in (0.0, 1.0) and inter == 0.0
    scalar = _NIFTI_SCALARS.get(datatype) if unscaled and e == "<" and sys.byteorder == "little" else None
    return {"endian": e, "shape": tuple(int(d) for d in dim[1:n + 1]),
            "nbytes": int(np.prod(dim[1:n + 1], dtype=object)) * size,
            "float": None if float_type is None else e + float_type, "scalar": scalar,
            "vox_offset": int(vox_offset), "pixdim": pixdim[1:4], "sform_code": sform_code,
            "srow": np.array(srow, np.float64).reshape(3, 4)}


def _read_up_to(f, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = f.read(min(n - got, _NIFTI_CHUNK))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _check_nifti(path: Path) -> tuple[list, dict | None, np.ndarray | None]:
    """Refuse what ITK's NIfTI reader lets through; return ``(notes, header, voxel bytes or None)``.

    ITK reads a truncated file (``.nii``, or a cut ``.nii.gz`` stream) with the
    missing voxels as 0, and it turns NaN and infinite voxels into 0. So the
    data is checked here against the header: its size (``vox_offset`` + the
    bytes of the declared shape and datatype; for ``.nii.gz`` the stream is
    decompressed and counted) and, for float data, its finiteness. One pass
    over the data, in 4 MiB pieces. The voxel bytes read on the way (all of a
    ``.nii.gz``, the float data of a ``.nii``) are returned, so that the
    stream need not be decompressed a second time (:func:`_nifti_image`).
    """
    gz = _suffix(path) == ".nii.gz"
    data = None
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
            info = _nifti_header(_read_up_to(f, 348) if gz else f.read(348))
            if info is None:
                return [], None, None
            need = info["vox_offset"] + info["nbytes"]
            if not gz and info["float"] is None:
                have = os.path.getsize(path)
            else:
                start = f.seek(info["vox_offset"])  # a gzip stream stops at its end
                data = np.empty(info["nbytes"], np.uint8)
                view, got, n_nan, n_inf = memoryview(data), 0, 0, 0
                item = np.dtype(info["float"]).itemsize if info["float"] else 1
                while start == info["vox_offset"] and got < info["nbytes"]:
                    n = f.readinto(view[got:got + _NIFTI_CHUNK])
                    if not n:
                        break
                    if info["float"]:
                        stop = got + n - (got + n) % item
                        values = data[got - got % item:stop].view(info["float"])
                        bad = ~np.isfinite(values)
                        if bad.any():
                            nan = int(np.isnan(values).sum())
                            n_nan, n_inf = n_nan + nan, n_inf + int(bad.sum()) - nan
                    got += n
                have = start + got
                while gz and have >= need and f.read(_NIFTI_CHUNK):
                    pass  # to the end of the stream, so that a cut-off gzip trailer (CRC, length) is noticed
    except (EOFError, zlib.error) as err:
        raise InputError(path, f"cannot read as NIfTI: the gzip stream is truncated or corrupt ({err})") from None
    except OSError as err:  # includes gzip.BadGzipFile
        raise InputError(path, f"cannot read as NIfTI: {err.strerror or err}") from None
    shape = " x ".join(str(d) for d in info["shape"])
    if have < need:
        missing = 100.0 * (need - have) / max(info["nbytes"], 1)
        raise InputError(path, f"NIfTI file is truncated: its header declares {shape} voxels ({info['nbytes']} "
                               f"bytes of data), but {min(missing, 100.0):.0f} % of them are missing"
                               + (" from the decompressed stream" if gz else ""))
    if info["float"] and (n_nan or n_inf):
        parts = ([f"{n_nan} NaN"] if n_nan else []) + ([f"{n_inf} infinite"] if n_inf else [])
        raise InputError(path, f"image contains {' and '.join(parts)} pixel values")
    notes = []
    if info["sform_code"] > 0:
        scales = np.linalg.norm(info["srow"][:, :3], axis=0)
        pixdim = np.abs(np.array(info["pixdim"], np.float64))
        if np.any(np.abs(scales - pixdim) > 1e-3):  # ITK's own test (it prints a warning)
            notes.append(_Note("geometry", f"NIfTI sform scales ({', '.join(f'{v:g}' for v in scales)} mm) differ "
                                           f"from pixdim ({', '.join(f'{v:g}' for v in pixdim)} mm)",
                               path.name, "the pixdim spacing used"))
    return notes, info, data


def _nifti_image(path: Path, info: dict | None, data: np.ndarray | None) -> sitk.Image:
    """The NIfTI image: ITK's geometry with the voxels already read by :func:`_check_nifti` when possible.

    A plain scalar file (little endian, no intensity scaling) gets its voxels
    from ``data`` (saves decompressing a ``.nii.gz`` twice); anything else, or
    a header ITK sees differently, is read by ITK as usual.
    """
    if data is None or info is None or info["scalar"] is None or len(info["shape"]) > 4:
        return _read_sitk(path, "NiftiImageIO", "NIfTI")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("NiftiImageIO")
    output = LibraryOutput()
    try:
        with output:
            reader.ReadImageInformation()
    except RuntimeError as err:
        raise InputError(path, f"cannot read as NIfTI: the file is corrupt, truncated or not a NIfTI image "
                               f"(SimpleITK: {_sitk_detail(err, output.text)})") from None
    voxels = data.view(info["scalar"]).reshape(info["shape"][::-1])
    img = sitk.GetImageFromArray(voxels, isVector=False)
    if (tuple(reader.GetSize()) != info["shape"] or reader.GetNumberOfComponents() != 1
            or reader.GetPixelID() != img.GetPixelID()):
        return _read_sitk(path, "NiftiImageIO", "NIfTI")
    img.SetSpacing(reader.GetSpacing())
    img.SetOrigin(reader.GetOrigin())
    img.SetDirection(reader.GetDirection())
    return img


def _detached_data_file(path: Path, fmt: str) -> None:
    """A ``.mhd``/``.nhdr`` header names its data file; say so when that file is missing.

    (MetaIO's own message ends in "No such file or directory", which reads as
    if the header itself were missing.)
    """
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16).decode("latin-1")
    except OSError:
        return
    name = None
    for line in head.splitlines():
        if fmt == "MetaImage" and line.strip().lower().startswith("elementdatafile"):
            name = line.split("=", 1)[-1].strip()
        elif fmt == "NRRD" and line.lower().startswith(("data file:", "datafile:")):
            name = line.split(":", 1)[1].strip()
    if not name or name.upper() in ("LOCAL", "LIST") or "%" in name or " " in name:
        return  # inline data, a file list or a numbered pattern: ITK judges those
    data = Path(name) if os.path.isabs(name) else path.parent / name
    check_path_name(data)
    if not data.is_file():
        raise InputError(path, f"its data file {name} (named in the header) does not exist")


# ---------------------------------------------------------------------------
# DICOM: what GDCM defaults silently
# ---------------------------------------------------------------------------
_LONG_VRS = (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV")
_UNDEFINED = 0xFFFFFFFF
_NATIVE_SYNTAXES = {"1.2.840.10008.1.2": False, "1.2.840.10008.1.2.1": True}  # uncompressed LE -> explicit VR?
_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_PIXEL_TAGS = {(0x0028, 0x0002): "samples", (0x0028, 0x0008): "frames", (0x0028, 0x0010): "rows",
               (0x0028, 0x0011): "columns", (0x0028, 0x0100): "bits"}


class _Walk:
    """Reads DICOM data elements (little endian) by seeking: only tags and lengths, never the pixels."""

    def __init__(self, f, explicit: bool):
        self.f, self.explicit, self.steps = f, explicit, 0

    def element(self, pos: int):
        """``(group, element, VR, value length, value start)`` at ``pos``, or None at the end of the file."""
        self.steps += 1
        if self.steps > 200_000:
            raise ValueError("too many elements")
        self.f.seek(pos)
        h = self.f.read(8)
        if len(h) < 8:
            return None
        group, elem = struct.unpack("<HH", h[:4])
        if group == 0xFFFE or not self.explicit:  # items/delimiters never have a VR
            return group, elem, b"", struct.unpack("<I", h[4:8])[0], pos + 8
        vr = h[4:6]
        if vr in _LONG_VRS:
            more = self.f.read(4)
            if len(more) < 4:
                return None
            return group, elem, vr, struct.unpack("<I", more)[0], pos + 12
        return group, elem, vr, struct.unpack("<H", h[6:8])[0], pos + 8

    def skip_undefined(self, pos: int, depth: int = 0) -> int:
        """End of a value of undefined length (a sequence of items) that starts at ``pos``."""
        if depth > 32:
            raise ValueError("nested too deep")
        while True:
            e = self.element(pos)
            if e is None:
                raise ValueError("ends inside a sequence")
            group, elem, _, length, start = e
            if (group, elem) == (0xFFFE, 0xE0DD):  # sequence delimiter
                return start
            if (group, elem) != (0xFFFE, 0xE000):
                raise ValueError("not an item")
            if length != _UNDEFINED:
                pos = start + length
                continue
            pos = start
            while True:  # an item of undefined length: elements up to its delimiter
                e = self.element(pos)
                if e is None:
                    raise ValueError("ends inside an item")
                g2, e2, _, l2, s2 = e
                if (g2, e2) == (0xFFFE, 0xE00D):
                    pos = s2
                    break
                pos = self.skip_undefined(s2, depth + 1) if l2 == _UNDEFINED else s2 + l2


def _dicom_layout(path: Path) -> dict | None:
    """Header facts of a DICOM file with the ``DICM`` preamble, read without GDCM, or None.

    Keys: ``sop_class`` (MediaStorageSOPClassUID), ``native`` (uncompressed
    little endian), the image pixel module values found (``rows``,
    ``columns``, ``samples``, ``bits``, ``frames``) and, for native files,
    ``pixel_length``/``pixel_start`` of the top-level PixelData and the file
    ``size``. Anything it cannot follow ends the walk early; the caller then
    checks less, never more.
    """
    out: dict = {}
    try:
        with open(path, "rb") as f:
            head = f.read(132)
            if len(head) < 132 or head[128:132] != b"DICM":
                return None
            out["size"] = os.fstat(f.fileno()).st_size
            walk, pos, syntax = _Walk(f, True), 132, None
            while True:  # group 0002 is always explicit VR little endian
                e = walk.element(pos)
                if e is None or e[0] != 0x0002:
                    break
                _, elem, _, length, start = e
                if elem in (0x0002, 0x0010) and length < 256:
                    f.seek(start)
                    value = f.read(length).rstrip(b"\0 ").decode("ascii", "replace")
                    out["sop_class" if elem == 0x0002 else "syntax"] = value
                    syntax = value if elem == 0x0010 else syntax
                pos = start + length
            explicit = _NATIVE_SYNTAXES.get(syntax)
            out["native"] = explicit is not None
            walk = _Walk(f, True if explicit is None else explicit)
            while True:
                e = walk.element(pos)
                if e is None:
                    break
                group, elem, vr, length, start = e
                if (group, elem) == (0x7FE0, 0x0010):
                    if explicit is not None and length != _UNDEFINED:
                        out["pixel_length"], out["pixel_start"] = length, start
                    break
                if (group, elem) in _PIXEL_TAGS and length != _UNDEFINED and length <= 64:
                    f.seek(start)
                    raw = f.read(length)
                    name = _PIXEL_TAGS[(group, elem)]
                    if name == "frames":  # IS: a decimal string
                        text = raw.decode("ascii", "replace").strip(" \0")
                        out[name] = int(text) if text.isdigit() else None
                    elif len(raw) == 2:
                        out[name] = struct.unpack("<H", raw)[0]
                if length == _UNDEFINED:
                    pos = walk.skip_undefined(start)
                else:
                    pos = start + length
    except (OSError, ValueError, struct.error):
        pass
    return out


def _dicom_pixel_problem(path: Path) -> str | None:
    """Why the pixel data of an uncompressed DICOM file cannot be what its header declares, or None.

    GDCM reads short pixel data as whatever bytes follow (garbage), so the
    declared PixelData length is compared with Rows x Columns x samples x
    frames x BitsAllocated, and with what the file holds.
    """
    info = _dicom_layout(path)
    if not info or "pixel_length" not in info:
        return None
    rows, cols, bits = info.get("rows"), info.get("columns"), info.get("bits")
    if not rows or not cols or not bits or bits % 8:
        return None
    samples, frames = info.get("samples") or 1, info.get("frames") or 1
    need = rows * cols * samples * frames * bits // 8
    length, available = info["pixel_length"], info["size"] - info["pixel_start"]
    what = f"{rows} rows x {cols} columns" + (f" x {frames} frames" if frames > 1 else "") + \
        (f" x {samples} samples" if samples > 1 else "") + f" of {bits}-bit pixels need {need} bytes"
    if length < need:
        return f"pixel data too short: it holds {length} bytes, but {what}; the file is corrupt"
    if available < need:
        return f"DICOM file is truncated: {what}, but only {max(available, 0)} bytes of pixel data are in the file"
    return None


def _ds_values(text: str | None) -> list[float] | None:
    """A DICOM decimal-string list as floats; None when missing or not numbers."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split("\\")]
    except ValueError:
        return None
    return values if all(np.isfinite(values)) else None


def _dicom_geometry(path: Path, img, spacing: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> list:
    """Notes on the geometry tags GDCM silently replaces; corrects ``spacing``/``direction`` in place.

    GDCM gives 1.0 mm for a missing, zero or non-numeric PixelSpacing, a
    *negative* spacing that ITK turns into a mirrored direction, the identity
    for a missing or unusable ImageOrientationPatient and origin 0 for a
    missing ImagePositionPatient. Each case is noted (and a negative spacing
    un-mirrored) only when the value used is that default, so geometry that
    GDCM found elsewhere (e.g. the functional groups of a multi-frame file)
    is not questioned.
    """
    name, notes = path.name, []
    raw = _meta(img, "0028|0030")
    values = _ds_values(raw)
    unit = np.allclose(spacing[:2], 1.0)
    if raw is None:
        if unit:
            notes.append(_Note("spacing", "PixelSpacing missing", name, "1.0 mm assumed"))
    elif values is None or len(values) not in (1, 2) or min(values) <= 0:
        if values and len(values) in (1, 2):  # ITK mirrors the axes whose spacing is negative
            for axis, v in enumerate(values[::-1] if len(values) == 2 else values * 2):
                if v < 0:
                    direction[:, axis] *= -1.0
        spacing[:2] = 1.0
        notes.append(_Note("spacing", f"PixelSpacing invalid ('{raw}')", name, "1.0 mm assumed"))
    elif len(values) == 1:
        notes.append(_Note("spacing", f"PixelSpacing has one value ({raw})", name,
                           f"{values[0]:g} mm assumed for rows and columns"))
    raw = _meta(img, "0020|0037")
    values = _ds_values(raw)
    identity = np.allclose(direction[:, :2], np.eye(3)[:, :2], atol=1e-6)
    usable = values is not None and len(values) == 6 and all(
        abs(np.linalg.norm(v) - 1.0) < 1e-2 for v in (values[:3], values[3:])) and abs(
        float(np.dot(values[:3], values[3:]))) < 1e-2
    if identity and not usable:
        problem = "ImageOrientationPatient missing" if raw is None else f"ImageOrientationPatient invalid ('{raw}')"
        notes.append(_Note("orientation", problem, name, "axial orientation (LPS identity) assumed"))
    raw = _meta(img, "0020|0032")
    values = _ds_values(raw)
    if np.allclose(origin, 0.0) and (values is None or len(values) != 3):
        problem = "ImagePositionPatient missing" if raw is None else f"ImagePositionPatient invalid ('{raw}')"
        notes.append(_Note("position", problem, name, "origin (0, 0, 0) mm assumed"))
    return notes


def _raster_has_spacing(data: bytes, fmt: str) -> bool:
    """Whether a PNG (an ``sCAL`` chunk) or JPEG (JFIF density in dpi or dots/cm) states its pixel size.

    These are what ITK, and so Slicer, read as the pixel spacing; a PNG's
    ``pHYs`` print resolution is not.
    """
    if fmt == "PNG":
        pos = 8
        while pos + 8 <= len(data):
            length = int.from_bytes(data[pos:pos + 4], "big")
            kind = data[pos + 4:pos + 8]
            if kind == b"sCAL":
                return length >= 4 and data[pos + 8] in (1, 2)
            if kind in (b"IDAT", b"IEND"):
                return False
            pos += 12 + length
        return False
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xE0 and data[pos + 4:pos + 9] == b"JFIF\0" and length >= 14:
            units = data[pos + 11]
            return units in (1, 2) and int.from_bytes(data[pos + 12:pos + 14], "big") > 0 and \
                int.from_bytes(data[pos + 14:pos + 16], "big") > 0
        if marker == 0xDA:  # start of scan: no more headers
            return False
        pos += 2 + length
    return False


def _read_raster(path: Path, image_io: str, fmt: str) -> _Volumes:
    """PNG/JPEG pixels through OpenCV (SimpleITK cannot read grey+alpha PNGs); pixel size through ITK."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(_MAGIC[fmt]):
        raise InputError(path, f"cannot read as {fmt}: the file does not start with a {fmt} signature "
                               f"(corrupt, or another format with a {_suffix(path)} name)")
    with LibraryOutput():  # libpng/libjpeg warnings ("iCCP: known incorrect sRGB profile", ...)
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise InputError(path, f"cannot read as {fmt}: the file is corrupt or truncated")
    _check_not_empty(path, pixels.shape)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    elif pixels.shape[2] in (3, 4):  # OpenCV is BGR(A)
        pixels = np.concatenate([pixels[..., 2::-1], pixels[..., 3:]], axis=-1)
    spacing, notes = [1.0, 1.0], []
    if _raster_has_spacing(data, fmt):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        reader.SetImageIO(image_io)
        try:
            with LibraryOutput():
                reader.ReadImageInformation()
            spacing = list(reader.GetSpacing())[:2]
        except RuntimeError:  # e.g. grey+alpha PNG: ITK cannot describe it
            notes.append(_Note("spacing", "unreadable pixel spacing", f"{fmt} file {path.name}", "1.0 mm assumed"))
    else:
        notes.append(_Note("spacing", "no pixel spacing", f"{fmt} file {path.name}", "1.0 mm assumed"))
    # Slicer's (ITK's) placement of a raster image: origin 0, LPS identity axes.
    geometry = _lps_to_ras_geometry([spacing[0], spacing[1], 1.0], np.zeros(3), np.eye(3))
    return _Volumes([pixels[None]], geometry, "2d", fmt, metadata={"format": fmt}, assumed=notes)


def _read_file(path: Path, *, allow_series: bool) -> _Volumes:
    image_io, fmt = _format_of(path)
    if fmt in RASTER_FORMATS:
        return _read_raster(path, image_io, fmt)
    notes = []
    if fmt == "NIfTI":
        notes, info, data = _check_nifti(path)
        img = _nifti_image(path, info, data)
    else:
        if _suffix(path) in (".mhd", ".nhdr"):
            _detached_data_file(path, fmt)
        elif fmt == "DICOM":
            problem = _dicom_pixel_problem(path)
            if problem:
                raise InputError(path, problem)
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
                return _Volumes([arr[t] for t in range(n_t)], geometry, "3d", fmt, metadata=metadata, assumed=notes)
            raise InputError(path, f"this is a 3D+t image ({n_z} slices x {n_t} time points); load it in Slicer "
                                   f"as a sequence, split it into one 3D file per time point, or use "
                                   f"read_image_series() to get one 3D image per time point")
        if n_z == 1 and n_t > 1:
            geometry = _lps_to_ras_geometry(spacing, origin, direction)
            return _Volumes([arr[:, 0]], geometry, "2d+t", fmt, metadata=metadata, assumed=notes)
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
    if fmt == "DICOM":
        notes += _dicom_geometry(path, img, spacing, origin, direction)
    geometry = _lps_to_ras_geometry(spacing, origin, direction)
    kind = "2d" if arr.shape[0] == 1 else "3d"
    return _Volumes([arr], geometry, kind, fmt, metadata=metadata, assumed=notes)


# ---------------------------------------------------------------------------
# DICOM folders
# ---------------------------------------------------------------------------
def _series_summary(uid: str, files) -> str:
    description = ""
    reader = sitk.ImageFileReader()
    reader.SetImageIO("GDCMImageIO")
    reader.SetFileName(files[0])
    try:
        with LibraryOutput():
            reader.ReadImageInformation()
        description = _meta(reader, "0008|103e") or _meta(reader, "0008|0060") or ""
    except RuntimeError:
        pass
    description = description.replace('"', "'")
    return f'{uid or "(no SeriesInstanceUID)"} ("{description}", {len(files)} files)'


def _unlisted_images(entries: list[Path], listed: set) -> list[Path]:
    """Files of the folder that declare an image (DICM preamble, Rows/Columns) but that GDCM put in no series.

    GDCM's series scan silently leaves out files it cannot parse, such as a
    truncated slice; non-image objects (DICOMDIR, reports) are no loss.
    """
    out = []
    for p in entries:
        if os.path.abspath(p) in listed:
            continue
        info = _dicom_layout(p)
        if info and info.get("sop_class") != _DICOMDIR_CLASS and (info.get("rows") or info.get("columns")):
            out.append(p)
    return out


def _read_dicom_folder(folder: Path, series_uid: str | None, *, allow_series: bool) -> _Volumes:
    try:
        names = sorted(os.listdir(folder))
    except OSError as err:
        raise InputError(folder, f"cannot list the folder ({err.strerror})") from None
    entries = []
    for n in names:
        if n.startswith(".") or not (folder / n).is_file():
            continue
        entries.append(check_path_name(folder / n))  # GDCM would hand a bad name to ITK, which aborts
    if not entries:
        raise InputError(folder, "empty folder: no image files in it")
    output = LibraryOutput()
    try:
        with output:
            uids = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
            files_of = {uid: list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid)) for uid in uids}
    except RuntimeError as err:
        raise InputError(folder, f"cannot scan folder for DICOM series (SimpleITK: {_sitk_detail(err, output.text)})") from None
    listed = {os.path.abspath(f) for files in files_of.values() for f in files}
    unlisted = _unlisted_images(entries, listed)
    if not uids:
        if unlisted:
            _raise_unreadable(unlisted[0], "")
        raise InputError(folder, f"folder has no DICOM series ({len(entries)} files, none of them DICOM); give the "
                                 f"path of a single image file instead")
    choose = "choose one with series_uid=<SeriesInstanceUID> (CLI: --series-uid) or put each series in its own folder"
    if series_uid is None:
        if len(uids) > 1:
            listing = "; ".join(_series_summary(u, files_of[u]) for u in uids)
            raise InputError(folder, f"folder has {len(uids)} DICOM series: {listing}; {choose}")
        series_uid = uids[0]
    elif series_uid not in files_of:
        listing = "; ".join(_series_summary(u, files_of[u]) for u in uids)
        raise InputError(folder, f"no DICOM series with SeriesInstanceUID {series_uid} in this folder; it has: "
                                 f"{listing}; {choose.split(' or ')[0]}")
    if unlisted:  # a slice of this series may be among them: never return a volume with a hole in it
        _raise_unreadable(unlisted[0], f" of series {series_uid}" if len(uids) == 1 else "")
    files = files_of[series_uid]
    label = series_uid or "(no SeriesInstanceUID)"

    slices = []
    for name in files:
        problem = _dicom_pixel_problem(Path(name))
        if problem:
            raise InputError(name, problem)
        img = _read_sitk(Path(name), "GDCMImageIO", "DICOM")
        if img.GetDimension() == 3 and img.GetSize()[2] != 1:
            raise InputError(name, f"multi-frame DICOM file ({img.GetSize()[2]} frames) inside a series folder is not "
                                   f"supported; give the path of this file on its own")
        spacing, origin, direction = _spatial_lps(img)
        notes = _dicom_geometry(Path(name), img, spacing, origin, direction)
        arr = sitk.GetArrayFromImage(img)
        if img.GetNumberOfComponentsPerPixel() == 1:
            arr = arr[..., None]
        if arr.ndim == 3:
            arr = arr[None]
        slices.append({
            "name": name, "array": arr[0], "spacing": spacing, "origin": origin, "direction": direction,
            "trigger": _meta_float(img, "0018|1060"), "instance": _meta_float(img, "0020|0013"),
            "thickness": _meta_float(img, "0018|0050") or _meta_float(img, "0018|0088"),
            "patient": _meta(img, "0010|0020"), "img": img, "notes": notes,
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
    notes = [n for s in slices for n in s["notes"]]
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
            return _Volumes([arr], plane_geometry(ordered[0]), "2d", "DICOM", metadata=metadata, assumed=notes)
        times = [s["trigger"] for s in ordered]
        frame_times = np.array(times, dtype=np.float64) if all(t is not None for t in times) else None
        return _Volumes([arr], plane_geometry(ordered[0]), "2d+t", "DICOM", frame_times, metadata, notes)

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
        gap = int(np.argmax(step_len))
        raise InputError(folder, f"slice spacing in series {label} is not uniform ({step_len.min():.3f} to "
                                 f"{step_len.max():.3f} mm; the widest gap is between "
                                 f"{Path(groups[gap][0]['name']).name} and {Path(groups[gap + 1][0]['name']).name}); "
                                 f"slices may be missing")
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
    return _Volumes(volumes, geometry, "3d", "DICOM", metadata=metadata, assumed=notes)


def _raise_unreadable(path: Path, series: str) -> None:
    problem = _dicom_pixel_problem(path)
    if problem:
        raise InputError(path, f"{problem}; it lies with the images of this folder{series}, so a slice would be "
                               f"missing: fix or remove this file")
    try:
        _read_sitk(path, "GDCMImageIO", "DICOM")
    except InputError as err:
        raise InputError(path, f"{err.problem}; GDCM left it out of the folder's series{series}, so a slice would "
                               f"be missing: fix or remove this file") from None
    raise InputError(path, f"GDCM left this image out of the folder's series{series} although it can be read on "
                           f"its own (no SeriesInstanceUID?); give it on its own or remove it")


# ---------------------------------------------------------------------------
# public readers
# ---------------------------------------------------------------------------
def _load(path: PathLike, series_uid: str | None, *, allow_series: bool) -> tuple[Path, _Volumes]:
    path = check_input_path(path)
    if path.is_dir():
        return path, _read_dicom_folder(path, series_uid, allow_series=allow_series)
    if series_uid is not None:
        raise InputError(path, "series_uid only applies to a DICOM folder, but this is a single file")
    if not os.access(path, os.R_OK):
        raise InputError(path, "file is not readable (permission denied)")
    return path, _read_file(path, allow_series=allow_series)


def _spacing_override(spacing_xy) -> tuple[float, float] | None:
    if spacing_xy is None:
        return None
    try:
        sx, sy = (float(v) for v in spacing_xy)
    except (TypeError, ValueError):
        raise InputError(None, f"pixel spacing must be two numbers (column, row) in mm, got {spacing_xy!r}") from None
    if not (np.isfinite(sx) and np.isfinite(sy) and sx > 0 and sy > 0):
        raise InputError(None, f"pixel spacing must be two positive numbers (column, row) in mm, got {spacing_xy!r}")
    return sx, sy


def _with_spacing(path: Path, vols: _Volumes, spacing_xy: tuple[float, float] | None) -> tuple[Geometry, list[str]]:
    """The geometry with an explicit in-plane spacing, and the notes that stay true."""
    notes = list(vols.assumed)
    geometry = vols.geometry
    if spacing_xy is not None:
        from_file = not any(n.kind == "spacing" for n in notes)
        old = geometry.spacing[:2]
        if from_file and not np.allclose(old, spacing_xy, rtol=1e-6, atol=0):
            notes.append(_Note("given", f"pixel spacing {old[0]:g} x {old[1]:g} mm (column x row)", path.name,
                               f"replaced by the given {spacing_xy[0]:g} x {spacing_xy[1]:g} mm"))
        notes = [n for n in notes if n.kind != "spacing"]
        geometry = geometry.with_spacing([spacing_xy[0], spacing_xy[1], geometry.spacing[2]])
    return geometry, _note_lines(notes)


def _to_image(path: Path, vols: _Volumes, native: np.ndarray, rgb: str, spacing_xy=None) -> Image:
    _check_not_empty(path, native.shape)
    pixels = resolve_channels(native, rgb, source=path, fmt=vols.fmt)
    array = _to_float32(path, pixels)
    geometry, notes = _with_spacing(path, vols, spacing_xy)
    return Image(array, geometry, vols.kind, os.fspath(path), vols.frame_times_ms, dict(vols.metadata), notes)


def read_image(path: PathLike, *, series_uid: str | None = None, rgb: str = "auto",
               spacing_xy=None) -> Image:
    """Read an image file or DICOM series folder with its RAS geometry.

    Args:
        path: file (NIfTI, NRRD, MetaImage, DICOM, PNG, JPEG) or DICOM folder.
        series_uid: SeriesInstanceUID to pick when a folder holds several series.
        rgb: colour handling. ``"auto"``: grey stored as RGB becomes one
            channel, true colour stays ``(F, H, W, 3)``. ``"grey"``: always one
            channel; colour whose channels differ is an InputError (the cardiac
            path). ``"keep"``: RGB files stay ``(F, H, W, 3)`` even when grey
            (the suture path).
        spacing_xy: ``(column, row)`` pixel size in mm that replaces the
            file's in-plane spacing (for files that lack one, such as PNG, or
            hold a wrong one); None keeps the file's. A replaced value that
            differs from the file's is noted in :attr:`Image.assumed`.

    Returns:
        :class:`Image` with a float32 array of the stored values; what had to
        be assumed (no PixelSpacing, no orientation, ...) is in ``assumed``.

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
    spacing_xy = _spacing_override(spacing_xy)
    path, vols = _load(path, series_uid, allow_series=False)
    return _to_image(path, vols, vols.arrays[0], rgb, spacing_xy)


def read_image_series(path: PathLike, *, series_uid: str | None = None, rgb: str = "auto",
                      spacing_xy=None) -> list[Image]:
    """Read a 3D+t file or DICOM folder as a list of 3D images, one per time point.

    Anything else gives a one-element list (same as :func:`read_image`, whose
    arguments these are).

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
    spacing_xy = _spacing_override(spacing_xy)
    path, vols = _load(path, series_uid, allow_series=True)
    return [_to_image(path, vols, native, rgb, spacing_xy) for native in vols.arrays]


def read_rgb_frame(path: PathLike, *, allow_grey: bool = True) -> np.ndarray:
    """Read one colour frame (e.g. an endoscopic video frame) as RGB.

    Channels and values follow :mod:`heatmap_landmarks.pixels`.

    Args:
        allow_grey: a file that stores grey pixels (one channel, or grey +
            alpha) is repeated into three channels when True and refused with
            one line when False (:func:`read_colour_frame`).

    Returns:
        ``(H, W, 3)`` float32 in [0, 1], channels in R, G, B order.

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
    pixels = resolve_channels(native, "keep", source=path, fmt=vols.fmt)[0]
    if not allow_grey and (pixels.ndim == 2 or stored_channels(path) in (1, 2)):
        raise InputError(path, GREY_FRAME)  # decoders hand grey + alpha PNGs out as colour: the header tells
    if pixels.dtype.kind == "c":
        raise InputError(path, "image has complex pixel values; expected real greyscale or RGB")
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    return unit_rgb(pixels, path)


def read_colour_frame(path: PathLike) -> np.ndarray:
    """:func:`read_rgb_frame` for models that need colour: files stored in grey are refused with one line.

    A grey picture stored as three equal channels is accepted.
    """
    return read_rgb_frame(path, allow_grey=False)


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
    path = check_path_name(path)
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
        output = LibraryOutput()
        try:
            with output:
                sitk.WriteImage(img, str(tmp_path), useCompression=suffix in (".nrrd", ".mha", ".nii.gz"))
        except RuntimeError as err:
            if no_space_left(tmp_dir):
                raise InputError(path, f"cannot write image: {NO_SPACE}") from None
            raise InputError(path, f"cannot write image (SimpleITK: {_sitk_detail(err, output.text)})") from None
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
