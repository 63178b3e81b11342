"""Run a checkpoint on frames: preprocess -> model -> decode -> original pixels.

:class:`Predictor` is the one inference entry point shared by the Slicer
modules' Logic, the CLI, the benchmarks and the evaluation scripts. It knows
nothing of Slicer: frames in, points and heatmaps out, in the *original* pixel
grid of the input (``(x, y) = (column, row)``, 0-based).

Work is done in batches and streamed: heatmaps are produced per batch as
float32 and handed back (or dropped) before the next batch is computed, so
memory does not grow with the number of frames.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from .catalog import resolve_weights
from .errors import InputError
from .heatmaps import (assign_identities, decide_pair, decode_contours, decode_per_channel, decode_sutures,
                       decode_tethered, lv_centre_channel)
from .preprocess import prepare_cardiac, prepare_suture_frame

ProgressCallback = Callable[[int, int], None]  # (frames done, frames total)
CancelCheck = Callable[[], bool]


class Cancelled(Exception):
    """Raised between batches when the caller's ``should_cancel()`` returned True."""


@dataclass
class CardiacPrediction:
    """Landmarks of one stack of frames (slices or time points).

    Attributes:
        names: ``L`` landmark names, in channel order (e.g. RVI-1, RVI-2, LVC).
        points: ``(F, L, 2)`` float32, original pixels (x, y); NaN = not found.
        confidence: ``(F, L)`` float32 in [0, 1] (heatmap peak of the blob).
        heatmaps: ``(F, H, W)`` float32 in [0, 1] on the original grid (max
            over landmark channels), or None when not requested.
        notes: what preprocessing did (resampling, cropping), for the user.
    """

    names: list
    points: np.ndarray
    confidence: np.ndarray
    heatmaps: Optional[np.ndarray]
    notes: list = field(default_factory=list)


@dataclass
class SuturePrediction:
    """Suture points of one RGB frame: ``points (M, 2)`` float32 (x, y) px,
    ``confidence (M,)`` float32, ``heatmap (H, W)`` float32 in [0, 1] or None."""

    points: np.ndarray
    confidence: np.ndarray
    heatmap: Optional[np.ndarray]


def average_quarter_turns(forward: Callable[[np.ndarray], np.ndarray], batch: np.ndarray,
                          rotations: int) -> np.ndarray:
    """Test-time averaging of ``forward`` over 1, 2 or 4 quarter turns of the image grid.

    Args:
        forward: ``(B, C_in, h, w)`` float32 -> ``(B, C_out, h, w)`` heatmaps.
        batch: ``(B, C_in, h, w)``; ``h == w`` for 4 rotations.
        rotations: 1 (plain), 2 (0 and 180 degrees) or 4 (0, 90, 180, 270 degrees).
    Returns:
        ``(B, C_out, h, w)`` float32, the mean of the turned-back outputs.

    ``np.rot90`` permutes pixels exactly (no resampling), so every heatmap is
    turned back onto the input grid without loss. In-plane rotations keep the
    image's handedness, so no landmark identity changes (unlike mirrors).

    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> bool(np.array_equal(average_quarter_turns(lambda b: b * 2, x, 4), x * 2))
    True
    """
    if rotations not in (1, 2, 4):
        raise ValueError(f"rotations must be 1, 2 or 4, got {rotations!r}")
    if rotations == 1:
        return forward(batch)
    total = None
    for k in range(0, 4, 4 // rotations):
        y = np.rot90(forward(np.ascontiguousarray(np.rot90(batch, k, axes=(2, 3)))), -k, axes=(2, 3))
        total = y if total is None else total + y
    return np.ascontiguousarray(total / rotations, dtype=np.float32)


def card_rotations(card) -> int:
    """The test-time rotations a model card asks for: ``decoder.rotations`` of a cardiac card, else 1."""
    return int((card.decoder or {}).get("rotations", 1)) if card.task == "cardiac" else 1


def select_device(device: str = "cpu") -> "torch.device":
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` -> torch.device; a clear error if CUDA is absent."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise InputError(None, f"device '{device}' requested but CUDA is not available in this torch build ({torch.__version__}); use --device cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError(None, f"unknown device '{device}': {err}") from None


class Predictor:
    """A loaded checkpoint plus the preprocessing and decoding its card describes.

    Args:
        weights: path to a model card (``.json``) or weights (``.safetensors``)
            file, or a catalogue key such as ``"cardiac_sax"``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        batch_size: frames per forward pass.
        rotations: cardiac test-time augmentation: average the heatmaps of the frame turned
            by 0, 90, 180 and 270 degrees (4), by 0 and 180 degrees (2), or not at all (1).
            None = the card's ``decoder.rotations`` (default 1). Costs that many forward passes.

    Example (``frames`` is a ``(F, H, W)`` array)::

        pred = Predictor("cardiac_sax").predict_cardiac(frames, spacing_xy=(1.2, 1.2))
    """

    def __init__(self, weights: str | os.PathLike = "cardiac_sax", *, device: str = "cpu", batch_size: int = 8,
                 fast: bool = True, rotations: int | None = None):
        import torch

        from .checkpoint import load_checkpoint
        from .models.common import prepare_for_inference

        if batch_size < 1:
            raise InputError(None, f"batch size must be >= 1, got {batch_size}")
        self.device = select_device(device)
        self.weights_path = resolve_weights(weights)
        self.model, self.card = load_checkpoint(self.weights_path, device=str(self.device))
        self.model.eval()
        # Batch norm folded into the convs and NHWC layout: ~2x faster on CPU
        # (oneDNN); outputs agree with the plain model to float32 rounding.
        self._net = prepare_for_inference(self.model) if fast else self.model
        self._channels_last = fast
        self.batch_size = int(batch_size)
        self._torch = torch
        if rotations is None:
            rotations = card_rotations(self.card)
        if rotations not in (1, 2, 4):
            raise InputError(self.weights_path, f"rotations must be 1, 2 or 4, got {rotations!r}")
        size = tuple(self.card.input_size or ())
        if rotations == 4 and (len(size) != 2 or size[0] != size[1]):
            raise InputError(self.weights_path, f"4 rotations need a square network grid, this card's is {list(size)}")
        self.rotations = int(rotations)

    # -- helpers ---------------------------------------------------------
    @property
    def task(self) -> str:
        return self.card.task

    @property
    def names(self) -> list:
        return list(self.card.landmark_names)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """``(B, C_in, h, w)`` float32 -> ``(B, C_out, h, w)`` float32 heatmaps in [0, 1]."""
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            if self._channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = self._net(x)
            if self.card.task == "sutures":
                y = torch.sigmoid(y)  # trained on logits
            else:
                y = y.clamp_(0.0, 1.0)  # regression targets live in [0, 1]
            return y.float().cpu().numpy()

    def _forward_rotated(self, batch: np.ndarray) -> np.ndarray:
        """:meth:`_forward` averaged over ``self.rotations`` quarter turns (:func:`average_quarter_turns`)."""
        return average_quarter_turns(self._forward, batch, self.rotations)

    # -- cardiac ----------------------------------------------------------
    def predict_cardiac(self, frames, spacing_xy: Sequence[float], *, return_heatmaps: bool = True,
                        progress: ProgressCallback | None = None, should_cancel: CancelCheck | None = None,
                        source=None) -> CardiacPrediction:
        """Detect cardiac landmarks on ``(F, H, W)`` greyscale frames.

        Args:
            frames: ``(F, H, W)`` or ``(H, W)`` float, one stack (slices or time points).
            spacing_xy: in-plane pixel size (column, row) in mm.
        Returns:
            :class:`CardiacPrediction` in original pixels.
        """
        if self.card.task != "cardiac":
            raise InputError(self.weights_path, f"is a '{self.card.task}' model, not a cardiac one")
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        card = self.card
        norm = card.normalisation or {}
        net, transform = prepare_cardiac(
            frames, spacing_xy, target_spacing_mm=card.input_spacing_mm, size=tuple(card.input_size),
            percentiles=(norm.get("low", 1.0), norm.get("high", 99.0)), source=source)
        n, names = net.shape[0], self.names
        height, width = frames.shape[1:3]
        decoder = dict(card.decoder or {})
        points = np.full((n, len(names), 2), np.nan, np.float32)
        conf = np.zeros((n, len(names)), np.float32)
        heatmaps = np.zeros((n,) + frames.shape[1:3], np.float32) if return_heatmaps else None
        for start in range(0, n, self.batch_size):
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"cancelled after {start} of {n} frames")
            stop = min(n, start + self.batch_size)
            out = self._forward_rotated(net[start:stop, None])
            for b, hm in enumerate(out):
                p, c = self._decode_cardiac(hm, names, decoder)
                p = transform.to_original(p)
                # A blob in the zero padding around a small image is no landmark.
                outside = ~((p[:, 0] >= -0.5) & (p[:, 0] <= width - 0.5) & (p[:, 1] >= -0.5) & (p[:, 1] <= height - 0.5))
                p[outside] = np.nan
                points[start + b] = p
                conf[start + b] = np.where(outside, 0.0, c)
                if heatmaps is not None:
                    heatmaps[start + b] = transform.heatmap_to_original(hm.max(axis=0))
            if progress is not None:
                progress(stop, n)
        return CardiacPrediction(names=names, points=points, confidence=conf, heatmaps=heatmaps,
                                 notes=[transform.notes] if transform.notes else [])

    def _decode_cardiac(self, heatmap: np.ndarray, names: list, decoder: dict):
        """``(C, h, w)`` -> ``((L, 2) network px, (L,))``."""
        min_conf = float(decoder.get("min_confidence", 0.1))
        level = float(decoder.get("level", 0.5))
        if self.card.heatmap_mode == "per_landmark":
            reach_mm = decoder.get("rvi_max_distance_mm")
            rvi = [i for i, n in enumerate(names) if n.upper().startswith("RVI")]
            if reach_mm and rvi and len(rvi) < len(names):
                # RV insertions lie on the LV epicardium: tie them to the LV centre (decode_tethered).
                pts, conf = decode_tethered(heatmap, anchor=lv_centre_channel(names), tethered=rvi,
                                            max_distance=float(reach_mm) / float(self.card.input_spacing_mm),
                                            min_confidence=min_conf, level=level)
            else:
                pts, conf = decode_per_channel(heatmap, min_confidence=min_conf, level=level)
            pair_conf = decoder.get("rvi_pair_confidence")
            if pair_conf and len(rvi) == 2:
                # Both RV insertions or neither (decide_pair).
                pts = decide_pair(pts, conf, rvi, float(pair_conf))
            return pts, conf
        pts, c = decode_contours(heatmap[0], level=level, min_confidence=min_conf, max_points=len(names) + 2)
        return assign_identities(pts, c, names, rule=self.card.view or "auto")

    # -- sutures ----------------------------------------------------------
    def predict_sutures(self, frames: Iterable[np.ndarray], *, return_heatmaps: bool = True,
                        decoder: dict | None = None, progress: ProgressCallback | None = None,
                        should_cancel: CancelCheck | None = None, total: int | None = None,
                        source=None) -> Iterator[SuturePrediction]:
        """Detect suture points on a stream of RGB frames ``(H, W, 3)`` float32 in [0, 1].

        Frames are consumed lazily, ``batch_size`` at a time, so a long video
        never sits in memory. ``decoder`` overrides the card's decoding settings
        (threshold, opening_kernel, cut, cut_ratio, min_confidence).
        """
        if self.card.task != "sutures":
            raise InputError(self.weights_path, f"is a '{self.card.task}' model, not a suture one")
        settings = dict(self.card.decoder or {})
        settings.update(decoder or {})
        norm = self.card.normalisation or {}
        mean, std = norm.get("mean"), norm.get("std")
        done = 0
        batch, transforms = [], []

        def flush():
            nonlocal done
            out = self._forward(np.stack(batch))
            for hm, tr in zip(out, transforms):
                h, w = tr.original_shape[:2]
                full = np.ascontiguousarray(hm[0, :h, :w])  # padding is bottom/right only
                pts, c = decode_sutures(full, **settings)
                yield SuturePrediction(points=pts, confidence=c, heatmap=full if return_heatmaps else None)
            done += len(batch)
            batch.clear()
            transforms.clear()
            if progress is not None:
                progress(done, total if total is not None else done)

        for frame in frames:
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"cancelled after {done} frames")
            kwargs = {"source": source}
            if mean is not None:
                kwargs.update(mean=tuple(mean), std=tuple(std))
            x, tr = prepare_suture_frame(frame, **kwargs)
            if batch and x.shape != batch[0].shape:  # frame size changed mid-stream
                yield from flush()
            batch.append(x)
            transforms.append(tr)
            if len(batch) == self.batch_size:
                yield from flush()
        if batch:
            yield from flush()
