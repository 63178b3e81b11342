"""The cardiac landmark vocabulary and the rules that name points: one home for every name.

* The models predict ``RVI-1, RVI-2, LVC`` on the short axis (SAX) and
  ``MV-1, MV-2`` on the long axis (LAX). A card's view follows from its
  landmark count when it does not state one (:func:`view_of_names`).
* ``RVI-1`` is the anterior and ``RVI-2`` the inferior RV insertion
  (:func:`name_rv_insertions` decides which is which from the geometry).
* On a SAX stack the LV centre of the most basal slice is ``BCA``, of the
  most apical one ``ACA``, and ``LVC`` in between (:func:`sax_labels`).

Imports only numpy: the Slicer module loads it before its dependencies exist.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..geometry import Geometry

__all__ = [
    "LAX_NAMES",
    "SAX_NAMES",
    "VIEW_CHOICES",
    "apex_direction",
    "basal_end_from_insertions",
    "check_view",
    "has_patient_orientation",
    "is_rv_insertion",
    "lv_centre_channel",
    "name_rv_insertions",
    "rv_insertion_channels",
    "sax_labels",
    "stack_basal_end",
    "view_of_names",
]


#: What the short-axis models predict, in channel order (RVI-1 anterior, RVI-2 inferior, LV centre).
SAX_NAMES = ("RVI-1", "RVI-2", "LVC")
#: What the long-axis models predict: the septal and lateral mitral-valve hinge points.
LAX_NAMES = ("MV-1", "MV-2")
#: Values accepted for ``view``.
VIEW_CHOICES = ("auto", "sax", "lax")


def is_rv_insertion(name: str) -> bool:
    """True for an RV-insertion landmark name (``RVI-1``, ``RVI-2``; any case).

    >>> is_rv_insertion("rvi-2"), is_rv_insertion("LVC")
    (True, False)
    """
    return str(name).upper().startswith("RVI")


def rv_insertion_channels(names: Sequence[str]) -> list[int]:
    """Indices of the RV insertions among landmark ``names``.

    >>> rv_insertion_channels(["RVI-1", "RVI-2", "LVC"])
    [0, 1]
    """
    return [i for i, n in enumerate(names) if is_rv_insertion(n)]


def view_of_names(names: Sequence[str]) -> str | None:
    """The view a landmark set belongs to: ``"sax"`` for 3 names, ``"lax"`` for 2, else None.

    >>> view_of_names(["MV-1", "MV-2"]), view_of_names(["a"])
    ('lax', None)
    """
    return {len(SAX_NAMES): "sax", len(LAX_NAMES): "lax"}.get(len(list(names)))


def check_view(view: str) -> str:
    """``view`` if it is one of :data:`VIEW_CHOICES`, else a one-line :class:`InputError`."""
    if view not in VIEW_CHOICES:
        raise InputError(None, f"view must be one of {', '.join(VIEW_CHOICES)}, got {view!r}")
    return view


def basal_end_from_insertions(points, confidence, names) -> int:
    """Slice index (0 or Z-1) of the basal end of a SAX stack, from where the RV insertions are found."""
    z_count = points.shape[1]
    rvi = rv_insertion_channels(names)
    if z_count < 2 or not rvi:
        return 0
    found = np.isfinite(points[..., 0])
    score = np.where(found[..., rvi], confidence[..., rvi], 0.0).sum(axis=(0, 2))  # (Z,)
    k = max(1, z_count // 3)
    return z_count - 1 if score[-k:].sum() > score[:k].sum() else 0


def apex_direction(geometry: Geometry, z_count: int, basal_end: int | None) -> np.ndarray | None:
    """RAS direction ``(3,)`` from base to apex along the slice axis, or None when it cannot be told.

    With patient orientation and a slice axis that runs clearly up or down, the apex
    is the inferior side (for one slice too: the heart's long axis points down to
    the apex). Otherwise a stack's ``basal_end`` (found from its content) decides.
    """
    if not has_patient_orientation(geometry):
        return None
    axis = np.asarray(geometry.direction[:, 2], dtype=np.float64)
    if abs(float(axis[2])) >= MIN_SLICE_AXIS_S:
        return axis * (-1.0 if axis[2] > 0 else 1.0)
    if z_count > 1 and basal_end is not None:
        return axis * (1.0 if basal_end == 0 else -1.0)
    return None


def name_rv_insertions(points, confidence, ras, names, geometry: Geometry, basal_end: int | None) -> str:
    """Name RVI-1/RVI-2 of a short-axis stack or slice by patient geometry, in place; returns the note to show.

    * Patient orientation with a known base-to-apex direction (:func:`apex_direction`):
      by the insertions' turn around the LV centre (:func:`name_insertions_by_chirality`),
      which a header with turned axes cannot swap.
    * Orientation, but a slice lying flat (single slice): RVI-1 is the more anterior one.
    * No orientation: the names stay the model's (or the caller's) convention.
    ``points (T, Z, L, 2)``, ``confidence (T, Z, L)``, ``ras (T, Z, L, 3)``.
    """
    z_count = points.shape[1]
    toward_apex = apex_direction(geometry, z_count, basal_end)
    if toward_apex is not None:
        swapped, decided = name_insertions_by_chirality(points, confidence, ras, names, toward_apex)
        return (f"RV insertions named by patient geometry on {decided} slice(s): by their turn around the LV centre "
                f"seen from base to apex (RVI-1 anterior for a heart in normal position); the names given before "
                f"were swapped on {swapped} of them")
    if has_patient_orientation(geometry):
        swapped, decided = name_insertions_by_anatomy(points, confidence, ras, names)
        return (f"RV insertions named by patient geometry (RVI-1 is the more anterior one) on {decided} slice(s); "
                f"the names given before were swapped on {swapped} of them")
    return ("the image has no patient orientation (identity direction): RV insertions are named by the model's "
            "convention, the display orientation of short-axis views (anterior up, RV on the left of the LV); a "
            "mirrored or rotated image would need its real orientation")


#: The slice axis must point at least this much up or down (cosine with S) for the apex to be placed by it.
MIN_SLICE_AXIS_S = 0.25


def stack_basal_end(geometry: Geometry, points, confidence, names) -> tuple[int, str]:
    """``(slice index 0 or Z-1 of the base, how it was decided)`` for a short-axis stack.

    With patient orientation and a slice axis that runs clearly up or down
    (``|cos(k, S)| >= MIN_SLICE_AXIS_S``), the apex is the inferior end: the LV long
    axis points from the base down to the apex, and a header turned about S keeps
    that. Otherwise the end where the RV insertions are found is basal
    (:func:`basal_end_from_insertions`).
    """
    z_count = points.shape[1]
    if has_patient_orientation(geometry):
        s = float(geometry.direction[2, 2])
        if abs(s) >= MIN_SLICE_AXIS_S:
            return (0 if s < 0 else z_count - 1), "the apex is the inferior end of the stack (patient orientation)"
    return basal_end_from_insertions(points, confidence, names), "the RV insertion points were found at that end of the stack"


def sax_labels(points, names, basal_end: int) -> np.ndarray:
    """``(T, Z, L)`` display names: the LV centre becomes BCA/ACA on the basal/apical-most slice with it."""
    t_count, z_count, _ = points.shape[:3]
    labels = np.empty(points.shape[:3], dtype=object)
    labels[...] = np.asarray(list(names), dtype=object)[None, None, :]
    if z_count < 2:
        return labels
    centre = lv_centre_channel(names)
    order = list(range(z_count)) if basal_end == 0 else list(range(z_count - 1, -1, -1))
    for t in range(t_count):
        with_centre = [z for z in order if np.isfinite(points[t, z, centre, 0])]
        if not with_centre:
            continue
        if len(with_centre) == 1:
            # One slice only: name it by the end it is nearer to.
            z = with_centre[0]
            labels[t, z, centre] = "BCA" if order.index(z) < z_count / 2 else "ACA"
            continue
        labels[t, with_centre[0], centre] = "BCA"
        labels[t, with_centre[-1], centre] = "ACA"
    return labels


#: RAS direction of an image whose header carries no orientation (identity in ITK's LPS), e.g. ACDC.
_NO_ORIENTATION = np.diag([-1.0, -1.0, 1.0])


#: Below this difference in the anterior (A) coordinate, mm, the two insertions are not told apart by geometry.
MIN_ANTERIOR_SEPARATION_MM = 2.0


def has_patient_orientation(geometry: Geometry) -> bool:
    """False when the header's direction is the identity (no scanner orientation, as on ACDC files,
    PNGs and most research exports); True for any other, e.g. a real oblique short-axis plane."""
    return not np.allclose(geometry.direction, _NO_ORIENTATION, atol=1e-6)


def name_insertions_by_anatomy(points, confidence, ras, names, *,
                               min_separation_mm: float = MIN_ANTERIOR_SEPARATION_MM) -> tuple[int, int]:
    """Name the two RV insertions by patient geometry: the anterior one (larger RAS A) is RVI-1.

    ``points (..., L, 2)``, ``confidence (..., L)`` and ``ras (..., L, 3)`` are swapped
    in place where the network's RVI-1 is the posterior one. Slices where the two
    differ by less than ``min_separation_mm`` in A keep the network's names.
    Returns ``(swapped, decided)``: slices renamed, and slices where geometry decided.

    >>> pts = np.array([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]]); conf = np.array([[0.9, 0.8, 0.7]])
    >>> ras = np.array([[[0.0, -10.0, 0.0], [0.0, 15.0, 0.0], [0.0, 0.0, 0.0]]])
    >>> name_insertions_by_anatomy(pts, conf, ras, ["RVI-1", "RVI-2", "LVC"]), pts[0, 0].tolist()
    ((1, 1), [2.0, 2.0])
    """
    names = list(names)
    if "RVI-1" not in names or "RVI-2" not in names:
        return 0, 0
    i, j = names.index("RVI-1"), names.index("RVI-2")
    a_i, a_j = ras[..., i, 1], ras[..., j, 1]
    both = np.isfinite(a_i) & np.isfinite(a_j)
    decided = both & (np.abs(a_i - a_j) >= min_separation_mm)
    swap = decided & (a_i < a_j)
    _swap_channels(points, confidence, ras, swap, i, j)
    return int(swap.sum()), int(decided.sum())


def name_insertions_by_chirality(points, confidence, ras, names, base_to_apex) -> tuple[int, int]:
    """Name the two RV insertions by their turn around the LV centre, seen along the LV long axis.

    With ``n`` the base-to-apex direction (RAS, any length), the anterior insertion
    RVI-1 and the inferior RVI-2 of a heart in normal position satisfy
    ``((RVI-1 - LVC) x (RVI-2 - LVC)) . n > 0`` (the RV lies to the patient's right
    of the LV, the apex points left, anterior and inferior). Unlike "the more anterior
    one", this holds under any rotation of the patient axes, so a header whose
    axes are turned (as in some converted NIfTI files) cannot swap the names; a
    mirrored image changes the sign, which the header's direction then undoes.
    ``points (..., L, 2)``, ``confidence (..., L)``, ``ras (..., L, 3)`` are swapped in
    place where the sign is negative; slices without all three points keep the
    network's names. Returns ``(swapped, decided)``.

    >>> pts = np.zeros((1, 3, 2)); conf = np.array([[0.9, 0.8, 0.7]])
    >>> ras = np.array([[[1.0, -1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])  # RV to the right (+R)
    >>> name_insertions_by_chirality(pts, conf, ras, ["RVI-1", "RVI-2", "LVC"], (0.0, 0.0, -1.0))  # apex inferior
    (1, 1)
    >>> ras[0, :2, 1].tolist()  # RVI-1 is now the anterior one (+A)
    [1.0, -1.0]
    """
    names = list(names)
    if not {"RVI-1", "RVI-2"} <= set(names):
        return 0, 0
    i, j, c = names.index("RVI-1"), names.index("RVI-2"), lv_centre_channel(names)
    n = np.asarray(base_to_apex, dtype=np.float64)
    turn = np.einsum("...k,k->...", np.cross(ras[..., i, :] - ras[..., c, :], ras[..., j, :] - ras[..., c, :]), n)
    decided = np.isfinite(turn) & (turn != 0)
    swap = decided & (turn < 0)
    _swap_channels(points, confidence, ras, swap, i, j)
    return int(swap.sum()), int(decided.sum())


def _swap_channels(points, confidence, ras, swap, i: int, j: int) -> None:
    """Swap landmark channels ``i`` and ``j`` of ``points``/``confidence``/``ras`` where ``swap``, in place."""
    for arr in (points, ras):
        a, b = arr[..., i, :].copy(), arr[..., j, :].copy()
        arr[..., i, :], arr[..., j, :] = np.where(swap[..., None], b, a), np.where(swap[..., None], a, b)
    a, b = confidence[..., i].copy(), confidence[..., j].copy()
    confidence[..., i], confidence[..., j] = np.where(swap, b, a), np.where(swap, a, b)


def lv_centre_channel(names: Sequence[str]) -> int:
    """Index of the LV centre among SAX landmark names: ``"LVC"``, else the first that is not an RV insertion.

    >>> lv_centre_channel(["RVI-1", "RVI-2", "LVC"]), lv_centre_channel(["BCA", "RVI-1"])
    (2, 0)
    """
    names = list(names)
    if "LVC" in names:
        return names.index("LVC")
    others = [i for i, n in enumerate(names) if not is_rv_insertion(n)]
    return others[0] if others else len(names) - 1
