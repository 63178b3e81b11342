"""Synthetic training data with exact ground truth: cardiac MR and endoscopic suture phantoms.

All generators are deterministic given a seed (``np.random.default_rng(seed)``)
and fast enough to render training samples on the fly. ``python -m
heatmap_landmarks.phantoms`` times them and can write example PNGs.
"""
from .cardiac import (
    LABELS,
    CardiacCine,
    CardiacSample,
    lv_centre_name,
    make_cardiac_cine,
    make_lax_slice,
    make_sax_slice,
)
from .endoscopic import SutureSample, make_suture_frame, make_suture_video

__all__ = [
    "LABELS",
    "CardiacCine",
    "CardiacSample",
    "SutureSample",
    "lv_centre_name",
    "make_cardiac_cine",
    "make_lax_slice",
    "make_sax_slice",
    "make_suture_frame",
    "make_suture_video",
]
