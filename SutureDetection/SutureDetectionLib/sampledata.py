"""A synthetic endoscopic video for trying the module, generated locally (nothing is downloaded).

The frames come from :func:`heatmap_landmarks.phantoms.endoscopic.make_suture_video`
(a silicone-valve simulator look, slow camera drift, 0-15 sutures whose entry
points are known exactly). They are put in the scene as a sequence of colour
volumes placed like a video imported into 3D Slicer (1 mm pixels, the LPS
image axes of PNG files), with a browser, and the true points are written as
an AdaptOR submission JSON so the comparison can be tried at once.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from heatmap_landmarks import mrml
from heatmap_landmarks.adaptor_json import SubmissionEntry, write_submission_json
from heatmap_landmarks.geometry import Geometry

SAMPLE_NAME = "SyntheticSutureVideo"
#: The Sample Data section (registered with this title, so Slicer shows it as written here).
CATEGORY = "Suture Detection"
#: Node attribute holding the path of the sample's ground-truth JSON.
GROUND_TRUTH_ATTRIBUTE = "SutureDetection.GroundTruthPath"
FOLDER_NAME, SUBFOLDER_NAME = "synthetic", "video01"
FRAME_INTERVAL_MS = 40.0  # 25 frames per second

#: Geometry 3D Slicer gives a PNG/JPG frame or video: 1 mm pixels, image x/y along -R/-A.
VIDEO_GEOMETRY = Geometry(spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=np.diag([-1.0, -1.0, 1.0]))


def syntheticFrames(nFrames: int = 20, seed: int = 2021, size=(288, 512), nSutures=None):
    """``(frames (T, H, W, 3) uint8 RGB, points: list of T (N_t, 2) float32 (x, y) px)``."""
    from heatmap_landmarks.phantoms.endoscopic import make_suture_video

    clip = make_suture_video(seed, nFrames, n_sutures=nSutures, domain="sim", size=tuple(size), randomisation="train")
    frames = np.stack([np.round(np.clip(s.image, 0.0, 1.0) * 255).astype(np.uint8) for s in clip])
    return frames, [s.points for s in clip]


def makeSyntheticSutureVideo(nFrames: int = 20, seed: int = 2021, size=(288, 512), nSutures=None,
                             groundTruthFolder=None, name: str = SAMPLE_NAME):
    """Add the synthetic video to the scene and write its ground truth.

    Args:
        nFrames: number of frames (25 per second).
        seed: random seed (same seed, same video).
        size: ``(H, W)`` in pixels.
        nSutures: sutures in the scene (None: drawn at random, 0..15).
        groundTruthFolder: where ``<name>_ground_truth.json`` goes (default:
            a new temporary folder).

    Returns:
        ``(sequence node, browser node, proxy volume node, ground-truth JSON path)``.
    """
    frames, points = syntheticFrames(nFrames, seed, size, nSutures)
    sequence, browser, proxy = mrml.sequence_from_frames(
        frames, name, geometry=VIDEO_GEOMETRY, index_values=np.arange(len(frames)) * FRAME_INTERVAL_MS)
    folder = groundTruthFolder or tempfile.mkdtemp(prefix="SutureDetection-")
    path = os.path.join(os.fspath(folder), f"{name}_ground_truth.json")
    entries = [SubmissionEntry(FOLDER_NAME, SUBFOLDER_NAME, f"{t:06d}.png", p) for t, p in enumerate(points)]
    write_submission_json(entries, path, overwrite=groundTruthFolder is None)  # our own new folder: nothing to lose
    for node in (sequence, proxy):
        node.SetAttribute(GROUND_TRUTH_ATTRIBUTE, path)
    return sequence, browser, proxy, path
