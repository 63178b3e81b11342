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

__all__ = ["detect_sutures", "drop_in_boxes"]

T = TypeVar("T")


def drop_in_boxes(prediction: SuturePrediction, boxes) -> SuturePrediction:
    """``prediction`` without the points inside any of ``boxes`` (``(x0, y0, x1, y1)`` pixels, inclusive).

    A user's ignore region, e.g. where an endoscope draws its overlay; the model itself is never told.

    >>> p = SuturePrediction(np.array([[5.0, 5.0], [50.0, 5.0]], np.float32), np.array([0.9, 0.8], np.float32), None)
    >>> drop_in_boxes(p, [(40, 0, 60, 10)]).points.tolist()
    [[5.0, 5.0]]
    """
    keep = np.ones(len(prediction.points), bool)
    for x0, y0, x1, y1 in boxes or ():
        x, y = prediction.points[:, 0], prediction.points[:, 1]
        keep &= ~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    return SuturePrediction(prediction.points[keep], prediction.confidence[keep], prediction.heatmap)


def detect_sutures(items: Iterable[T], predictor, *, rgb_of: Callable[[T], np.ndarray], ignore_boxes=(),
                   **predict_options) -> Iterator[tuple[T, SuturePrediction, list]]:
    """``(item, prediction, labels)`` for every item, in order.

    Args:
        items: the caller's frame records, consumed lazily.
        predictor: a :class:`~heatmap_landmarks.sutures.predict.SuturePredictor`.
        rgb_of: ``item -> (H, W, 3)`` float32 RGB in [0, 1] (called once per item, as the predictor needs it).
        ignore_boxes: ``(x0, y0, x1, y1)`` pixel boxes whose points are dropped (:func:`drop_in_boxes`).
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
        if ignore_boxes:
            prediction = drop_in_boxes(prediction, ignore_boxes)
        yield pending.popleft(), prediction, suture_labels(len(prediction.points))
