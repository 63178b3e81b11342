"""A cardiac model on a stack of frames: preprocess -> network -> :class:`CardiacDecoder` -> original pixels.

:class:`CardiacPredictor` is the loaded model plus what its card says about
preprocessing and decoding. :func:`load_predictors` gives the model(s) of a
run (one per view), :func:`choose_view` picks the view of an input whose view
is not known.

Imports only numpy at load time (torch, OpenCV and SciPy come in with the
first predictor), so the Slicer module loads before its Python dependencies
are installed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from ..catalog import default_weights_key
from ..errors import InputError
from ..geometry import Geometry
from ..inference import CancelCheck, Cancelled, Predictor, PredictorCache, ProgressCallback
from ..pixels import greyscale_volume
from ..timing import phase
from .names import check_view, view_of_names

__all__ = ["CardiacPrediction", "CardiacPredictor", "VolumeAt", "choose_view", "load_predictors"]

#: ``volume_at(t) -> ((Z, H, W) array, Geometry placing it in RAS)``: how a caller hands over volume ``t``.
VolumeAt = Callable[[int], "tuple[np.ndarray, Geometry]"]


@dataclass
class CardiacPrediction:
    """Landmarks of one stack of frames (slices or time points).

    Attributes:
        names: ``L`` landmark names, in channel order (e.g. RVI-1, RVI-2, LVC).
        points: ``(F, L, 2)`` float32, original pixels (x, y); NaN = not found.
        confidence: ``(F, L)`` float32 in [0, 1] (heatmap peak of the blob).
        heatmaps: ``(F, H, W)`` float32 in [0, 1] on the original grid (max
            over landmark channels), or None when not requested.
        notes: what preprocessing and decoding did (resampling, cropping, naming), for the user.
        named_by_reference: frames of a single-heatmap model whose blobs were named by matching a
            complete neighbouring frame.
    """

    names: list
    points: np.ndarray
    confidence: np.ndarray
    heatmaps: Optional[np.ndarray]
    notes: list = field(default_factory=list)
    named_by_reference: int = 0


class CardiacPredictor(Predictor):
    """A cardiac checkpoint with its card's preprocessing and :class:`~heatmap_landmarks.cardiac.decode.CardiacDecoder`.

    Args: those of :class:`~heatmap_landmarks.inference.Predictor`, plus
        decoder: settings that replace the card's (``level``, ``min_confidence``, ...).

    Example (``frames`` is a ``(F, H, W)`` array)::

        pred = CardiacPredictor("cardiac_sax").predict_cardiac(frames, spacing_xy=(1.2, 1.2))
    """

    task_name = "cardiac"
    task_label = "cardiac"

    def __init__(self, weights="cardiac_sax", *, decoder: Mapping | None = None, **kwargs):
        super().__init__(weights, **kwargs)
        from .decode import CardiacDecoder

        depth = getattr(getattr(self.model, "config", None), "depth", None)
        if depth:  # the network grid is fixed by the card: refuse a size the network cannot take, naming the card
            multiple = 2 ** int(depth)
            if any(int(side) % multiple for side in self.card.input_size):
                raise InputError(self.weights_path, f"input_size {list(self.card.input_size)} must be multiples of "
                                                    f"{multiple} for this {self.card.architecture} (depth {depth})")

        self.decoder = CardiacDecoder.from_card(self.card, **dict(decoder or {}))

    def predict_cardiac(self, frames, spacing_xy: Sequence[float], *, return_heatmaps: bool = True,
                        progress: ProgressCallback | None = None, should_cancel: CancelCheck | None = None,
                        source=None) -> CardiacPrediction:
        """Detect cardiac landmarks on ``(F, H, W)`` greyscale frames.

        Args:
            frames: ``(F, H, W)`` or ``(H, W)`` float, one stack (slices or time points).
            spacing_xy: in-plane pixel size (column, row) in mm.
        Returns:
            :class:`CardiacPrediction` in original pixels. Points are decoded
            once on the network grid and mapped back once.
        """
        with phase("imports"):
            from ..preprocess import prepare_cardiac

        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        card = self.card
        norm = card.normalisation or {}
        with phase("preprocess"):
            net, transform = prepare_cardiac(
                frames, spacing_xy, target_spacing_mm=card.input_spacing_mm, size=tuple(card.input_size),
                percentiles=(norm.get("low", 1.0), norm.get("high", 99.0)), source=source)
        n, names = net.shape[0], self.names
        single = self.decoder.heatmap_mode == "single"
        grid_points = np.full((n, len(names), 2), np.nan, np.float32)
        conf = np.zeros((n, len(names)), np.float32)
        blobs = [None] * n if single else None
        heatmaps = np.zeros((n,) + frames.shape[1:3], np.float32) if return_heatmaps else None
        for start in range(0, n, self.batch_size):
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"cancelled after {start} of {n} frames")
            stop = min(n, start + self.batch_size)
            out = self.forward_averaged(net[start:stop, None])
            with phase("decode"):
                for b, hm in enumerate(out):
                    if single:  # the blobs are kept: frames with too few are named by a neighbour below
                        blobs[start + b] = self.decoder.blobs(hm)
                        grid_points[start + b], conf[start + b] = self.decoder.name_blobs(*blobs[start + b])
                    else:
                        grid_points[start + b], conf[start + b] = self.decoder.decode(hm)
                    if heatmaps is not None:
                        heatmaps[start + b] = transform.heatmap_to_original(hm.max(axis=0))
            if progress is not None:
                progress(stop, n)
        named = self.decoder.name_by_reference(grid_points, conf, blobs) if single else 0
        points = transform.to_original(grid_points.reshape(-1, 2)).reshape(grid_points.shape).astype(np.float32)
        # A blob in the zero padding around a small image is no landmark.
        height, width = frames.shape[1:3]
        inside = ((points[..., 0] >= -0.5) & (points[..., 0] <= width - 0.5)
                  & (points[..., 1] >= -0.5) & (points[..., 1] <= height - 0.5))
        points[~inside] = np.nan
        conf = np.where(inside, conf, 0.0).astype(np.float32)
        return CardiacPrediction(names=names, points=points, confidence=conf, heatmaps=heatmaps,
                                 notes=[transform.notes] if transform.notes else [], named_by_reference=named)


def load_predictors(view: str = "auto", weights=None, *, device: str = "cpu", batch_size: int = 8,
                    cache: PredictorCache | None = None, rotations: int | None = None) -> dict:
    """The cardiac predictor(s) for a run: ``{view: Predictor}``.

    * ``weights`` None: the shipped model of ``view``; both for ``"auto"``.
    * ``weights`` given (card/.safetensors path or catalogue key): that model
      only; its card's view must agree with ``view`` (``"auto"`` takes the
      card's view).
    * ``weights`` a mapping ``{"sax": ..., "lax": ...}``: one model per view
      (``"auto"`` chooses between them; a fixed view uses its entry).
    * ``rotations``: test-time quarter turns averaged (1, 2 or 4); None = each card's own setting.

    Raises:
        InputError / CheckpointError: missing, tampered or wrong-architecture
            weights, a non-cardiac model, or a view mismatch.
    """
    check_view(view)
    cache = cache or PredictorCache()
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - {"sax", "lax"})
        if unknown or not weights:
            raise InputError(None, f"weights per view must be keyed 'sax' and/or 'lax', got {sorted(weights)}")
        wanted = sorted(weights) if view == "auto" else [view]
        if view not in ("auto",) and view not in weights:
            raise InputError(None, f"no weights given for view '{view}' (have {', '.join(sorted(weights))})")
        out = {}
        for v in wanted:
            out.update(load_predictors(v, weights[v], device=device, batch_size=batch_size, cache=cache,
                                       rotations=rotations))
        return out
    if weights is None or (isinstance(weights, str) and not weights.strip()):
        views = ("sax", "lax") if view == "auto" else (view,)
        return {v: cache.get(default_weights_key("cardiac", v), device=device, batch_size=batch_size,
                             rotations=rotations, factory=CardiacPredictor) for v in views}
    predictor = cache.get(weights, device=device, batch_size=batch_size, rotations=rotations,
                          factory=CardiacPredictor)
    card = predictor.card
    if card.task != "cardiac":
        raise InputError(predictor.weights_path, f"is a '{card.task}' model, not a cardiac landmark model")
    card_view = card.view or view_of_names(card.landmark_names)
    if view != "auto":
        if card.view is not None and card.view != view:
            raise InputError(predictor.weights_path, f"is a '{card.view}' model but view '{view}' was requested")
        card_view = view
    if card_view is None:
        raise InputError(predictor.weights_path, "model card names no view; choose view 'sax' or 'lax'")
    return {card_view: predictor}


def choose_view(predictors: dict, volume_at: VolumeAt, n_times: int, *, source=None) -> tuple[str, dict]:
    """Pick the view whose model is more confident on the middle slice of the middle time point.

    Returns:
        ``(view, {view: mean confidence})``; with one predictor, its view and no scores.
    """
    if len(predictors) == 1:
        return next(iter(predictors)), {}
    volume, geometry = volume_at(n_times // 2)
    frame = greyscale_volume(volume, source)
    frame = frame[len(frame) // 2]
    scores = {}
    for view, predictor in predictors.items():
        pred = predictor.predict_cardiac(frame, geometry.spacing[:2], return_heatmaps=False, source=source)
        scores[view] = float(np.mean(pred.confidence))
    best = max(scores, key=lambda v: (scores[v], v == "sax"))
    return best, scores
