"""Checks of the Suture Detection Logic, shared by the Slicer self-test and pytest on slicer-core.

Each ``check_*`` function takes the scene to work in (``slicer.mrmlScene`` in
Slicer, a :func:`heatmap_landmarks.mrml.new_headless_scene` in CI) and a
writable folder, builds its input, runs the real Logic and raises
``AssertionError`` with a readable message when something is wrong.
:data:`BEHAVIOUR_CHECKS` and :data:`SHIPPED_CHECKS` list them; the module's
self-test runs them all in a loop, ``SutureDetection/Testing/Python`` one by one.

The behaviour checks use :func:`heatmap_landmarks.testing.make_spot_detector`
(a genuine ResNeXtUNet checkpoint whose hand-set weights turn every bright red
disc of a frame into one heatmap blob), so their right answers are exact and
they need no trained weights. The ``check_shipped_*`` ones use the *shipped*
demo weights (``heatmap_landmarks/weights/sutures.json``) and real CPU
inference; missing weights are a failure with a clear message, never a skip:
an installation without them cannot detect anything.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from heatmap_landmarks import mrml
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.slicer_module.selftest import interrupting_progress
from heatmap_landmarks.sutures.names import suture_labels
from heatmap_landmarks.testing import draw_spot_frame, make_spot_detector

from .logic import SutureDetectionLogic
from .sampledata import VIDEO_GEOMETRY, makeSyntheticSutureVideo

log = logging.getLogger(__name__)

#: The phantom frame's F1 (radius 6 px) must reach this with the shipped weights.
MIN_PHANTOM_F1 = 0.6
#: Seed of the check frame: far from the seeds the demo weights were trained on.
PHANTOM_SEED = 900_001
PHANTOM_SUTURES = 8
MATCH_RADIUS_PX = 6.0

SHAPE = (37, 61)  # odd on purpose: the network pads to 64 x 64, results must map back exactly


def _rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    return (np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
            @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]))


#: An oblique placement, so that pixel -> RAS mistakes show.
OBLIQUE = Geometry(spacing=(0.4, 0.55, 1.0), origin=(12.0, -7.5, 30.0), direction=_rotation(0.2, -0.1, 0.4))
#: Suture centres (x, y) px of the 4 frames of the test video (frame 1 has none).
CENTRES = [[[10.0, 10.0]], [], [[12.0, 25.0], [30.0, 12.0], [50.0, 28.0]], [[40.0, 20.0], [20.0, 30.0]]]


# ---------------------------------------------------------------------------
# inputs and helpers (also used by the pytest file)
# ---------------------------------------------------------------------------
def spot_detector(folder) -> Path:
    """The spot detector's model card in ``folder``, written there the first time."""
    card = Path(folder) / "spot_detector.json"
    return card if card.exists() else make_spot_detector(folder)


@contextlib.contextmanager
def _workdir(folder):
    """A fresh temporary folder inside ``folder`` (the system's temporary folder when None), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="SutureSelfTest-", dir=folder) as work:
        yield work


def frame_node(centres, name="frame", shape=SHAPE, geometry=OBLIQUE, alpha=None, scene=None):
    pixels = draw_spot_frame(shape, centres, dtype=np.uint8)
    if alpha is not None:
        pixels = np.dstack([pixels, alpha])
    return mrml.volume_node_from_array(pixels[None], geometry, name, scene=scene)


def video(centres_per_frame, name="video", geometry=OBLIQUE, scene=None):
    frames = np.stack([draw_spot_frame(SHAPE, c, dtype=np.uint8) for c in centres_per_frame])
    return mrml.sequence_from_frames(frames, name, geometry=geometry, scene=scene)


def ras(centres, geometry=OBLIQUE):
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    return geometry.pixel_to_ras(np.column_stack([c, np.zeros(len(c))]))


def by_x(points):
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return p[np.lexsort((p[:, 1], p[:, 0]))]


def composite_layers(scene):
    node = scene.GetNthNodeByClass(0, "vtkMRMLSliceCompositeNode")
    return node.GetBackgroundVolumeID(), node.GetForegroundVolumeID(), node.GetForegroundOpacity()


# ---------------------------------------------------------------------------
# behaviour, with the hand-set spot detector
# ---------------------------------------------------------------------------
def check_single_frame(scene, folder) -> None:
    """One colour frame: a heatmap on the frame's grid, S-1..S-n points at their RAS places, a count table."""
    detector = spot_detector(folder)
    centres = [[10.0, 12.0], [45.0, 26.0]]
    volume = frame_node(centres, "000123", scene=scene)
    logic = SutureDetectionLogic()
    result = logic.detect(volume, weights=detector)

    heatmap, geometry = mrml.array_from_volume_node(result.heatmapNode)
    assert heatmap.shape == (1,) + SHAPE and geometry.almost_equal(OBLIQUE), f"heatmap {heatmap.shape} {geometry}"
    assert heatmap.max() > 0.99 and heatmap[0, 0, 0] < 0.01, f"heatmap range {heatmap.min()}..{heatmap.max()}"
    points, labels, descriptions = mrml.fiducials_to_arrays(result.pointsNode)
    assert labels == ["S-1", "S-2"] and all(d.startswith("confidence=") for d in descriptions), (labels, descriptions)
    distances = np.linalg.norm(points[:, None, :] - ras(centres)[None, :, :], axis=2)
    assert np.all(distances.min(axis=0) < 0.03), f"points {points} are not at the RAS places of {centres}"
    pixels, _, confidence = logic.currentPoints(result)[0]
    np.testing.assert_allclose(by_x(pixels), by_x(centres), atol=0.05)
    assert np.all(confidence > 0.99), f"confidence {confidence}"
    counts = mrml.columns_from_table(result.countTableNode)
    assert counts == {"frame": ["000123.png"], "sutures": [2]}, f"count table {counts}"
    assert result.frameNames == ["000123.png"] and not result.isSequence, (result.frameNames, result.isSequence)
    background, foreground, opacity = composite_layers(scene)
    assert (background, foreground) == (volume.GetID(), result.heatmapNode.GetID()) and abs(opacity - 0.6) < 1e-6, \
        f"slice views show {background}, {foreground} at opacity {opacity}"


#: The ways a user can give a video: the proxy volume the views show, the sequence, or its browser.
VIDEO_INPUTS = ("proxy", "sequence", "browser")


def check_video_sequence(scene, folder, *, inputs=VIDEO_INPUTS) -> None:
    """A 4-frame video given as each of ``inputs``: points and heatmaps are sequences that follow the browser."""
    detector = spot_detector(folder)
    for given in inputs:
        sequence, browser, proxy = video(CENTRES, scene=scene)
        node = {"proxy": proxy, "sequence": sequence, "browser": browser}[given]
        logic = SutureDetectionLogic()
        result = logic.detect(node, weights=detector, batchSize=3)  # batches of 3 and 1 frames
        assert result.isSequence and result.browserNode is browser and result.backgroundNode is proxy, \
            f"the video given as its {given} was not processed as a sequence"
        assert result.frameNames == ["000000.png", "000001.png", "000002.png", "000003.png"], result.frameNames
        assert logic.pointCounts(result) == [1, 0, 3, 2], logic.pointCounts(result)
        assert mrml.columns_from_table(result.countTableNode)["sutures"] == [1, 0, 3, 2]
        for t in (2, 0, 1, 3, 1):
            browser.SetSelectedItemNumber(t)
            shown, labels, _ = mrml.fiducials_to_arrays(result.pointsNode)
            assert labels == suture_labels(len(CENTRES[t])), f"frame {t}: labels {labels}"
            if CENTRES[t]:
                np.testing.assert_allclose(by_x(OBLIQUE.ras_to_pixel(shown)[:, :2]), by_x(CENTRES[t]), atol=0.05)
            heat = mrml.array_from_volume_node(result.heatmapNode)[0]
            assert (heat.max() > 0.99) == bool(CENTRES[t]), f"frame {t}: heatmap max {heat.max()}"
        background, foreground, _ = composite_layers(scene)
        assert (background, foreground) == (proxy.GetID(), result.heatmapNode.GetID()), \
            f"slice views show {background}, {foreground}"


def check_rerun_makes_new_nodes(scene, folder) -> None:
    """An opaque RGBA frame is accepted; a second run adds new nodes and never replaces the first run's."""
    detector = spot_detector(folder)
    volume = frame_node([[30.0, 18.0]], "frame", alpha=np.full(SHAPE, 255, np.uint8), scene=scene)
    logic = SutureDetectionLogic()
    first = logic.detect(volume, weights=detector)
    second = logic.detect(volume, weights=detector)
    assert first.pointsNode.GetName() != second.pointsNode.GetName(), "the second run reused the point list's name"
    assert first.pointsNode.GetScene() is scene and first.pointsNode.GetNumberOfControlPoints() == 1, \
        "the first run's points were removed or changed"


def check_rerun_keeps_edits(scene, folder) -> None:
    """Edits of the shown frame (moved and added points) stay in the sequence and reach counts and exports."""
    detector = spot_detector(folder)
    sequence, browser, proxy = video(CENTRES, scene=scene)
    logic = SutureDetectionLogic()
    result = logic.detect(proxy, weights=detector)
    browser.SetSelectedItemNumber(3)
    moved = ras([[33.0, 9.0]])[0]
    result.pointsNode.SetNthControlPointPositionWorld(0, *moved)
    result.pointsNode.AddControlPoint(*ras([[5.0, 5.0]])[0], "added")
    pixels, labels, confidence = logic.currentPoints(result)[3]
    assert labels[-1] == "added" and np.isnan(confidence[-1]), (labels, confidence)
    np.testing.assert_allclose(pixels[[0, 2]], [[33.0, 9.0], [5.0, 5.0]], atol=1e-6)
    browser.SetSelectedItemNumber(0)  # leave the frame: the edit must stay in the sequence
    browser.SetSelectedItemNumber(3)
    assert result.pointsNode.GetNumberOfControlPoints() == 3, "the edit was lost when the frame changed"
    table = logic.refreshCountTable(result)
    assert mrml.columns_from_table(table)["sutures"] == [1, 0, 3, 3], mrml.columns_from_table(table)
    with _workdir(folder) as work:
        path = Path(work) / "s.csv"
        logic.exportCsv(path)
        lines = path.read_text().splitlines()
    assert lines[0] == "frame,label,x,y,confidence" and lines[-1] == "000003.png,added,5,5,", (lines[0], lines[-1])


def _grey_volume(scene):
    return mrml.volume_node_from_array(np.zeros((1,) + SHAPE, np.uint8), OBLIQUE, "grey", scene=scene)


def _transparent_rgba(scene):
    alpha = np.full(SHAPE, 255, np.uint8)
    alpha[3, 4] = 0
    return frame_node([[20, 20]], "rgba", alpha=alpha, scene=scene)


def _two_slice_volume(scene):
    return mrml.volume_node_from_array(np.zeros((2,) + SHAPE + (3,), np.uint8), OBLIQUE, "stack", scene=scene)


def _grey_item_in_video(scene):
    items = [(draw_spot_frame(SHAPE, [[10, 10]], dtype=np.uint8)[None], OBLIQUE) for _ in range(5)]
    items[3] = (np.zeros((1,) + SHAPE, np.uint8), OBLIQUE)  # fails after frames 0-2 were processed
    return mrml.sequence_from_frames(items, "mixed", scene=scene)[2]


def _empty_sequence(scene):
    return mrml.scene.add_new_node(scene, "vtkMRMLSequenceNode", "empty")


def _good_frame(scene):
    return frame_node([[9, 9]], scene=scene)


#: ``(id, make(scene) -> input node, detect() keywords, regular expression the one-line message matches)``.
BAD_INPUTS = (
    ("grey", _grey_volume, {}, "greyscale .scalar. volume"),
    ("rgba-transparent", _transparent_rgba, {}, "transparency"),
    ("two-slices", _two_slice_volume, {}, "has 2 slices"),
    ("grey-item-mid-video", _grey_item_in_video, {"batchSize": 2}, "mixed frame 3: is a greyscale"),
    ("empty-sequence", _empty_sequence, {}, "has no frames"),
    ("none", lambda scene: None, {}, "no input selected"),
    ("threshold", _good_frame, {"threshold": 1.5}, "threshold must be in"),
    ("opening", _good_frame, {"openingKernel": -1}, "opening kernel"),
    ("batch", _good_frame, {"batchSize": 0}, "batch size"),
    ("device", _good_frame, {"device": "tpu"}, "device must be"),
    ("weights", _good_frame, {"weights": "/nonexistent/model.json"}, "weights file not found"),
    ("no-weights", _good_frame, {"weights": ""}, "no weights file chosen"),
    ("cardiac-weights", _good_frame, {"weights": "cardiac_sax"}, "cardiac|missing from this installation"),
)


def check_bad_inputs(scene, folder, *, cases=BAD_INPUTS) -> None:
    """Each bad input or setting is a one-line InputError, and the scene is left as it was."""
    import re

    detector = spot_detector(folder)
    for name, make, kwargs, message in cases:
        node = make(scene)
        before = scene.GetNumberOfNodes()
        logic = SutureDetectionLogic()
        try:
            logic.detect(node, **{"weights": detector, **kwargs})
        except InputError as err:
            text = str(err)
        else:
            raise AssertionError(f"{name}: expected an InputError matching {message!r}, nothing was raised")
        assert re.search(message, text), f"{name}: expected an error matching {message!r}, got: {text}"
        assert "\n" not in text, f"{name}: the message is not one line: {text!r}"
        assert scene.GetNumberOfNodes() == before and logic.lastResult is None, f"{name}: the scene was changed"


def check_cancel_rolls_back(scene, folder) -> None:
    """Cancel in the middle of a video: Cancelled is raised, nothing is added, and the next run is not cancelled."""
    from heatmap_landmarks.inference import Cancelled  # imports OpenCV: only once the packages are there

    detector = spot_detector(folder)
    sequence, browser, proxy = video(CENTRES, scene=scene)
    logic = SutureDetectionLogic()
    messages = []

    def progress(fraction, message):
        messages.append(fraction)
        if 0.0 < fraction < 1.0:
            logic.cancel()

    before = scene.GetNumberOfNodes()
    try:
        logic.detect(proxy, weights=detector, batchSize=1, progressCallback=progress)
    except Cancelled:
        pass
    else:
        raise AssertionError("the run was not cancelled")
    assert scene.GetNumberOfNodes() == before and messages[:2] == [0.0, 0.25], \
        f"nodes {before} -> {scene.GetNumberOfNodes()}, progress {messages}"
    assert logic.detect(proxy, weights=detector).frameCount == 4, "the next run was cancelled too"


#: ``(what the user does, in which progress message)``: "4 of 4" is after the last batch.
INTERRUPTIONS = (("close the scene", "1 of 4"), ("remove the sequence", "1 of 4"),
                 ("remove the proxy volume", "1 of 4"), ("close the scene", "4 of 4"))


def check_interruptions_roll_back(scene, folder, *, cases=INTERRUPTIONS) -> None:
    """Closing the scene or removing the input mid-run stops the run like a cancel, and it adds nothing.

    The panel processes GUI events at every progress report, so the user can
    close the scene or delete the input while a run goes on.
    """
    from heatmap_landmarks.inference import Cancelled  # imports OpenCV: only once the packages are there

    detector = spot_detector(folder)
    for action, when in cases:
        sequence, browser, proxy = video(CENTRES, scene=scene)
        logic = SutureDetectionLogic()
        classes = ("vtkMRMLSequenceNode", "vtkMRMLMarkupsFiducialNode", "vtkMRMLTableNode")
        counts = {c: scene.GetNumberOfNodesByClass(c) for c in classes}

        progress = interrupting_progress(scene, action, when, sequence, proxy)
        try:
            logic.detect(proxy, weights=detector, batchSize=1, progressCallback=progress)
        except Cancelled:
            pass
        else:
            raise AssertionError(f"{action} at '{when}': the run was not cancelled")
        after = {c: scene.GetNumberOfNodesByClass(c) for c in classes}
        if action == "close the scene":
            assert not any(after.values()), f"{action} at '{when}': nodes left {after}"
        else:
            assert all(after[c] <= counts[c] for c in classes), f"{action} at '{when}': {counts} -> {after}"
        assert not mrml.heatmap_node_ids(scene) and logic.lastResult is None, \
            f"{action} at '{when}': a heatmap or a result was left"


BEHAVIOUR_CHECKS = (check_single_frame, check_video_sequence, check_rerun_makes_new_nodes, check_rerun_keeps_edits,
                    check_bad_inputs, check_cancel_rolls_back, check_interruptions_roll_back)


# ---------------------------------------------------------------------------
# shipped demo weights
# ---------------------------------------------------------------------------
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


def check_shipped_weights_phantom_frame(scene, folder=None, *, minF1: float = MIN_PHANTOM_F1,
                                        seed: int = PHANTOM_SEED):
    """Detect sutures on one phantom frame with the shipped weights on CPU; F1 must reach ``minF1``.

    Also checks the nodes: a heatmap volume of the frame's size, S-1..S-n
    points placed at the RAS positions of their pixels, a one-row count table.

    Returns:
        the :class:`~SutureDetectionLib.logic.SutureComparison`.
    """
    from heatmap_landmarks.adaptor_json import write_point_labels
    from heatmap_landmarks.phantoms.endoscopic import make_suture_frame

    weights = shippedWeightsPath()
    sample = make_suture_frame(seed, n_sutures=PHANTOM_SUTURES, domain="sim", randomisation="train")
    frame = np.round(np.clip(sample.image, 0, 1) * 255).astype(np.uint8)
    volume = mrml.volume_node_from_array(frame[None], VIDEO_GEOMETRY, "SutureSelfTestFrame", scene=scene)
    logic = SutureDetectionLogic()
    result = logic.detect(volume, weights=weights, device="cpu")

    heatmap, _ = mrml.array_from_volume_node(result.heatmapNode)
    assert heatmap.shape == (1,) + frame.shape[:2], f"heatmap shape {heatmap.shape} != frame {frame.shape[:2]}"
    points, labels, _ = mrml.fiducials_to_arrays(result.pointsNode)
    assert labels == suture_labels(len(labels)), f"unexpected point labels {labels}"
    pixels = logic.currentPoints(result)[0][0]
    back = VIDEO_GEOMETRY.pixel_to_ras(np.column_stack([pixels, np.zeros(len(pixels))])) if len(pixels) else points
    assert np.allclose(back, points, atol=1e-6), "points are not at the RAS position of their pixels"
    counts = mrml.columns_from_table(result.countTableNode)["sutures"]
    assert counts == [len(labels)], f"count table {counts} != {len(labels)} points"

    with _workdir(folder) as work:
        truth = os.path.join(work, "SutureSelfTestFrame.json")
        write_point_labels(truth, sample.points, frame.shape[:2])
        comparison = logic.compareToGroundTruth(result, truth, radius=MATCH_RADIUS_PX)
    log.info("%s", comparison.summary())
    assert comparison.f1 >= minF1, (f"F1 {comparison.f1:.3f} on the phantom frame (seed {seed}) is below {minF1}: "
                                    f"{comparison.summary()}")
    return comparison


def check_shipped_weights_sample_video(scene, folder=None, *, nFrames: int = 3):
    """The sample video end to end with the shipped weights: sequence sync, comparison, exports.

    Returns:
        ``(result, comparison)``.
    """
    from heatmap_landmarks.errors import OutputExistsError

    weights = shippedWeightsPath()
    with _workdir(folder) as work:
        sequence, browser, proxy, truth = makeSyntheticSutureVideo(nFrames=nFrames, groundTruthFolder=work)
        logic = SutureDetectionLogic()
        result = logic.detect(proxy, weights=weights, device="cpu")
        assert result.isSequence and result.browserNode is browser, "the video was not processed as a sequence"
        counts = logic.pointCounts(result)
        for t in range(nFrames):
            browser.SetSelectedItemNumber(t)
            shown = result.pointsNode.GetNumberOfControlPoints()
            assert shown == counts[t], f"frame {t}: proxy shows {shown} points, sequence item holds {counts[t]}"
        comparison = logic.compareToGroundTruth(result, truth, radius=MATCH_RADIUS_PX)
        log.info("%s", comparison.summary())
        assert len(comparison.perFrame) == nFrames, f"compared {len(comparison.perFrame)} of {nFrames} frames"
        csv_path = os.path.join(work, "sutures.csv")
        logic.exportCsv(csv_path)
        logic.exportSubmissionJson(os.path.join(work, "submission.json"), "synthetic", "video01")
        try:
            logic.exportCsv(csv_path)
        except OutputExistsError:
            pass
        else:
            raise AssertionError("exportCsv replaced an existing file without being asked to")
    return result, comparison


SHIPPED_CHECKS = (check_shipped_weights_phantom_frame, check_shipped_weights_sample_video)
#: Every check, in the order the module's self-test runs them.
ALL_CHECKS = BEHAVIOUR_CHECKS + SHIPPED_CHECKS
