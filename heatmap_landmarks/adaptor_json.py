"""Suture point files: AdaptOR 2021 per-frame labels, challenge submissions, and the points CSV.

Formats (coordinates are pixels, ``x`` = column, ``y`` = row, used as 0-based
pixel-centre coordinates after subtracting :data:`LABEL_COORDINATE_OFFSET`):

* per-frame label (``<video>/point_labels/000000.json``)::

      {"points": [{"x": 101.5, "y": 40.0}, ...], "imageHeight": 288, "imageWidth": 512}

  ``imageHeight``/``imageWidth`` are optional when reading.
* submission (one file for many frames)::

      [{"folderName": "op01", "subfolderName": "video01", "imageFileName": "000000.png",
        "points": [{"x": .., "y": ..}, ...]}, ...]

* points CSV, one row per point, columns exactly :data:`SUTURE_CSV_COLUMNS`
  (``frame,label,x,y,confidence``; ``frame`` is the frame's image file name,
  confidence is empty for points without one, e.g. added by hand).

Every writer is atomic (temporary file in the target folder, then
``os.replace``) and refuses to replace an existing file unless
``overwrite=True``. :class:`SubmissionWriter` and :class:`SutureCsvWriter`
stream: entries are written as they come, so a long video's results never
sit in memory.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator

import numpy as np

from .fileutil import atomic_text_file
from .errors import InputError, PathLike, refuse_overwrite

__all__ = [
    "LABEL_COORDINATE_OFFSET",
    "SUTURE_CSV_COLUMNS",
    "SubmissionEntry",
    "SubmissionWriter",
    "SutureCsvWriter",
    "atomic_text_file",
    "MAX_JSON_DEPTH",
    "json_number",
    "json_positive_int",
    "parse_json",
    "read_json",
    "read_point_labels",
    "write_point_labels",
    "read_submission_json",
    "write_submission_json",
    "read_reference_points",
    "write_suture_csv",
]

#: Subtracted from file coordinates when reading, added back when writing.
LABEL_COORDINATE_OFFSET = 0.0
#: Columns of the suture points CSV, in order.
SUTURE_CSV_COLUMNS = ("frame", "label", "x", "y", "confidence")
_DECIMALS = 4  # 1e-4 px is far below any labelling precision
#: Deepest nesting of arrays/objects a JSON file may have (the formats read here need 4).
MAX_JSON_DEPTH = 64
#: Largest coordinate magnitude a point may have: what float32, the points' type, holds.
_MAX_COORDINATE = float(np.finfo(np.float32).max)
#: Largest image side (imageHeight/imageWidth), pixels: OpenCV's and numpy's int32 sizes.
_MAX_SIDE = 2**31 - 1
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _nesting_depth(text: str) -> int:
    """Deepest ``[``/``{`` nesting of JSON text, brackets inside strings not counted (no recursion)."""
    bare = _JSON_STRING.sub("", text)
    codes = np.frombuffer(bare.encode("utf-8", "surrogatepass"), np.uint8)
    step = ((codes == 0x5B) | (codes == 0x7B)).astype(np.int32) - ((codes == 0x5D) | (codes == 0x7D))
    return int(np.cumsum(step).max(initial=0))


def parse_json(text: str, source: PathLike | None = None, *, max_depth: int = MAX_JSON_DEPTH):
    """Parse JSON text; every failure is one :class:`InputError` naming ``source``.

    Nesting deeper than ``max_depth`` is refused before :func:`json.loads`
    could recurse into it (100,000 nested brackets end in RecursionError);
    integers too long for Python's int parser are refused the same way. NaN
    and Infinity are parsed (the callers' field checks name the field).

    >>> parse_json('{"a": [1, 2]}')
    {'a': [1, 2]}
    >>> parse_json("[" * 100 + "]" * 100, "deep.json")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: deep.json: JSON nested 100 levels deep; at most 64 are allowed
    """
    depth = _nesting_depth(text)
    if depth > max_depth:
        raise InputError(source, f"JSON nested {depth} levels deep; at most {max_depth} are allowed")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(source, f"is not valid JSON (line {err.lineno}: {err.msg})") from None
    except (ValueError, RecursionError) as err:  # e.g. an integer of more than 4300 digits
        raise InputError(source, f"cannot be parsed as JSON ({str(err)[:120]})") from None


def read_json(path: PathLike):
    """Parse a UTF-8 JSON file (a BOM is tolerated); every failure is one :class:`InputError` line.

    >>> p = os.path.join(tempfile.mkdtemp(), "bad.json")
    >>> _ = open(p, "w").write('{"points": [')
    >>> read_json(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: ...bad.json: is not valid JSON (line 1: Expecting value)
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(path, "file does not exist") from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(path, "is not UTF-8 text") from None
    except ValueError as err:  # e.g. a NUL byte in the path
        raise InputError(path, f"cannot be opened ({err})") from None
    return parse_json(text, path)


def _shown(value) -> str:
    """``repr`` of a JSON value, cut short (a 400-digit integer is no message)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long for repr()
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= 40 else text[:37] + "..."


def json_number(value, path: PathLike | None, what: str) -> float:
    """``value`` read from a JSON file as a finite float32-sized number; anything else is an InputError.

    Booleans, strings, NaN, infinities and magnitudes beyond float32 (the
    points' type: ``1e300`` would become ``inf``) are refused, naming ``what``.

    >>> json_number(3, "a.json", "point 0 x")
    3.0
    >>> json_number("3", "a.json", "point 0 x")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: a.json: point 0 x must be a finite number, got '3'
    >>> json_number(1e300, "a.json", "point 0 x")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: a.json: point 0 x must be a finite number of at most 3.4e+38 (float32), got 1e+300
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(path, f"{what} must be a finite number, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not math.isfinite(number) and isinstance(value, float):
        raise InputError(path, f"{what} must be a finite number, got {_shown(value)}")
    if not abs(number) <= _MAX_COORDINATE:
        raise InputError(path, f"{what} must be a finite number of at most {_MAX_COORDINATE:.2g} (float32), "
                               f"got {_shown(value)}")
    return number


def json_positive_int(value, path: PathLike | None, what: str) -> int:
    """``value`` read from a JSON file as a positive int (``288`` or ``288.0``) up to 2**31 - 1, else an InputError.

    >>> json_positive_int(288.0, "a.json", "imageHeight")
    288
    >>> json_positive_int(0, "a.json", "imageHeight")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: a.json: imageHeight must be a positive whole number, got 0
    >>> json_positive_int(float("inf"), "a.json", "imageHeight")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: a.json: imageHeight must be a positive whole number, got inf
    """
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if isinstance(value, bool) or not whole or value <= 0:
        raise InputError(path, f"{what} must be a positive whole number, got {_shown(value)}")
    if value > _MAX_SIDE:
        raise InputError(path, f"{what} must be at most {_MAX_SIDE} pixels, got {_shown(value)}")
    return int(value)


def _points_from_json(raw, path: str, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise InputError(path, f'{where}"points" must be a list, got {type(raw).__name__}')
    points = np.zeros((len(raw), 2), dtype=np.float32)
    for n, p in enumerate(raw):
        if not isinstance(p, dict) or "x" not in p or "y" not in p:
            raise InputError(path, f'{where}point {n} must be {{"x": .., "y": ..}}, got {_shown(p)}')
        points[n] = (json_number(p["x"], path, f"{where}point {n} x"),
                     json_number(p["y"], path, f"{where}point {n} y"))
    return points - np.float32(LABEL_COORDINATE_OFFSET)


def _points_to_json(points) -> list[dict]:
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(p)):
        raise InputError(None, "points to write contain NaN or infinite coordinates")
    p = p + LABEL_COORDINATE_OFFSET
    return [{"x": round(float(x), _DECIMALS), "y": round(float(y), _DECIMALS)} for x, y in p]


# ---------------------------------------------------------------------------
# per-frame labels
# ---------------------------------------------------------------------------
def read_point_labels(path: PathLike) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Read an AdaptOR ``point_labels/*.json`` file.

    Returns:
        ``(points (N, 2) float32 (x, y) px, (imageHeight, imageWidth) or None)``.

    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "000000.json")
    >>> _ = write_point_labels(p, [[3.5, 4.0]], (24, 32))
    >>> pts, size = read_point_labels(p); pts.tolist(), size
    ([[3.5, 4.0]], (24, 32))
    """
    path = os.fspath(path)
    data = read_json(path)
    if not isinstance(data, dict) or "points" not in data:
        raise InputError(path, 'has no "points" key; expected {"points": [{"x": .., "y": ..}, ...], ...}')
    points = _points_from_json(data["points"], path, "")
    size = None
    if "imageHeight" in data or "imageWidth" in data:
        if "imageHeight" not in data or "imageWidth" not in data:
            raise InputError(path, "has only one of imageHeight/imageWidth")
        size = (json_positive_int(data["imageHeight"], path, "imageHeight"),
                json_positive_int(data["imageWidth"], path, "imageWidth"))
    return points, size


def write_point_labels(path: PathLike, points, image_size, *, overwrite: bool = False) -> str:
    """Write one frame's points as an AdaptOR label JSON, atomically.

    Args:
        points: ``(N, 2)`` (x, y) pixels, N >= 0.
        image_size: ``(height, width)`` of the frame in pixels.
    """
    height, width = (int(v) for v in image_size)
    if height <= 0 or width <= 0:
        raise InputError(path, f"image size must be positive, got {image_size!r}")
    record = {"points": _points_to_json(points), "imageHeight": height, "imageWidth": width}
    with atomic_text_file(path, overwrite=overwrite) as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    return os.fspath(path)


# ---------------------------------------------------------------------------
# submissions
# ---------------------------------------------------------------------------
@dataclass(eq=False)
class SubmissionEntry:
    """Points of one frame in a submission: ``points`` ``(N, 2)`` float32 ``(x, y)`` pixels."""

    op: str
    video: str
    image_file_name: str
    points: np.ndarray

    def __post_init__(self) -> None:
        for name in ("op", "video", "image_file_name"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"SubmissionEntry.{name} must be a non-empty string, got {getattr(self, name)!r}")
        points = np.asarray(self.points, dtype=np.float32)
        points = points.reshape(-1, 2) if points.size else np.zeros((0, 2), np.float32)
        if not np.all(np.isfinite(points)):
            raise ValueError(f"SubmissionEntry points of {self.image_file_name} contain NaN/inf")
        self.points = points


class SubmissionWriter:
    """Stream entries into an AdaptOR submission JSON; the file appears complete or not at all.

    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "submission.json")
    >>> with SubmissionWriter(p) as w:
    ...     w.add(SubmissionEntry("op01", "video01", "000000.png", [[1.0, 2.0]]))
    >>> [e.image_file_name for e in read_submission_json(p)]
    ['000000.png']
    """

    def __init__(self, path: PathLike, *, overwrite: bool = False):
        self.path = os.fspath(path)
        self._context = atomic_text_file(self.path, overwrite=overwrite)
        self._file = None
        self._seen: set = set()

    def __enter__(self) -> "SubmissionWriter":
        self._file = self._context.__enter__()
        self._file.write("[")
        return self

    def add(self, entry: SubmissionEntry) -> None:
        key = (entry.op, entry.video, entry.image_file_name)
        if key in self._seen:
            raise InputError(self.path, f"duplicate prediction for {'/'.join(key)}")
        record = {"folderName": entry.op, "subfolderName": entry.video, "imageFileName": entry.image_file_name,
                  "points": _points_to_json(entry.points)}
        self._file.write(("," if self._seen else "") + "\n " + json.dumps(record))
        self._seen.add(key)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self._file.write("\n]\n")
        return bool(self._context.__exit__(exc_type, exc, tb))


def write_submission_json(entries: Iterable[SubmissionEntry], path: PathLike, overwrite: bool = False) -> str:
    """Write the AdaptOR submission JSON atomically (see :class:`SubmissionWriter`)."""
    with SubmissionWriter(path, overwrite=overwrite) as writer:
        for entry in entries:
            writer.add(entry)
    return os.fspath(path)


def read_submission_json(path: PathLike) -> list[SubmissionEntry]:
    """Read a submission JSON (written by :func:`write_submission_json` or by hand)."""
    path = os.fspath(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(path, "must hold a JSON list of {folderName, subfolderName, imageFileName, points} entries")
    entries = []
    for n, item in enumerate(data):
        if not isinstance(item, dict):
            raise InputError(path, f"entry {n} is not an object")
        missing = [k for k in ("folderName", "subfolderName", "imageFileName", "points") if k not in item]
        if missing:
            raise InputError(path, f"entry {n} lacks {', '.join(missing)}")
        points = _points_from_json(item["points"], path, f"entry {n} ")
        try:
            entries.append(SubmissionEntry(item["folderName"], item["subfolderName"], item["imageFileName"], points))
        except ValueError as err:
            raise InputError(path, f"entry {n}: {err}") from None
    return entries


def read_reference_points(path: PathLike) -> dict[str, np.ndarray]:
    """Ground-truth points per frame from any of the AdaptOR point files.

    Args:
        path: a per-frame label JSON (one frame, keyed by its file stem), a
            submission JSON (keyed by ``imageFileName`` stems; an image name
            repeated for different videos is an error), or a folder of
            per-frame label JSONs (``point_labels/``).

    Returns:
        ``{frame stem: (N, 2) float32 (x, y) px}``, e.g. ``{"000000": ...}``.

    >>> d = tempfile.mkdtemp()
    >>> _ = write_point_labels(os.path.join(d, "000007.json"), [[1, 2], [3, 4]], (8, 8))
    >>> {k: v.shape for k, v in read_reference_points(d).items()}
    {'000007': (2, 2)}
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() == ".json" and not f.name.startswith("."))
        if not files:
            raise InputError(p, "holds no per-frame label .json files")
        return {f.stem: read_point_labels(f)[0] for f in files}
    data = read_json(os.fspath(p))
    if isinstance(data, dict):
        return {p.stem: read_point_labels(p)[0]}
    if isinstance(data, list):
        result: dict[str, np.ndarray] = {}
        for entry in read_submission_json(p):
            stem = os.path.splitext(entry.image_file_name)[0]
            if stem in result:
                raise InputError(p, f"frame {entry.image_file_name} appears more than once (several videos?); "
                                    f"keep one video per ground-truth file")
            result[stem] = entry.points
        return result
    raise InputError(p, "is neither an AdaptOR label ({\"points\": [...]}) nor a submission ([...]) JSON")


# ---------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------
def _cell(value: float) -> str:
    return "" if not math.isfinite(value) else format(round(float(value), _DECIMALS), "g")


class SutureCsvWriter:
    """Stream suture points into a CSV with columns :data:`SUTURE_CSV_COLUMNS`, atomically.

    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "v_sutures.csv")
    >>> with SutureCsvWriter(p) as w:
    ...     w.add("000000.png", [[10.25, 4.0]], ["S-1"], [0.9])
    >>> open(p).read().splitlines()
    ['frame,label,x,y,confidence', '000000.png,S-1,10.25,4,0.9']
    """

    def __init__(self, path: PathLike, *, overwrite: bool = False):
        self.path = os.fspath(path)
        self._context = atomic_text_file(self.path, overwrite=overwrite, newline="")
        self._writer = None

    def __enter__(self) -> "SutureCsvWriter":
        handle = self._context.__enter__()
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow(SUTURE_CSV_COLUMNS)
        return self

    def add(self, frame: str, points, labels, confidence=None) -> None:
        """One frame's points: ``(N, 2)`` px, N labels (:func:`heatmap_landmarks.sutures.suture_labels`),
        N confidences (None or NaN = none)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        labels = [str(x) for x in labels]
        conf = np.full(len(p), np.nan) if confidence is None else np.asarray(confidence, np.float64).reshape(-1)
        if len(labels) != len(p) or len(conf) != len(p):
            raise InputError(self.path, f"frame {frame}: {len(p)} points, {len(labels)} labels, {len(conf)} confidences")
        for (x, y), label, c in zip(p, labels, conf):
            self._writer.writerow([frame, label, _cell(x), _cell(y), _cell(c)])

    def __exit__(self, exc_type, exc, tb) -> bool:
        return bool(self._context.__exit__(exc_type, exc, tb))


def write_suture_csv(rows: Iterable[tuple], path: PathLike, *, overwrite: bool = False) -> str:
    """Write ``(frame, points (N, 2), labels, confidence)`` rows (one per frame) as the points CSV."""
    with SutureCsvWriter(path, overwrite=overwrite) as writer:
        for frame, points, labels, confidence in rows:
            writer.add(frame, points, labels, confidence)
    return os.fspath(path)
