"""SutureDetectionLogic on slicer-core, headless, with real inference.

The model is :func:`heatmap_landmarks.testing.make_spot_detector`: a genuine
ResNeXtUNet checkpoint whose weights are set by hand so that every bright red
disc of a frame becomes one heatmap blob. Frames therefore have known suture
points, and every check below compares with exact positions.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")

from heatmap_landmarks import mrml  # noqa: E402
from heatmap_landmarks.adaptor_json import read_submission_json, write_point_labels  # noqa: E402
from heatmap_landmarks.errors import InputError, OutputExistsError  # noqa: E402
from heatmap_landmarks.geometry import Geometry  # noqa: E402
from heatmap_landmarks.inference import Cancelled  # noqa: E402
from heatmap_landmarks.testing import draw_spot_frame, make_spot_detector  # noqa: E402
from SutureDetectionLib import logic as logic_module  # noqa: E402
from SutureDetectionLib.logic import SutureDetectionLogic  # noqa: E402
from SutureDetectionLib.sampledata import GROUND_TRUTH_ATTRIBUTE, makeSyntheticSutureVideo  # noqa: E402

SHAPE = (37, 61)  # odd on purpose: the network pads to 64 x 64, results must map back exactly


def _rotation(ax, ay, az):
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    return (np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]]) @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
            @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]))


OBLIQUE = Geometry(spacing=(0.4, 0.55, 1.0), origin=(12.0, -7.5, 30.0), direction=_rotation(0.2, -0.1, 0.4))


@pytest.fixture
def scene():
    s = mrml.new_headless_scene()
    yield s
    mrml.close_headless_scene(s)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return make_spot_detector(tmp_path_factory.mktemp("spot_model"))


def frame_node(centres, name="frame", shape=SHAPE, geometry=OBLIQUE, alpha=None):
    pixels = draw_spot_frame(shape, centres, dtype=np.uint8)
    if alpha is not None:
        pixels = np.dstack([pixels, alpha])
    return mrml.volume_node_from_array(pixels[None], geometry, name)


def video(centres_per_frame, name="video", geometry=OBLIQUE):
    frames = np.stack([draw_spot_frame(SHAPE, c, dtype=np.uint8) for c in centres_per_frame])
    return mrml.sequence_from_frames(frames, name, geometry=geometry)


def ras(centres, geometry=OBLIQUE):
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    return geometry.pixel_to_ras(np.column_stack([c, np.zeros(len(c))]))


def by_x(points):
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return p[np.lexsort((p[:, 1], p[:, 0]))]


def composite_layers(scene):
    node = scene.GetNthNodeByClass(0, "vtkMRMLSliceCompositeNode")
    return node.GetBackgroundVolumeID(), node.GetForegroundVolumeID(), node.GetForegroundOpacity()


# --------------------------------------------------------------------------- single frame
def test_single_vector_frame_gives_heatmap_points_and_count_table(scene, detector):
    centres = [[10.0, 12.0], [45.0, 26.0]]
    volume = frame_node(centres, "000123")
    logic = SutureDetectionLogic()
    result = logic.detect(volume, weights=detector)

    heatmap, geometry = mrml.array_from_volume_node(result.heatmapNode)
    assert heatmap.shape == (1,) + SHAPE and geometry.almost_equal(OBLIQUE)
    assert heatmap.max() > 0.99 and heatmap[0, 0, 0] < 0.01
    points, labels, descriptions = mrml.fiducials_to_arrays(result.pointsNode)
    assert labels == ["S-1", "S-2"] and all(d.startswith("confidence=") for d in descriptions)
    distances = np.linalg.norm(points[:, None, :] - ras(centres)[None, :, :], axis=2)
    assert np.all(distances.min(axis=0) < 0.03)  # each true position has a point at its RAS place (mm)
    pixels, _, confidence = logic.currentPoints(result)[0]
    np.testing.assert_allclose(by_x(pixels), by_x(centres), atol=0.05)
    assert np.all(confidence > 0.99)
    assert mrml.columns_from_table(result.countTableNode) == {"frame": ["000123.png"], "sutures": [2]}
    assert result.frameNames == ["000123.png"] and not result.isSequence
    background, foreground, opacity = composite_layers(scene)
    assert (background, foreground) == (volume.GetID(), result.heatmapNode.GetID()) and opacity == pytest.approx(0.6)


def test_frame_without_sutures_gives_zero_points(scene, detector):
    logic = SutureDetectionLogic()
    result = logic.detect(frame_node([]), weights=detector)
    assert result.pointsNode.GetNumberOfControlPoints() == 0
    assert mrml.columns_from_table(result.countTableNode)["sutures"] == [0]


def test_opaque_rgba_frame_is_accepted_and_new_nodes_never_replace_old_ones(scene, detector):
    volume = frame_node([[30.0, 18.0]], "frame", alpha=np.full(SHAPE, 255, np.uint8))
    logic = SutureDetectionLogic()
    first = logic.detect(volume, weights=detector)
    second = logic.detect(volume, weights=detector)
    assert first.pointsNode.GetName() != second.pointsNode.GetName()
    assert first.pointsNode.GetScene() is scene and first.pointsNode.GetNumberOfControlPoints() == 1


def test_settings_reach_the_decoder(scene, detector):
    """A manual threshold above every heatmap value finds nothing; opening 0 keeps a 1-px spot."""
    logic = SutureDetectionLogic()
    volume = frame_node([[20.0, 20.0]])
    assert logic.detect(volume, weights=detector, threshold=0.999999).pointsNode.GetNumberOfControlPoints() == 0
    tiny = mrml.volume_node_from_array(draw_spot_frame(SHAPE, [[20, 20]], radius=0.5, dtype=np.uint8)[None],
                                       OBLIQUE, "tiny")
    assert logic.detect(tiny, weights=detector, openingKernel=3).pointsNode.GetNumberOfControlPoints() == 0
    assert logic.detect(tiny, weights=detector, openingKernel=0).pointsNode.GetNumberOfControlPoints() == 1
    assert logic.lastResult.settings["opening_kernel"] == 0 and logic.lastResult.settings["cut"] is True


# --------------------------------------------------------------------------- sequences
CENTRES = [[[10.0, 10.0]], [], [[12.0, 25.0], [30.0, 12.0], [50.0, 28.0]], [[40.0, 20.0], [20.0, 30.0]]]


@pytest.mark.parametrize("given", ["proxy", "sequence", "browser"])
def test_sequence_points_follow_the_browser(scene, detector, given):
    sequence, browser, proxy = video(CENTRES)
    node = {"proxy": proxy, "sequence": sequence, "browser": browser}[given]
    logic = SutureDetectionLogic()
    result = logic.detect(node, weights=detector, batchSize=3)  # batches of 3 and 1 frames
    assert result.isSequence and result.browserNode is browser and result.backgroundNode is proxy
    assert result.frameNames == ["000000.png", "000001.png", "000002.png", "000003.png"]
    assert logic.pointCounts(result) == [1, 0, 3, 2]
    assert mrml.columns_from_table(result.countTableNode)["sutures"] == [1, 0, 3, 2]
    for t in (2, 0, 1, 3, 1):
        browser.SetSelectedItemNumber(t)
        shown, labels, _ = mrml.fiducials_to_arrays(result.pointsNode)
        assert labels == [f"S-{i + 1}" for i in range(len(CENTRES[t]))]
        if CENTRES[t]:
            np.testing.assert_allclose(by_x(OBLIQUE.ras_to_pixel(shown)[:, :2]), by_x(CENTRES[t]), atol=0.05)
        heat = mrml.array_from_volume_node(result.heatmapNode)[0]
        assert (heat.max() > 0.99) == bool(CENTRES[t])
    background, foreground, _ = composite_layers(scene)
    assert (background, foreground) == (proxy.GetID(), result.heatmapNode.GetID())


def test_edits_of_the_shown_frame_are_kept_and_exported(scene, detector, tmp_path):
    sequence, browser, proxy = video(CENTRES)
    logic = SutureDetectionLogic()
    result = logic.detect(proxy, weights=detector)
    browser.SetSelectedItemNumber(3)
    moved = ras([[33.0, 9.0]])[0]
    result.pointsNode.SetNthControlPointPositionWorld(0, *moved)
    result.pointsNode.AddControlPoint(*ras([[5.0, 5.0]])[0], "added")
    pixels, labels, confidence = logic.currentPoints(result)[3]
    assert labels[-1] == "added" and np.isnan(confidence[-1])
    np.testing.assert_allclose(pixels[[0, 2]], [[33.0, 9.0], [5.0, 5.0]], atol=1e-6)
    browser.SetSelectedItemNumber(0)  # leave the frame: the edit must stay in the sequence
    browser.SetSelectedItemNumber(3)
    assert result.pointsNode.GetNumberOfControlPoints() == 3
    table = logic.refreshCountTable(result)
    assert mrml.columns_from_table(table)["sutures"] == [1, 0, 3, 3]
    logic.exportCsv(tmp_path / "s.csv")
    lines = (tmp_path / "s.csv").read_text().splitlines()
    assert lines[0] == "frame,label,x,y,confidence" and lines[-1] == "000003.png,added,5,5,"


def test_long_videos_can_skip_the_heatmaps(scene, detector):
    sequence, browser, proxy = video(CENTRES)
    volumes_before = scene.GetNumberOfNodesByClass("vtkMRMLVolumeNode")
    logic = SutureDetectionLogic()
    result = logic.detect(proxy, weights=detector, keepHeatmaps=False)
    assert result.heatmapNode is None and result.heatmapSequenceNode is None
    assert logic.pointCounts(result) == [1, 0, 3, 2]
    assert scene.GetNumberOfNodesByClass("vtkMRMLVolumeNode") == volumes_before
    assert browser.GetNumberOfSynchronizedSequenceNodes() == 1  # the points only
    assert composite_layers(scene)[1] is None


def test_only_the_shown_frame_when_whole_sequence_is_off(scene, detector):
    sequence, browser, proxy = video(CENTRES)
    browser.SetSelectedItemNumber(2)
    result = SutureDetectionLogic().detect(proxy, weights=detector, wholeSequence=False)
    assert not result.isSequence and result.pointsNode.GetNumberOfControlPoints() == 3


# --------------------------------------------------------------------------- ground truth
def colour(node):
    return tuple(round(v, 3) for v in node.GetDisplayNode().GetSelectedColor())


def test_compare_single_frame_colours_and_scores(scene, detector, tmp_path):
    # Detected: A (10, 10), B (30, 20), C (50, 30). Truth: A + 2 px (match), B + 8 px (too far), D (elsewhere).
    result = SutureDetectionLogic().detect(frame_node([[10, 10], [30, 20], [50, 30]], "000042"), weights=detector)
    logic = SutureDetectionLogic()
    logic.lastResult = result
    truth = tmp_path / "labels.json"
    write_point_labels(truth, [[12, 10], [30, 28], [5, 32]], SHAPE)
    comparison = logic.compareToGroundTruth(gtPath=truth, radius=6.0)
    c = comparison.counts
    assert (c.tp, c.fp, c.fn) == (1, 2, 2)
    assert comparison.precision == pytest.approx(1 / 3) and comparison.sensitivity == pytest.approx(1 / 3)
    assert comparison.f1 == pytest.approx(1 / 3)
    assert comparison.perFrame == [{"frame": "000042.png", "tp": 1, "fp": 2, "fn": 2}]
    assert colour(comparison.tpNode) == logic_module.TP_COLOR
    assert colour(comparison.fpNode) == logic_module.FP_COLOR
    assert colour(comparison.fnNode) == logic_module.FN_COLOR
    tp = OBLIQUE.ras_to_pixel(mrml.fiducials_to_arrays(comparison.tpNode)[0])[:, :2]
    fn = OBLIQUE.ras_to_pixel(mrml.fiducials_to_arrays(comparison.fnNode)[0])[:, :2]
    np.testing.assert_allclose(tp, [[10, 10]], atol=0.05)
    np.testing.assert_allclose(by_x(fn), [[5, 32], [30, 28]], atol=1e-6)
    assert comparison.fpNode.GetNumberOfControlPoints() == 2 and comparison.tpNode.GetLocked()
    assert "F1 0.333" in comparison.summary()
    # moving the false positive C onto the missed D turns them into a match
    points, labels, _ = mrml.fiducials_to_arrays(result.pointsNode)
    c_index = int(np.argmin(np.linalg.norm(points - ras([[50, 30]])[0], axis=1)))
    result.pointsNode.SetNthControlPointPositionWorld(c_index, *ras([[6, 31]])[0])
    again = logic.compareToGroundTruth(result, truth, radius=6.0).counts
    assert (again.tp, again.fp, again.fn) == (2, 1, 1)


def test_compare_sequence_with_submission_json(scene, detector, tmp_path):
    sequence, browser, proxy = video(CENTRES)
    logic = SutureDetectionLogic()
    result = logic.detect(proxy, weights=detector)
    truth = tmp_path / "submission.json"
    truth.write_text(json.dumps([
        {"folderName": "op", "subfolderName": "v", "imageFileName": "000000.png", "points": [{"x": 11, "y": 10}]},
        {"folderName": "op", "subfolderName": "v", "imageFileName": "000001.png", "points": [{"x": 5, "y": 5}]},
        {"folderName": "op", "subfolderName": "v", "imageFileName": "000002.png",
         "points": [{"x": 12, "y": 25}, {"x": 30, "y": 12}, {"x": 50, "y": 28}]},
    ]))
    comparison = logic.compareToGroundTruth(result, truth, radius=6.0)
    assert (comparison.counts.tp, comparison.counts.fp, comparison.counts.fn) == (4, 0, 1)
    assert comparison.framesWithoutTruth == ["000003.png"]
    assert [r["frame"] for r in comparison.perFrame] == ["000000.png", "000001.png", "000002.png"]
    assert len(comparison.sequenceNodes) == 3
    browser.SetSelectedItemNumber(1)
    assert comparison.fnNode.GetNumberOfControlPoints() == 1 and comparison.tpNode.GetNumberOfControlPoints() == 0
    assert colour(comparison.fnNode) == logic_module.FN_COLOR  # colours survive item changes
    browser.SetSelectedItemNumber(2)
    assert comparison.tpNode.GetNumberOfControlPoints() == 3 and comparison.fnNode.GetNumberOfControlPoints() == 0


def test_compare_refuses_unrelated_ground_truth(scene, detector, tmp_path):
    sequence, browser, proxy = video(CENTRES)
    logic = SutureDetectionLogic()
    result = logic.detect(proxy, weights=detector)
    folder = tmp_path / "point_labels"
    folder.mkdir()
    write_point_labels(folder / "999999.json", [[1, 1]], SHAPE)
    before = scene.GetNumberOfNodes()
    with pytest.raises(InputError, match="names none of the 4 detected frame"):
        logic.compareToGroundTruth(result, folder)
    with pytest.raises(InputError, match="radius"):
        logic.compareToGroundTruth(result, folder, radius=0)
    assert scene.GetNumberOfNodes() == before


# --------------------------------------------------------------------------- exports
def test_exports_and_refusal_to_overwrite(scene, detector, tmp_path):
    sequence, browser, proxy = video(CENTRES)
    logic = SutureDetectionLogic()
    logic.detect(proxy, weights=detector)
    json_path, csv_path = tmp_path / "submission.json", tmp_path / "points.csv"
    logic.exportSubmissionJson(json_path, "op07", "video03")
    entries = read_submission_json(json_path)
    assert [(e.op, e.video, e.image_file_name, len(e.points)) for e in entries] == [
        ("op07", "video03", f"{t:06d}.png", len(c)) for t, c in enumerate(CENTRES)]
    np.testing.assert_allclose(by_x(entries[2].points), by_x(CENTRES[2]), atol=0.05)
    logic.exportCsv(csv_path)
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "frame,label,x,y,confidence" and len(rows) == 1 + 6
    frame, label, x, y, conf = rows[1].split(",")
    assert (frame, label) == ("000000.png", "S-1") and abs(float(x) - 10) < 0.05 and abs(float(y) - 10) < 0.05
    assert float(conf) > 0.99
    before = (json_path.read_text(), csv_path.read_text())
    with pytest.raises(OutputExistsError):
        logic.exportSubmissionJson(json_path, "op07", "video03")
    with pytest.raises(OutputExistsError):
        logic.exportCsv(csv_path)
    assert (json_path.read_text(), csv_path.read_text()) == before
    logic.exportSubmissionJson(json_path, "op08", "video03", overwrite=True)
    assert read_submission_json(json_path)[0].op == "op08"
    with pytest.raises(InputError, match="folderName"):
        logic.exportSubmissionJson(tmp_path / "x.json", "", "video03")
    assert sorted(os.listdir(tmp_path)) == ["points.csv", "submission.json"]  # no temporary files left


def test_exports_need_a_detection(scene):
    with pytest.raises(InputError, match="no detection yet"):
        SutureDetectionLogic().exportCsv("unused.csv")


# --------------------------------------------------------------------------- bad input
def grey_volume():
    return mrml.volume_node_from_array(np.zeros((1,) + SHAPE, np.uint8), OBLIQUE, "grey")


def transparent_rgba():
    alpha = np.full(SHAPE, 255, np.uint8)
    alpha[3, 4] = 0
    return frame_node([[20, 20]], "rgba", alpha=alpha)


def two_slice_volume():
    return mrml.volume_node_from_array(np.zeros((2,) + SHAPE + (3,), np.uint8), OBLIQUE, "stack")


def grey_item_in_video():
    items = [(draw_spot_frame(SHAPE, [[10, 10]], dtype=np.uint8)[None], OBLIQUE) for _ in range(5)]
    items[3] = (np.zeros((1,) + SHAPE, np.uint8), OBLIQUE)  # fails after frames 0-2 were processed
    return mrml.sequence_from_frames(items, "mixed")[2]


def empty_sequence():
    return mrml.scene.add_new_node(mrml.ensure_scene(), "vtkMRMLSequenceNode", "empty")


@pytest.mark.parametrize("make, kwargs, message", [
    (grey_volume, {}, "greyscale .scalar. volume"),
    (transparent_rgba, {}, "transparency"),
    (two_slice_volume, {}, "has 2 slices"),
    (grey_item_in_video, {"batchSize": 2}, "mixed frame 3: is a greyscale"),
    (empty_sequence, {}, "has no frames"),
    (lambda: None, {}, "no input selected"),
    (lambda: frame_node([[9, 9]]), {"threshold": 1.5}, "threshold must be in"),
    (lambda: frame_node([[9, 9]]), {"openingKernel": -1}, "opening kernel"),
    (lambda: frame_node([[9, 9]]), {"batchSize": 0}, "batch size"),
    (lambda: frame_node([[9, 9]]), {"device": "tpu"}, "device must be"),
    (lambda: frame_node([[9, 9]]), {"weights": "/nonexistent/model.json"}, "weights file not found"),
    (lambda: frame_node([[9, 9]]), {"weights": ""}, "no weights file chosen"),
    (lambda: frame_node([[9, 9]]), {"weights": "cardiac_sax"}, "cardiac|missing from this installation"),
], ids=["grey", "rgba-transparent", "two-slices", "grey-item-mid-video", "empty-sequence", "none", "threshold",
        "opening", "batch", "device", "weights", "no-weights", "cardiac-weights"])
def test_bad_input_is_one_line_and_leaves_the_scene_unchanged(scene, detector, make, kwargs, message):
    node = make()
    before = scene.GetNumberOfNodes()
    logic = SutureDetectionLogic()
    with pytest.raises(InputError, match=message) as info:
        logic.detect(node, **{"weights": detector, **kwargs})
    assert "\n" not in str(info.value)
    assert scene.GetNumberOfNodes() == before and logic.lastResult is None


def test_cancel_mid_video_leaves_nothing(scene, detector):
    sequence, browser, proxy = video(CENTRES)
    logic = SutureDetectionLogic()
    messages = []

    def progress(fraction, message):
        messages.append(fraction)
        if 0.0 < fraction < 1.0:
            logic.cancel()

    before = scene.GetNumberOfNodes()
    with pytest.raises(Cancelled):
        logic.detect(proxy, weights=detector, batchSize=1, progressCallback=progress)
    assert scene.GetNumberOfNodes() == before and messages[:2] == [0.0, 0.25]
    assert logic.detect(proxy, weights=detector).frameCount == 4  # the next run is not cancelled


@pytest.mark.parametrize("action,when", [("close the scene", "1 of 4"), ("remove the sequence", "1 of 4"),
                                         ("remove the proxy volume", "1 of 4"), ("close the scene", "4 of 4")])
def test_closing_the_scene_or_removing_the_input_mid_run_cancels_it(scene, detector, action, when):
    """The panel processes GUI events at every progress report, so the user can close the scene or delete the
    input while a run goes on: the run stops like a cancel and adds nothing ("4 of 4": after the last batch)."""
    sequence, browser, proxy = video(CENTRES)
    logic = SutureDetectionLogic()
    classes = ("vtkMRMLSequenceNode", "vtkMRMLMarkupsFiducialNode", "vtkMRMLTableNode")
    counts = {c: scene.GetNumberOfNodesByClass(c) for c in classes}

    def progress(fraction, message):
        if when not in message:
            return
        if action == "close the scene":
            scene.Clear(0)
        elif scene.IsNodePresent(sequence if action == "remove the sequence" else proxy):
            scene.RemoveNode(sequence if action == "remove the sequence" else proxy)

    with pytest.raises(Cancelled):
        logic.detect(proxy, weights=detector, batchSize=1, progressCallback=progress)
    after = {c: scene.GetNumberOfNodesByClass(c) for c in classes}
    if action == "close the scene":
        assert not any(after.values()), after
    else:
        assert all(after[c] <= counts[c] for c in classes), (counts, after)
    assert not mrml.heatmap_node_ids(scene) and logic.lastResult is None


# --------------------------------------------------------------------------- display and sample data
def test_overlay_opacity(scene, detector):
    logic = SutureDetectionLogic()
    logic.detect(frame_node([[20, 20]]), weights=detector)
    assert logic.setOverlayOpacity(0.25) == 3
    assert composite_layers(scene)[2] == pytest.approx(0.25)
    with pytest.raises(InputError):
        logic.setOverlayOpacity(1.5)


def test_sample_video_is_generated_locally_with_ground_truth(scene, tmp_path):
    sequence, browser, proxy, truth = makeSyntheticSutureVideo(nFrames=2, size=(72, 128), nSutures=3,
                                                               groundTruthFolder=tmp_path)
    assert sequence.GetNumberOfDataNodes() == 2 and proxy.IsA("vtkMRMLVectorVolumeNode")
    array, geometry = mrml.array_from_volume_node(proxy)
    assert array.shape == (1, 72, 128, 3) and array.dtype == np.uint8
    entries = read_submission_json(truth)
    assert [e.image_file_name for e in entries] == ["000000.png", "000001.png"]
    assert sequence.GetAttribute(GROUND_TRUTH_ATTRIBUTE) == os.fspath(truth)
    with pytest.raises(OutputExistsError):  # a user's folder: never overwritten
        makeSyntheticSutureVideo(nFrames=1, size=(72, 128), groundTruthFolder=tmp_path, name=sequence.GetName())


# --------------------------------------------------------------------------- shipped weights
def test_selftest_with_shipped_weights():
    """The module self-test's checks: FAILS (does not skip) while the shipped suture weights are missing."""
    from SutureDetectionLib import selftest

    s = mrml.new_headless_scene()
    try:
        selftest.runAll(log=lambda message: None)
    finally:
        mrml.close_headless_scene(s)


# --------------------------------------------------------------------------- the Qt side, checked statically
def test_ui_widgets_bind_to_parameter_node_fields_of_fitting_types():
    """Every widget of the .ui bound with SlicerParameterName names a parameter-node field of a type its
    parameterNodeWrapper connector accepts (slicer-core has no Qt to load the Widget itself)."""
    import ast
    import xml.etree.ElementTree as ET

    module_dir = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
    tree = ast.parse(open(os.path.join(module_dir, "SutureDetection.py"), encoding="utf-8").read())
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SutureDetectionParameterNode"]
    fields = {n.target.id: ast.unparse(n.annotation) for n in cls.body if isinstance(n, ast.AnnAssign)}
    accepted = {"QCheckBox": ("bool",), "QSpinBox": ("int",), "QDoubleSpinBox": ("float",),
                "ctkSliderWidget": ("float",), "QComboBox": ("str",), "QLineEdit": ("str",),
                "ctkPathLineEdit": ("pathlib.Path",), "qMRMLNodeComboBox": ("vtkMRML",)}
    ui = ET.parse(os.path.join(module_dir, "Resources", "UI", "SutureDetection.ui"))
    bound = {}
    for widget in ui.iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.find("string").text] = widget.get("class")
    # Path fields are kept in step by the Widget (HeatmapModuleWidgetMixin.pathFields), not by connectGui.
    [widget_cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SutureDetectionWidget"]
    [path_fields] = [ast.literal_eval(n.value) for n in widget_cls.body if isinstance(n, ast.Assign)
                     and [ast.unparse(t) for t in n.targets] == ["pathFields"]]
    classes = {w.get("name"): w.get("class") for w in ui.iter("widget")}
    for widget_name, name in path_fields.items():
        assert classes[widget_name] == "ctkPathLineEdit" and fields[name] == "str" and name not in bound
    assert set(bound) | set(path_fields.values()) == set(fields)
    for name, widget_class in bound.items():
        assert any(t in fields[name] for t in accepted[widget_class]), (name, widget_class, fields[name])
        if widget_class in ("ctkSliderWidget", "QComboBox"):  # connectors that need bounds / choices
            assert "WithinRange" in fields[name] or "Choice" in fields[name], name
