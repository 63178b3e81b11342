"""``heatmap_landmarks.markups_json``: the standard-library ``.mrk.json`` writer against slicer-core.

Each case writes the same points twice, with the writer under test and with
slicer-core's own ``vtkMRMLMarkupsJsonStorageNode`` (through the MRML bridge),
then reads both files back with slicer-core's storage node into real nodes and
compares every control point, and compares the two JSON documents key by key.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from heatmap_landmarks import mrml
from heatmap_landmarks.errors import InputError, OutputExistsError
from heatmap_landmarks.markups_json import (
    SCHEMA,
    check_points_labels,
    markups_document,
    parse_confidence,
    write_markups_json,
)

NAN3 = [np.nan] * 3
CASES = {
    "one point": ([[1.5, -2.25, 3.0]], ["MV-1"], ["frame 0; confidence=0.93"]),
    "stack with an absent point": ([[12.0, -30.5, 44.0], NAN3, [10.123456789, 20.0, -30.0], [-0.0, 1e-9, 7e3]],
                                   ["RVI-1", "RVI-2", "LVC", "BCA"],
                                   ["slice 0; confidence=0.93", "slice 0; ", "slice 1; ", "slice 2; confidence=0.10"]),
    "no points": (np.zeros((0, 3)), [], []),
    "unicode and quotes": ([[0.0, 0.0, 0.0], [-1.0, 2.0, -3.0]], ['Ré "1"', "a\\b/c\n"], ["é – ü", "{}[],:"]),
}


@pytest.fixture
def scene():
    scene = mrml.new_headless_scene(slice_views=False, make_current=False)
    yield scene
    mrml.close_headless_scene(scene)


def write_both(folder, scene, points, labels, descriptions):
    """``(ours, slicer_core)`` paths of the same point list written by each writer."""
    ours = write_markups_json(folder / "ours.mrk.json", points, labels, descriptions)
    node = mrml.create_fiducials(points, labels, descriptions=descriptions, name="ref", scene=scene)
    theirs = mrml.save_markups_json(node, folder / "slicer.mrk.json")
    return ours, theirs


def read_with_storage_node(path, scene):
    """The node slicer-core's JSON storage node reads from ``path`` and the coordinate system it reports."""
    import slicer

    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode")
    storage = slicer.vtkMRMLMarkupsJsonStorageNode()
    scene.AddNode(storage)
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1, path
    return node, storage.GetCoordinateSystem()


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_slicer_core_reads_the_same_points(case, tmp_path, scene):
    points, labels, descriptions = CASES[case]
    ours, theirs = write_both(tmp_path, scene, points, labels, descriptions)
    node_ours, system_ours = read_with_storage_node(ours, scene)
    node_theirs, system_theirs = read_with_storage_node(theirs, scene)
    assert system_ours == system_theirs == slicer_lps()
    n = node_theirs.GetNumberOfControlPoints()
    assert node_ours.GetNumberOfControlPoints() == n == len(labels)
    for i in range(n):
        for getter in ("GetNthControlPointLabel", "GetNthControlPointDescription", "GetNthControlPointID",
                       "GetNthControlPointPositionStatus", "GetNthControlPointSelected",
                       "GetNthControlPointLocked", "GetNthControlPointVisibility"):
            assert getattr(node_ours, getter)(i) == getattr(node_theirs, getter)(i), (getter, i)
        np.testing.assert_allclose(node_ours.GetNthControlPointPosition(i),
                                   node_theirs.GetNthControlPointPosition(i), atol=1e-4)
        np.testing.assert_allclose(node_ours.GetNthControlPointOrientationMatrix(i),
                                   node_theirs.GetNthControlPointOrientationMatrix(i), atol=1e-12)
    assert node_ours.GetLocked() == node_theirs.GetLocked()
    # And the RAS mm positions are the ones given (NaN = absent).
    read_points, read_labels, read_descriptions = mrml.fiducials_to_arrays(node_ours)
    np.testing.assert_allclose(read_points, np.asarray(points, np.float64).reshape(-1, 3), atol=1e-4)
    assert (read_labels, read_descriptions) == (list(labels), list(descriptions))


def slicer_lps() -> int:
    import slicer

    return slicer.vtkMRMLStorageNode.CoordinateSystemLPS


def _numbers_close(a, b, path="") -> None:
    """Deep comparison of two JSON values; numbers within 1e-9 (positions in mm)."""
    assert type(a) is type(b) or {type(a), type(b)} <= {int, float}, (path, a, b)
    if isinstance(a, dict):
        assert list(a) == list(b), (path, list(a), list(b))  # same keys, same order
        for key in a:
            _numbers_close(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            _numbers_close(x, y, f"{path}/{i}")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=1e-9), (path, a, b)
    else:
        assert a == b, (path, a, b)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_document_equals_what_slicer_core_writes(case, tmp_path, scene):
    """Every key, in the same order, with the same values: schema, LPS/mm, ids, display block..."""
    ours, theirs = write_both(tmp_path, scene, *CASES[case])
    with open(ours, encoding="utf-8") as f:
        document = json.load(f)
    with open(theirs, encoding="utf-8") as f:
        reference = json.load(f)
    _numbers_close(document, reference)
    assert document["@schema"] == SCHEMA
    assert document["markups"][0]["coordinateSystem"] == "LPS" and document["markups"][0]["coordinateUnits"] == "mm"


def test_locked_point_list_matches_slicer_core(tmp_path, scene):
    write_markups_json(tmp_path / "ours.mrk.json", [[1.0, 2.0, 3.0]], ["A"], locked=True)
    node = mrml.create_fiducials([[1.0, 2.0, 3.0]], ["A"], name="ref", scene=scene, locked=True)
    mrml.save_markups_json(node, tmp_path / "slicer.mrk.json")
    _numbers_close(json.loads((tmp_path / "ours.mrk.json").read_text()),
                   json.loads((tmp_path / "slicer.mrk.json").read_text()))


def test_ras_to_lps_by_hand():
    markup = markups_document([[1.0, 2.0, 3.0]], ["X"])["markups"][0]
    assert markup["controlPoints"][0]["position"] == [-1.0, -2.0, 3.0]


def test_confidences_become_descriptions(tmp_path, scene):
    path = write_markups_json(tmp_path / "c.mrk.json", [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], ["A", "B"],
                              confidences=[0.934, float("nan")])
    node = mrml.load_markups_json(path, scene=scene)
    descriptions = mrml.fiducials_to_arrays(node)[2]
    assert descriptions == ["confidence=0.93", ""] and parse_confidence(descriptions[0]) == 0.93


def test_refuses_overwrite_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "p.mrk.json"
    write_markups_json(path, [[0.0, 0.0, 0.0]], ["A"])
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        write_markups_json(path, [[9.0, 9.0, 9.0]], ["B"])
    assert path.read_bytes() == before
    write_markups_json(path, [[9.0, 9.0, 9.0]], ["B"], overwrite=True)
    assert json.loads(path.read_text())["markups"][0]["controlPoints"][0]["label"] == "B"
    with pytest.raises(InputError):  # bad points: nothing written, no temporary file left
        write_markups_json(tmp_path / "q.mrk.json", [[0.0, np.inf, 0.0]], ["A"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.mrk.json"]


@pytest.mark.parametrize("points, labels, fragment", [
    ([[1.0, 2.0]], ["A"], "(N, 3)"),
    ([[1.0, np.nan, 2.0]], ["A"], "finite"),
    ([[1.0, 2.0, 3.0]], ["A", "B"], "1 points but 2 labels"),
])
def test_bad_points_refused(points, labels, fragment):
    with pytest.raises(InputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        check_points_labels(points, labels)


def test_wrong_extension_refused(tmp_path):
    with pytest.raises(InputError, match="must end with"):
        write_markups_json(tmp_path / "p.txt", [[0.0, 0.0, 0.0]], ["A"])
    assert not any(tmp_path.iterdir())
