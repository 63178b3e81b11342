"""A suture model on a stream of RGB frames: preprocess -> network -> :class:`SutureDecoder` -> points.

Frames are consumed lazily, ``batch_size`` at a time, so a long video never
sits in memory. Points are in the frame's own pixels (the network input is
padded bottom/right, never resized).

Imports only numpy at load time (torch and OpenCV come in with the first predictor).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Optional

import numpy as np

from ..inference import CancelCheck, Cancelled, Predictor, ProgressCallback
from ..timing import phase

__all__ = ["SuturePrediction", "SuturePredictor"]


@dataclass
class SuturePrediction:
    """Suture points of one RGB frame: ``points (M, 2)`` float32 (x, y) px,
    ``confidence (M,)`` float32, ``heatmap (H, W)`` float32 in [0, 1] or None."""

    points: np.ndarray
    confidence: np.ndarray
    heatmap: Optional[np.ndarray]


class SuturePredictor(Predictor):
    """A suture checkpoint with its card's normalisation and :class:`~heatmap_landmarks.sutures.decode.SutureDecoder`.

    Args: those of :class:`~heatmap_landmarks.inference.Predictor`, plus
        decoder: settings that replace the card's (threshold, opening_kernel, cut, ...).
    """

    task_name = "sutures"
    task_label = "suture"

    def __init__(self, weights="sutures", *, decoder: Mapping | None = None, **kwargs):
        super().__init__(weights, **kwargs)
        from .decode import SutureDecoder

        self.decoder = SutureDecoder.from_card(self.card, **dict(decoder or {}))

    def predict_sutures(self, frames: Iterable[np.ndarray], *, return_heatmaps: bool = True,
                        decoder: Mapping | None = None, progress: ProgressCallback | None = None,
                        should_cancel: CancelCheck | None = None, total: int | None = None,
                        source=None) -> Iterator[SuturePrediction]:
        """Detect suture points on a stream of RGB frames ``(H, W, 3)`` float32 in [0, 1].

        ``decoder`` overrides this predictor's decoding settings for this call.
        """
        with phase("imports"):
            from ..preprocess import prepare_suture_frame

        decode = self.decoder.with_settings(**dict(decoder)).decode if decoder else self.decoder.decode
        norm = self.card.normalisation or {}
        mean, std = norm.get("mean"), norm.get("std")
        done = 0
        batch, transforms = [], []

        def flush():
            nonlocal done
            out = self.forward(np.stack(batch))
            for hm, tr in zip(out, transforms):
                h, w = tr.original_shape[:2]
                full = np.ascontiguousarray(hm[0, :h, :w])  # padding is bottom/right only
                with phase("decode"):
                    pts, c = decode(full)
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
            with phase("preprocess"):
                x, tr = prepare_suture_frame(frame, **kwargs)
            if batch and x.shape != batch[0].shape:  # frame size changed mid-stream
                yield from flush()
            batch.append(x)
            transforms.append(tr)
            if len(batch) == self.batch_size:
                yield from flush()
        if batch:
            yield from flush()
