"""Landmarks from a segmentation: short-axis RV insertions and LV centre, long-axis mitral hinges.

Pure numpy/scipy (stock Slicer has both), one 2D label slice in, named points out.
Points are ``(x=column, y=row)`` float64 pixels of that slice, 0-based at pixel centres.

Short axis (:func:`sax_landmarks_from_labels`)
    * **LVC**: the centroid of the LV cavity pixels.
    * **RVI-1 / RVI-2**: the two ends of the arc where the RV cavity touches the
      LV epicardial boundary (the outer border of LV myocardium plus cavity, holes
      filled). None when the RV does not touch it, touches along less than
      ``min_arc_deg``, or wraps round it so that the untouched gap is under
      ``min_gap_deg``.
    * **Which end is anterior** (RVI-1): the end that lies further along
      ``anterior_xy``, a direction in pixel coordinates. With real patient
      orientation, pass :func:`anterior_direction_xy` of the image geometry (the
      end with the larger RAS A coordinate is then RVI-1). Without it, state a
      convention: ACDC's headers carry none, and its slices are stored in the
      display orientation with anterior up, ``anterior_xy = (0, -1)``
      (:data:`ANTERIOR_UP`).

Long axis, 4-chamber (:func:`lax_landmarks_from_labels`)
    * **MV-1 (septal) / MV-2 (lateral)**: the two ends of the longest stretch of
      the LV cavity border that no myocardium covers (the mitral opening towards
      the left atrium). The septal end is the one nearer the RV cavity.

Label values are parameters, because datasets differ: :data:`ACDC_LABELS`
(1 RV, 2 myocardium, 3 LV cavity) and :data:`MNMS2_LABELS` (1 LV, 2 myocardium,
3 RV).

Whole label maps (:func:`detections_from_labels`)
    Every slice of every time point, handed over as :func:`~heatmap_landmarks.cardiac.detect_cardiac`
    takes images (``volume_at(t)``), gives a :class:`~heatmap_landmarks.cardiac.CardiacDetections`
    with the names, RAS positions and measurements a detection has, so results
    from masks and from the model are written and compared the same way.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import InputError

__all__ = [
    "ACDC_LABELS",
    "ANTERIOR_UP",
    "LabelValues",
    "MNMS2_LABELS",
    "SegmentationPoints",
    "anterior_direction_xy",
    "detections_from_labels",
    "lax_landmarks_from_labels",
    "sax_landmarks_from_labels",
]

#: Anterior is up in the array (smaller row): ACDC's display convention.
ANTERIOR_UP = (0.0, -1.0)


@dataclass(frozen=True)
class LabelValues:
    """Integer label values of the RV cavity, LV myocardium and LV cavity."""

    rv: int
    myo: int
    lv: int

    def __post_init__(self) -> None:
        values = (self.rv, self.myo, self.lv)
        if len(set(values)) != 3 or any(int(v) != v or v <= 0 for v in values):
            raise ValueError(f"label values must be three distinct positive integers, got {values}")

    @classmethod
    def parse(cls, text: str) -> "LabelValues":
        """``"RV,MYO,LV"`` -> LabelValues; ``ValueError`` with the reason otherwise.

        >>> LabelValues.parse("3,2,1")
        LabelValues(rv=3, myo=2, lv=1)
        """
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
            raise ValueError(f"expected three whole numbers RV,MYO,LV (e.g. 1,2,3), got {text!r}")
        return cls(*(int(p) for p in parts))


#: ACDC: 0 background, 1 RV cavity, 2 LV myocardium, 3 LV cavity.
ACDC_LABELS = LabelValues(rv=1, myo=2, lv=3)
#: M&Ms-2: 0 background, 1 LV cavity, 2 LV myocardium, 3 RV cavity.
MNMS2_LABELS = LabelValues(rv=3, myo=2, lv=1)


@dataclass
class SegmentationPoints:
    """Named points of one slice.

    ``points``: name -> ``(2,)`` float64 ``(x, y)`` pixels, only for the points found.
    ``absent``: name -> why it is absent (e.g. ``"RV does not touch the LV"``).
    """

    points: dict = field(default_factory=dict)
    absent: dict = field(default_factory=dict)

    def get(self, name: str) -> np.ndarray:
        """``(2,)`` float64 of ``name``, NaN when absent."""
        return np.asarray(self.points.get(name, (np.nan, np.nan)), dtype=np.float64)


_EIGHT = np.ones((3, 3), dtype=bool)


def _check_label(label) -> np.ndarray:
    arr = np.asarray(label)
    if arr.ndim != 2:
        raise ValueError(f"expected one 2D label slice (rows, columns), got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError("label slice holds NaN or infinite values")
        rounded = np.rint(arr)
        if np.any(np.abs(arr - rounded) > 1e-3):
            raise ValueError("label slice holds non-integer values")
        arr = rounded
    return arr.astype(np.int64, copy=False)


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=_EIGHT)
    if n <= 1:
        return mask
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    return lab == (int(np.argmax(sizes)) + 1)


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a 4-neighbour outside it (an 8-connected closed border)."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def _xy(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.stack([cols, rows], axis=1).astype(np.float64)


def _arc_ends(angles: np.ndarray, flags: np.ndarray, merge_deg: float) -> tuple[int, int, float, float] | None:
    """The widest arc of flagged border points, and the gap left round the rest of the circle.

    Flagged points (``angles`` in degrees about a centre) closer than ``merge_deg``
    in angle belong to one arc, so single unflagged pixels do not split it. Returns
    ``(first, last, span_deg, gap_deg)``: indices into ``angles`` of the arc's ends in
    the direction of increasing angle, the angle it spans and ``360 - span``; None
    when nothing is flagged. With no gap wider than ``merge_deg`` anywhere the arc
    closes on itself; the widest gap is then reported.
    """
    ids = np.nonzero(flags)[0]
    if ids.size == 0:
        return None
    order = np.argsort(angles[ids], kind="stable")
    a, ids = angles[ids][order], ids[order]
    if ids.size == 1:
        return int(ids[0]), int(ids[0]), 0.0, 360.0
    gaps = np.diff(np.r_[a, a[0] + 360.0])  # gaps[i]: from point i to point i + 1 (circular)
    wide = np.nonzero(gaps > merge_deg)[0]
    if wide.size == 0:
        i = int(np.argmax(gaps))
        return int(ids[(i + 1) % ids.size]), int(ids[i]), float(360.0 - gaps[i]), float(gaps[i])
    best = None
    for j, g in enumerate(wide):
        first = (int(g) + 1) % ids.size
        last = int(wide[(j + 1) % wide.size])  # the arc runs on until the next wide gap opens
        span = float((a[last] - a[first]) % 360.0)
        if best is None or span > best[2]:
            best = (int(ids[first]), int(ids[last]), span)
    first, last, span = best
    return first, last, span, 360.0 - span


def _angles(xy: np.ndarray, centre: np.ndarray) -> np.ndarray:
    d = xy - centre
    # Rows grow downwards; the sign only fixes a direction of travel, which nothing here depends on.
    return np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 360.0


def anterior_direction_xy(direction: np.ndarray, spacing_xy) -> np.ndarray | None:
    """In-plane pixel direction ``(2,)`` along which the RAS anterior (A) coordinate grows.

    ``direction``: ``(3, 3)`` RAS unit vectors of the (column, row, slice) axes;
    ``spacing_xy``: mm per pixel along (column, row). Returns None when anterior is
    (nearly) perpendicular to the slice, i.e. the in-plane part of the A axis is
    under half its length.

    >>> anterior_direction_xy(np.diag([-1.0, -1.0, 1.0]), (1.0, 1.0)).tolist()  # identity LPS header
    [0.0, -1.0]
    """
    d = np.asarray(direction, dtype=np.float64)
    s = np.asarray(spacing_xy, dtype=np.float64)
    grad = np.array([d[1, 0] * s[0], d[1, 1] * s[1]])  # dA/dx, dA/dy in mm per pixel
    in_plane = np.hypot(d[1, 0], d[1, 1])
    if in_plane < 0.5:
        return None
    return grad / np.linalg.norm(grad) + 0.0


def sax_landmarks_from_labels(label, labels: LabelValues = ACDC_LABELS, *, anterior_xy=ANTERIOR_UP,
                              contact_px: int = 1, min_arc_deg: float = 10.0,
                              min_gap_deg: float = 30.0, merge_deg: float = 20.0) -> SegmentationPoints:
    """RVI-1, RVI-2 and LVC of one short-axis label slice (rules in the module docstring).

    Args:
        label: ``(H, W)`` integer label slice.
        labels: the RV, myocardium and LV cavity values.
        anterior_xy: ``(2,)`` pixel direction of anterior (see :func:`anterior_direction_xy`).
        contact_px: the RV touches a border pixel when it lies within this many pixels
            (chessboard distance) of it; 1 = 8-neighbours.
        min_arc_deg, min_gap_deg: angles about the epicardial centroid below which the
            contact arc is too short, or the untouched gap too small (RV wraps round).
        merge_deg: contact stretches closer than this in angle form one arc.

    >>> lab = np.zeros((40, 40), int)
    >>> yy, xx = np.mgrid[:40, :40]
    >>> lab[(yy - 20) ** 2 + (xx - 24) ** 2 <= 64] = 2          # myocardium
    >>> lab[(yy - 20) ** 2 + (xx - 24) ** 2 <= 25] = 3          # LV cavity
    >>> r2 = (yy - 20) ** 2 + (xx - 24) ** 2
    >>> lab[(r2 > 64) & (r2 <= 196) & (xx < 20)] = 1             # RV crescent on the left
    >>> out = sax_landmarks_from_labels(lab)
    >>> out.points["LVC"].tolist()
    [24.0, 20.0]
    >>> bool(out.points["RVI-1"][1] < 20 < out.points["RVI-2"][1])   # anterior = up
    True
    """
    arr = _check_label(label)
    out = SegmentationPoints()
    lv = arr == labels.lv
    if lv.any():
        out.points["LVC"] = _xy(lv).mean(axis=0)
    else:
        out.absent["LVC"] = "no LV cavity"
    epi = ndimage.binary_fill_holes((arr == labels.myo) | lv)
    rv = arr == labels.rv
    why = None
    if not epi.any():
        why = "no LV myocardium or cavity"
    elif not rv.any():
        why = "no RV cavity"
    if why is None:
        epi = _largest_component(epi)
        border = _boundary(epi)
        near_rv = ndimage.binary_dilation(rv, structure=_EIGHT, iterations=max(int(contact_px), 1))
        xy = _xy(border)
        touch = near_rv[border]
        centre = _xy(epi).mean(axis=0)
        ends = _arc_ends(_angles(xy, centre), touch, merge_deg)
        if ends is None:
            why = "RV does not touch the LV"
        else:
            first, last, span, gap = ends
            if gap < min_gap_deg:
                why = f"RV wraps round the LV (untouched gap {gap:.0f} deg < {min_gap_deg:g})"
            elif span < min_arc_deg:
                why = f"RV touches the LV along {span:.0f} deg only (< {min_arc_deg:g})"
            else:
                a, b = xy[first], xy[last]
                ant = np.asarray(anterior_xy, dtype=np.float64)
                if float(np.dot(a - b, ant)) >= 0.0:
                    out.points["RVI-1"], out.points["RVI-2"] = a, b
                else:
                    out.points["RVI-1"], out.points["RVI-2"] = b, a
    if why is not None:
        out.absent["RVI-1"] = out.absent["RVI-2"] = why
    return out


def lax_landmarks_from_labels(label, labels: LabelValues = MNMS2_LABELS, *, cover_px: int = 1,
                              min_opening_px: int = 3, merge_deg: float = 10.0) -> SegmentationPoints:
    """MV-1 (septal) and MV-2 (lateral) hinges of one 4-chamber label slice.

    The LV cavity border is walked in angle order about the cavity centroid; border
    pixels within ``cover_px`` (chessboard) of myocardium are covered. The longest
    stretch of uncovered border pixels (at least ``min_opening_px`` of them; stretches
    closer than ``merge_deg`` in angle are one) is the mitral opening; its two ends are the hinges. The end nearer the RV cavity's
    centroid is septal (MV-1); without an RV in the slice both are absent, since
    the side cannot be told.

    >>> lab = np.zeros((40, 40), int)
    >>> lab[8:32, 14:26] = 2                     # myocardium, open at the top (towards the atria)
    >>> lab[8:29, 17:23] = 1                     # LV cavity, reaching the top edge of the muscle
    >>> lab[10:30, 4:12] = 3                     # RV on the left: the septal side
    >>> out = lax_landmarks_from_labels(lab)
    >>> bool(out.points["MV-1"][0] < out.points["MV-2"][0])   # septal hinge on the RV side
    True
    """
    arr = _check_label(label)
    out = SegmentationPoints()
    lv = _largest_component(arr == labels.lv) if (arr == labels.lv).any() else None
    rv = arr == labels.rv
    why = None
    if lv is None:
        why = "no LV cavity"
    elif not rv.any():
        why = "no RV cavity (septal side unknown)"
    else:
        border = _boundary(lv)
        covered = ndimage.binary_dilation(arr == labels.myo, structure=_EIGHT, iterations=max(int(cover_px), 1))
        xy = _xy(border)
        open_ = ~covered[border]
        if int(open_.sum()) < min_opening_px:
            why = "myocardium covers the whole LV cavity border (no mitral opening)"
        else:
            ends = _arc_ends(_angles(xy, _xy(lv).mean(axis=0)), open_, merge_deg)
            assert ends is not None
            first, last, span, gap = ends
            if gap <= merge_deg:
                why = "no myocardium next to the LV cavity"
            else:
                a, b = xy[first], xy[last]
                rv_c = _xy(rv).mean(axis=0)
                if np.linalg.norm(a - rv_c) <= np.linalg.norm(b - rv_c):
                    out.points["MV-1"], out.points["MV-2"] = a, b
                else:
                    out.points["MV-1"], out.points["MV-2"] = b, a
    if why is not None:
        out.absent["MV-1"] = out.absent["MV-2"] = why
    return out


def _runs(values) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"``."""
    values = sorted(int(v) for v in values)
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(parts)


def _check_volume(volume, source, t: int) -> np.ndarray:
    """``(Z, H, W)`` label voxels as int64, or :class:`InputError` naming the first bad value."""
    arr = np.asarray(volume)
    if arr.ndim != 3:
        raise InputError(source, f"expected a label map of (slices, rows, columns), got shape {arr.shape}")
    if arr.dtype.kind not in "buif":
        raise InputError(source, f"label values must be integers, got {arr.dtype}")
    if arr.dtype.kind == "f":
        where = "" if t == 0 else f" at time point {t}"
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InputError(source, f"label map holds {int(bad.sum())} NaN or infinite value(s){where}")
        off = np.abs(arr - np.rint(arr)) > 1e-3
        if off.any():
            z, y, x = (int(v) for v in np.argwhere(off)[0])
            n = int(off.sum())
            raise InputError(source, f"label map holds non-integer values{where} ({n} voxel{'s' * (n != 1)}, e.g. "
                                     f"{float(arr[z, y, x]):g} at slice {z}, row {y}, column {x}): an image, "
                                     f"not a label map?")
        arr = np.rint(arr)
    return arr.astype(np.int64, copy=False)


def detections_from_labels(volume_at, n_times: int, *, view: str = "sax", labels: LabelValues = ACDC_LABELS,
                           anterior_xy=None, source=None):
    """Landmarks of every slice of a label map, as a :class:`~heatmap_landmarks.cardiac.CardiacDetections`.

    Args:
        volume_at: ``t -> ((Z, H, W) integer labels, Geometry)``, as for
            :func:`~heatmap_landmarks.cardiac.detect_cardiac` (a 2D+t cine is ``n_times``
            volumes of one slice; a stack one volume of ``Z`` slices). Whole-number floats
            are accepted.
        n_times: number of time points (>= 1).
        view: ``"sax"`` (:func:`sax_landmarks_from_labels`: RVI-1, RVI-2, LVC) or ``"lax"``
            (:func:`lax_landmarks_from_labels`: MV-1, MV-2). A SAX stack is named as
            :func:`~heatmap_landmarks.cardiac.detect_cardiac` names a detection: the LV centre of the
            basal/apical-most slice with one is BCA/ACA, the basal end coming from the header (apex
            inferior, :func:`~heatmap_landmarks.cardiac.stack_basal_end`) when it has an orientation
            with a slice axis that runs clearly up or down, else from where the RV is larger
            (:func:`_basal_end_by_rv_area`); with an orientation, the insertions are then named by
            their turn around the LV centre seen from base to apex
            (:func:`~heatmap_landmarks.cardiac.name_insertions_by_chirality`).
        labels: the RV, myocardium and LV cavity values; each must occur somewhere.
        anterior_xy: SAX only: ``(2,)`` pixel direction of anterior, naming the insertions of
            each slice (RVI-1 further along it). None: from the first geometry when it has a
            real patient orientation (:func:`~heatmap_landmarks.cardiac.has_patient_orientation`,
            then :func:`anterior_direction_xy`; a stack is then re-named by the turn rule above),
            else :data:`ANTERIOR_UP`, with a note saying so. Given explicitly, it alone decides.
        source: name of the label map, for messages.

    Returns:
        ``CardiacDetections`` with ``points (T, Z, L, 2)`` float32 pixels (x, y), ``ras
        (T, Z, L, 3)`` float64 mm, NaN where absent; ``confidence (T, Z, L)`` NaN (the
        points come from a mask, not a model); ``notes`` say which anterior rule was used,
        where (and why) points are absent, and warn when a header's orientation puts the RV
        posterior to the LV on most slices (anatomically reversed); ``weights`` is empty.

    Raises:
        InputError: non-integer, NaN or non-3D voxels, a label value that never occurs,
            volumes of different shapes, or a bad ``view``.

    >>> from heatmap_landmarks.geometry import Geometry
    >>> lab = np.zeros((1, 40, 40), int)
    >>> yy, xx = np.mgrid[:40, :40]
    >>> r2 = (yy - 20) ** 2 + (xx - 24) ** 2
    >>> lab[0][r2 <= 64], lab[0][r2 <= 25] = 2, 3
    >>> lab[0][(r2 > 64) & (r2 <= 196) & (xx < 20)] = 1
    >>> no_orientation = Geometry(direction=np.diag([-1.0, -1.0, 1.0]))  # identity in ITK's LPS, as ACDC's
    >>> det = detections_from_labels(lambda t: (lab, no_orientation), 1)
    >>> [(r["label"], r["y"]) for r in det.rows()]
    [('RVI-1', 14.0), ('RVI-2', 26.0), ('LVC', 20.0)]
    >>> det.notes[0][:40]
    'the label map has no patient orientation'
    """
    from .names import (LAX_NAMES, MIN_SLICE_AXIS_S, SAX_NAMES, apex_direction, has_patient_orientation,
                        name_rv_insertions, sax_labels, stack_basal_end)
    from .pipeline import CardiacDetections

    if view not in ("sax", "lax"):
        raise InputError(None, f"view must be 'sax' or 'lax', got {view!r}")
    if int(n_times) < 1:
        raise InputError(source, "no time points to process")
    started = time.perf_counter()
    n_times = int(n_times)
    names = list(SAX_NAMES if view == "sax" else LAX_NAMES)
    notes: list[str] = []
    absent: dict = {}  # (names, reason) -> [(t, z)]
    points = ras = rv_area = None
    seen = set()
    ant, by_geometry = None, False
    rv_side_a = []  # SAX by geometry: A(RV centroid) - A(LV centroid), mm, per slice with both
    for t in range(n_times):
        volume, geometry = volume_at(t)
        vol = _check_volume(volume, source, t)
        if points is None:
            shape = vol.shape
            points = np.full((n_times, shape[0], len(names), 2), np.nan, np.float32)
            ras = np.full(points.shape[:3] + (3,), np.nan)
            rv_area = np.zeros(points.shape[:2], np.int64)
            first_geometry = geometry
            if view == "sax":
                ant, anterior_note, by_geometry = _anterior_rule(geometry, anterior_xy, has_patient_orientation)
                if not by_geometry:  # oriented images are re-named by name_rv_insertions below
                    notes.append(anterior_note)
        elif vol.shape != shape:
            raise InputError(source, f"time point {t} has shape {vol.shape}, time point 0 {shape}; every time "
                                     f"point of a label map must have the same size")
        seen.update(int(v) for v in np.unique(vol))
        rv_area[t] = (vol == labels.rv).sum(axis=(1, 2))
        for z in range(vol.shape[0]):
            if view == "sax":
                found = sax_landmarks_from_labels(vol[z], labels, anterior_xy=ant)
                if by_geometry and "LVC" in found.points and (vol[z] == labels.rv).any():
                    rv_lv = geometry.pixel_to_ras([[*_xy(vol[z] == labels.rv).mean(axis=0), z],
                                                   [*found.points["LVC"], z]])
                    rv_side_a.append(float(rv_lv[0, 1] - rv_lv[1, 1]))
            else:
                found = lax_landmarks_from_labels(vol[z], labels)
            for i, name in enumerate(names):
                points[t, z, i] = found.get(name)
            reasons: dict = {}
            for name, why in found.absent.items():
                reasons.setdefault(why, []).append(name)
            for why, which in reasons.items():
                absent.setdefault(("/".join(which), why), []).append((t, z))
        ras[t] = geometry.xy_to_ras(points[t], k=np.arange(vol.shape[0])[:, None])
    missing = [f"{what} {value}" for what, value in (("RV", labels.rv), ("myocardium", labels.myo),
                                                       ("LV cavity", labels.lv)) if value not in seen]
    if missing:
        present = ", ".join(str(v) for v in sorted(seen))
        raise InputError(source, f"no voxel has the {' or '.join(missing)} label value (values present: {present}; "
                                 f"label values RV,MYO,LV = {labels.rv},{labels.myo},{labels.lv})")
    others = sorted(seen - {0, labels.rv, labels.myo, labels.lv})
    if others:
        notes.append(f"label value(s) {', '.join(map(str, others))} ignored (not RV, myocardium or LV cavity)")

    z_count = points.shape[1]
    basal_end = None
    confidence = np.full(points.shape[:3], np.nan, np.float32)
    if view == "sax":
        if z_count > 1:
            if by_geometry and abs(float(first_geometry.direction[2, 2])) >= MIN_SLICE_AXIS_S:
                basal_end, how = stack_basal_end(first_geometry, points, confidence, names)  # the apex is inferior
            else:
                basal_end, how = _basal_end_by_rv_area(rv_area), "the RV is larger at that end"
            if basal_end != 0:
                notes.append(f"slice {basal_end} is taken as basal (BCA) and slice 0 as apical (ACA): {how}")
            if by_geometry:  # as detect_cardiac names them
                notes.append(name_rv_insertions(points, confidence, ras, names, first_geometry, basal_end))
        else:
            if by_geometry:
                notes.append(name_rv_insertions(points, confidence, ras, names, first_geometry, None))
            notes.append("single short-axis slice: the LV centre is named LVC (BCA/ACA need a stack of slices "
                         "to tell base from apex)")
        behind = sum(a < 0 for a in rv_side_a)
        if rv_side_a and behind > len(rv_side_a) / 2:
            by_turn = by_geometry and apex_direction(first_geometry, z_count, basal_end) is not None
            then = ("the names above do not depend on it" if by_turn else
                    "RVI-1 follows the header's anterior, so it is then the inferior insertion")
            notes.append(f"check the header's orientation: in its patient coordinates the RV lies posterior to the "
                         f"LV on {behind} of {len(rv_side_a)} slices, which is anatomically reversed (a header whose "
                         f"R and A axes are negated, e.g. LPS coordinates stored as RAS, does this); {then}")
        display = sax_labels(points, names, basal_end or 0)
    else:
        display = np.empty(points.shape[:3], dtype=object)
        display[...] = np.asarray(names, dtype=object)[None, None, :]
    for (which, why), where in absent.items():
        notes.append(f"{which} absent on {_where(where, n_times, z_count)}: {why}")
    return CardiacDetections(view=view, names=names, points=points, confidence=confidence, ras=ras, labels=display,
                             basal_end=basal_end, notes=notes, seconds=time.perf_counter() - started, weights=[])


def _basal_end_by_rv_area(rv_area: np.ndarray) -> int:
    """Slice index (0 or Z-1) of the basal end of a SAX stack: the end whose outer third of slices holds
    more RV cavity pixels (summed over time; ``rv_area (T, Z)`` int). The RV narrows towards the apex, as
    the detection's rule (which counts found insertions, :func:`~heatmap_landmarks.cardiac.detect_cardiac`)
    also assumes; a mask measures it directly. A tie keeps slice 0 basal.

    >>> _basal_end_by_rv_area(np.array([[0, 1400, 1200, 700, 200, 50]])), _basal_end_by_rv_area(np.zeros((1, 4)))
    (0, 0)
    >>> _basal_end_by_rv_area(np.array([[10, 300, 900, 1500]]))
    3
    """
    per_slice = np.asarray(rv_area).sum(axis=0)
    k = max(1, per_slice.size // 3)
    return per_slice.size - 1 if per_slice[-k:].sum() > per_slice[:k].sum() else 0


def _where(cells, n_times: int, z_count: int) -> str:
    """Human list of ``(t, z)`` cells: slices of a stack, frames of a cine."""
    if n_times == 1 and z_count == 1:
        return "the slice"
    if n_times == 1:
        return "slice(s) " + _runs(z for _, z in cells)
    if z_count == 1:
        return "frame(s) " + _runs(t for t, _ in cells)
    return "(time point, slice) " + ", ".join(f"({t}, {z})" for t, z in cells)


def _anterior_rule(geometry, anterior_xy, has_patient_orientation) -> tuple[np.ndarray, str, bool]:
    """``(anterior (2,) pixels, note, whether it came from the header's orientation)`` for
    :func:`detections_from_labels`."""
    if anterior_xy is not None:
        ant = np.asarray(anterior_xy, dtype=np.float64).reshape(2)
        return ant, (f"RVI-1 is the insertion further along the given anterior direction ({ant[0]:.3g}, "
                     f"{ant[1]:.3g}) px"), False
    if has_patient_orientation(geometry):
        ant = anterior_direction_xy(geometry.direction, geometry.spacing[:2])
        if ant is not None:
            return ant, ("RV insertions named by patient geometry: RVI-1 is the more anterior one (larger RAS A); "
                         f"anterior is ({ant[0]:.2f}, {ant[1]:.2f}) in pixel (x, y)"), True
        return np.asarray(ANTERIOR_UP), ("anterior is nearly perpendicular to the slice plane, so the label map's "
                                         "orientation cannot name the RV insertions: RVI-1 is the one nearer the top "
                                         "of the image (anterior up assumed)"), False
    return np.asarray(ANTERIOR_UP), ("the label map has no patient orientation (identity direction): RVI-1 is the "
                                     "insertion nearer the top of the image (anterior up assumed, the display "
                                     "convention of short-axis views, as on ACDC)"), False
