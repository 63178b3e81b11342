"""Suture detection over a stream of frames: the pipeline shared by the Slicer Logic and the CLI.

:func:`detect_sutures` runs a :class:`~heatmap_landmarks.sutures.predict.SuturePredictor`
over any iterable of the caller's frame records (a CLI frame with its file
name, a Slicer sequence item with its geometry) and hands each record back
with its prediction and point labels, in order, one at a time: a long video
is never held in memory, and the caller keeps whatever it needs per frame.
"""
from __future__ import annotations

import collections
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np

from ..timing import phase
from .names import suture_labels
from .predict import SuturePrediction

__all__ = ["detect_sutures"]

T = TypeVar("T")


def detect_sutures(items: Iterable[T], predictor, *, rgb_of: Callable[[T], np.ndarray],
                   **predict_options) -> Iterator[tuple[T, SuturePrediction, list]]:
    """``(item, prediction, labels)`` for every item, in order.

    Args:
        items: the caller's frame records, consumed lazily.
        predictor: a :class:`~heatmap_landmarks.sutures.predict.SuturePredictor`.
        rgb_of: ``item -> (H, W, 3)`` float32 RGB in [0, 1] (called once per item, as the predictor needs it).
        predict_options: passed on to :meth:`SuturePredictor.predict_sutures` (decoder, return_heatmaps,
            progress, should_cancel, total, source).
    Returns:
        an iterator; ``labels`` are the points' ``S-1 .. S-n`` names.
    """
    pending: collections.deque = collections.deque()  # handed to the predictor, waiting for their result

    def pixels():
        source = iter(items)
        while True:
            with phase("read"):  # decoding the frame and converting its pixels
                try:
                    item = next(source)
                except StopIteration:
                    return
                rgb = rgb_of(item)
            pending.append(item)
            yield rgb

    for prediction in predictor.predict_sutures(pixels(), **predict_options):
        yield pending.popleft(), prediction, suture_labels(len(prediction.points))
