"""Suture detection on endoscopic frames: vocabulary, decoding, prediction.

* :mod:`.names`: the ``S-n`` labels.
* :mod:`.decode`: Otsu / opening / cutting / centroids (:class:`SutureDecoder`).
* :mod:`.predict`: :class:`SuturePredictor`, a stream of RGB frames in, points out.
* :mod:`.pipeline`: :func:`detect_sutures`, the caller's frame records in, each with its points and labels out.

Imports only numpy and scipy at load time.
"""
from .decode import SutureDecoder, decode_sutures, user_settings
from .names import LANDMARK_NAME, suture_labels
from .pipeline import detect_sutures
from .predict import SuturePrediction, SuturePredictor

__all__ = ["LANDMARK_NAME", "SutureDecoder", "SuturePrediction", "SuturePredictor", "decode_sutures",
           "detect_sutures", "suture_labels", "user_settings"]
