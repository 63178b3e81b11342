"""Checks shared by the module's self-test in 3D Slicer and by pytest on slicer-core.

They use the *shipped* demo weights (``heatmap_landmarks/weights/sutures.json``)
and real CPU inference. Missing weights are a failure with a clear message,
never a skip: an installation without them cannot detect anything.

Each check raises ``AssertionError`` with a readable message when something is
wrong and returns what it measured otherwise. ``log`` is any callable taking
a message (``print``, or ``ScriptedLoadableModuleTest.delayDisplay`` in Slicer).
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from heatmap_landmarks import mrml

from .logic import SutureDetectionLogic
from .sampledata import VIDEO_GEOMETRY, makeSyntheticSutureVideo

#: The phantom frame's F1 (radius 6 px) must reach this with the shipped weights.
MIN_PHANTOM_F1 = 0.6
#: Seed of the check frame: far from the seeds the demo weights were trained on.
PHANTOM_SEED = 900_001
PHANTOM_SUTURES = 8
MATCH_RADIUS_PX = 6.0


def _quiet(message: str) -> None:
    pass


def shippedWeightsPath():
    """Path of the shipped suture model card; AssertionError naming the missing file otherwise."""
    from heatmap_landmarks.catalog import CATALOG_FILE, WEIGHTS_DIR, load_catalog

    entry = load_catalog().get("sutures")
    assert entry is not None, f"{CATALOG_FILE} has no 'sutures' entry"
    card = WEIGHTS_DIR / entry["card"]
    weights = card.with_suffix(".safetensors")
    missing = [os.fspath(p) for p in (card, weights) if not p.is_file()]
    assert not missing, ("shipped suture weights are missing: " + ", ".join(missing)
                         + " (train them with python -m training.sutures.train or install a release that includes them)")
    return card


def checkPhantomFrame(minF1: float = MIN_PHANTOM_F1, seed: int = PHANTOM_SEED, log=_quiet):
    """Detect sutures on one phantom frame with the shipped weights on CPU; F1 must reach ``minF1``.

    Also checks the nodes: a heatmap volume of the frame's size, S-1..S-n
    points placed at the RAS positions of their pixels, a one-row count table.

    Returns:
        the :class:`~SutureDetectionLib.logic.SutureComparison`.
    """
    from heatmap_landmarks.adaptor_json import write_point_labels
    from heatmap_landmarks.phantoms.endoscopic import make_suture_frame

    weights = shippedWeightsPath()
    log("Suture detection self-test: phantom frame with the shipped weights (CPU)")
    sample = make_suture_frame(seed, n_sutures=PHANTOM_SUTURES, domain="sim", randomisation="train")
    frame = np.round(np.clip(sample.image, 0, 1) * 255).astype(np.uint8)
    volume = mrml.volume_node_from_array(frame[None], VIDEO_GEOMETRY, "SutureSelfTestFrame")
    logic = SutureDetectionLogic()
    result = logic.detect(volume, weights=weights, device="cpu")

    heatmap, _ = mrml.array_from_volume_node(result.heatmapNode)
    assert heatmap.shape == (1,) + frame.shape[:2], f"heatmap shape {heatmap.shape} != frame {frame.shape[:2]}"
    ras, labels, _ = mrml.fiducials_to_arrays(result.pointsNode)
    assert labels == [f"S-{i + 1}" for i in range(len(labels))], f"unexpected point labels {labels}"
    pixels = logic.currentPoints(result)[0][0]
    back = VIDEO_GEOMETRY.pixel_to_ras(np.column_stack([pixels, np.zeros(len(pixels))])) if len(pixels) else ras
    assert np.allclose(back, ras, atol=1e-6), "points are not at the RAS position of their pixels"
    counts = mrml.columns_from_table(result.countTableNode)["sutures"]
    assert counts == [len(labels)], f"count table {counts} != {len(labels)} points"

    with tempfile.TemporaryDirectory(prefix="SutureSelfTest-") as folder:
        truth = os.path.join(folder, "SutureSelfTestFrame.json")
        write_point_labels(truth, sample.points, frame.shape[:2])
        comparison = logic.compareToGroundTruth(result, truth, radius=MATCH_RADIUS_PX)
    log(comparison.summary())
    assert comparison.f1 >= minF1, (f"F1 {comparison.f1:.3f} on the phantom frame (seed {seed}) is below {minF1}: "
                                    f"{comparison.summary()}")
    return comparison


def checkSampleVideo(nFrames: int = 3, log=_quiet):
    """The sample video end to end with the shipped weights: sequence sync, comparison, exports.

    Returns:
        ``(result, comparison)``.
    """
    from heatmap_landmarks.errors import OutputExistsError

    weights = shippedWeightsPath()
    log(f"Suture detection self-test: synthetic video of {nFrames} frames")
    with tempfile.TemporaryDirectory(prefix="SutureSelfTest-") as folder:
        sequence, browser, proxy, truth = makeSyntheticSutureVideo(nFrames=nFrames, groundTruthFolder=folder)
        logic = SutureDetectionLogic()
        result = logic.detect(proxy, weights=weights, device="cpu")
        assert result.isSequence and result.browserNode is browser, "the video was not processed as a sequence"
        counts = logic.pointCounts(result)
        for t in range(nFrames):
            browser.SetSelectedItemNumber(t)
            shown = result.pointsNode.GetNumberOfControlPoints()
            assert shown == counts[t], f"frame {t}: proxy shows {shown} points, sequence item holds {counts[t]}"
        comparison = logic.compareToGroundTruth(result, truth, radius=MATCH_RADIUS_PX)
        log(comparison.summary())
        assert len(comparison.perFrame) == nFrames, f"compared {len(comparison.perFrame)} of {nFrames} frames"
        csv_path = os.path.join(folder, "sutures.csv")
        logic.exportCsv(csv_path)
        logic.exportSubmissionJson(os.path.join(folder, "submission.json"), "synthetic", "video01")
        try:
            logic.exportCsv(csv_path)
        except OutputExistsError:
            pass
        else:
            raise AssertionError("exportCsv replaced an existing file without being asked to")
    return result, comparison


def runAll(log=print) -> None:
    """Every check, in order (what the module's self-test runs)."""
    checkPhantomFrame(log=log)
    checkSampleVideo(log=log)
    log("Suture detection self-test passed")
