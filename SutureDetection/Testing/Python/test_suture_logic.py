"""SutureDetectionLogic on slicer-core, headless, with real inference.

The model is :func:`heatmap_landmarks.testing.make_spot_detector`: a genuine
ResNeXtUNet checkpoint whose weights are set by hand so that every bright red
disc of a frame becomes one heatmap blob. Frames therefore have known suture
points, and every check below compares with exact positions. The tests that
call ``SutureDetectionLib.selftest.check_*`` run the checks the Slicer
self-test runs; ``test_shipped_weights`` runs the shipped demo weights and
fails (not skips) when those are missing.
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
from heatmap_landmarks.testing import draw_spot_frame, make_spot_detector  # noqa: E402
from SutureDetectionLib import logic as logic_module  # noqa: E402
from SutureDetectionLib import selftest  # noqa: E402
from SutureDetectionLib.selftest import (  # noqa: E402
    CENTRES,
    OBLIQUE,
    SHAPE,
    by_x,
    composite_layers,
    frame_node,
    ras,
    video,
)
from SutureDetectionLib.logic import SutureDetectionLogic  # noqa: E402
from SutureDetectionLib.sampledata import GROUND_TRUTH_ATTRIBUTE, makeSyntheticSutureVideo  # noqa: E402


@pytest.fixture
def scene():
    s = mrml.new_headless_scene()
    yield s
    mrml.close_headless_scene(s)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return make_spot_detector(tmp_path_factory.mktemp("spot_model"))


@pytest.fixture
def folder(detector):
    """The shared checks' folder: it holds the spot detector (they write only in temporary folders inside it)."""
    return detector.parent


# --------------------------------------------------------------------------- single frame
def test_single_vector_frame_gives_heatmap_points_and_count_table(scene, folder):
    selftest.check_single_frame(scene, folder)


def test_frame_without_sutures_gives_zero_points(scene, detector):
    logic = SutureDetectionLogic()
    result = logic.detect(frame_node([]), weights=detector)
    assert result.pointsNode.GetNumberOfControlPoints() == 0
    assert mrml.columns_from_table(result.countTableNode)["sutures"] == [0]


def test_opaque_rgba_frame_is_accepted_and_new_nodes_never_replace_old_ones(scene, folder):
    selftest.check_rerun_makes_new_nodes(scene, folder)


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
@pytest.mark.parametrize("given", selftest.VIDEO_INPUTS)
def test_sequence_points_follow_the_browser(scene, folder, given):
    selftest.check_video_sequence(scene, folder, inputs=(given,))


def test_edits_of_the_shown_frame_are_kept_and_exported(scene, folder):
    selftest.check_rerun_keeps_edits(scene, folder)


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


@pytest.mark.skipif(not os.path.isdir("/sys") or os.access("/sys", os.W_OK) and not os.path.ismount("/sys"),
                    reason="needs /sys (Linux), a folder that refuses new files even to root")
def test_exports_to_an_unwritable_folder_are_one_line(scene, detector):
    """Issue 15, item 14: an export that the file system refuses is the project's one-line error, not OSError."""
    logic = SutureDetectionLogic()
    logic.detect(frame_node([[9, 9]]), weights=detector)
    for export in (lambda: logic.exportCsv("/sys/points.csv"),
                   lambda: logic.exportSubmissionJson("/sys/submission.json", "op07", "video03")):
        with pytest.raises(InputError) as err:
            export()
        assert "cannot write the results here" in str(err.value) and "\n" not in str(err.value)
        assert str(err.value).startswith("/sys/") and ".tmp" not in str(err.value)


def test_exports_need_a_detection(scene):
    with pytest.raises(InputError, match="no detection yet"):
        SutureDetectionLogic().exportCsv("unused.csv")


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("case", selftest.BAD_INPUTS, ids=[case[0] for case in selftest.BAD_INPUTS])
def test_bad_input_is_one_line_and_leaves_the_scene_unchanged(scene, folder, case):
    selftest.check_bad_inputs(scene, folder, cases=(case,))


def test_cancel_mid_video_leaves_nothing(scene, folder):
    selftest.check_cancel_rolls_back(scene, folder)


@pytest.mark.parametrize("action,when", selftest.INTERRUPTIONS)
def test_closing_the_scene_or_removing_the_input_mid_run_cancels_it(scene, folder, action, when):
    """The panel processes GUI events at every progress report, so the user can close the scene or delete the
    input while a run goes on: the run stops like a cancel and adds nothing ("4 of 4": after the last batch)."""
    selftest.check_interruptions_roll_back(scene, folder, cases=((action, when),))


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
@pytest.mark.parametrize("check", selftest.SHIPPED_CHECKS, ids=lambda f: f.__name__)
def test_shipped_weights(scene, tmp_path, check):
    """The module self-test's checks with the shipped weights: FAIL (do not skip) while those are missing."""
    check(scene, tmp_path)


def test_the_selftest_runs_every_check():
    """ALL_CHECKS is every check_* of the module, and the Slicer self-test has one test_ method per check."""
    import ast

    checks = [name for name in dir(selftest) if name.startswith("check_")]
    assert sorted(f.__name__ for f in selftest.ALL_CHECKS) == sorted(checks)
    module_dir = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
    tree = ast.parse(open(os.path.join(module_dir, "SutureDetection.py"), encoding="utf-8").read())
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "SutureDetectionTest"]
    run = {n.args[0].value for n in ast.walk(cls) if isinstance(n, ast.Call) and ast.unparse(n.func) == "self._run"
           and n.args and isinstance(n.args[0], ast.Constant)}
    assert run == set(checks)


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


@pytest.mark.parametrize("when", [
    pytest.param("1 of 4", id="first-batch"),
    pytest.param("4 of 4", id="last-batch"),  # issue 15, item 16: a cancel in the last step was ignored
])
def test_cancel_at_any_step_adds_nothing(scene, detector, when):
    """Issue 15, item 16: logic.cancel() at the report after the last batch stops the run like an earlier
    cancel: Cancelled, nothing added, and the next run is not cancelled."""
    from heatmap_landmarks.inference import Cancelled

    sequence, browser, proxy = video(CENTRES, scene=scene)
    logic = SutureDetectionLogic()
    seen = []

    def progress(fraction, message):
        seen.append(message)
        if message.startswith(when):
            logic.cancel()

    before = scene.GetNumberOfNodes()
    with pytest.raises(Cancelled):
        logic.detect(proxy, weights=detector, batchSize=1, progressCallback=progress)
    assert any(m.startswith(when) for m in seen), seen
    assert scene.GetNumberOfNodes() == before and logic.lastResult is None and not mrml.heatmap_node_ids(scene)
    assert logic.detect(proxy, weights=detector).frameCount == 4, "the next run was cancelled too"
