"""Cardiac MR landmarks: vocabulary, decoding, prediction, the stack/cine pipeline, measurements.

* :mod:`.names`: SAX/LAX landmark names and the rules that name points (RVI-1 anterior, BCA/ACA).
* :mod:`.decode`: :class:`CardiacDecoder`, network heatmaps -> named points.
* :mod:`.predict`: :class:`CardiacPredictor`, a stack of frames in, points out; model loading per view.
* :mod:`.pipeline`: :func:`detect_cardiac` over the time points and slices of an input.
* :mod:`.measurements`: clinical measurements from the points.
* :mod:`.segmentation`: the same landmarks from an expert label map.

Imports only numpy and scipy at load time (the Slicer module loads this before torch is installed).
"""
from .decode import CardiacDecoder
from .names import LAX_NAMES, SAX_NAMES, VIEW_CHOICES
from .pipeline import CHUNK_FRAMES, CardiacDetections, FrameLandmarks, detect_cardiac
from .predict import CardiacPrediction, CardiacPredictor, choose_view, load_predictors

__all__ = ["CHUNK_FRAMES", "CardiacDecoder", "CardiacDetections", "CardiacPrediction", "CardiacPredictor",
           "FrameLandmarks", "LAX_NAMES", "SAX_NAMES", "VIEW_CHOICES", "choose_view", "detect_cardiac",
           "load_predictors"]
