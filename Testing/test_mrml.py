"""Tests of heatmap_landmarks.mrml against the real MRML libraries (slicer-core), headless."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
import vtk  # noqa: E402  (after the importorskip above)

from heatmap_landmarks.errors import InputError, OutputExistsError  # noqa: E402
from heatmap_landmarks.geometry import Geometry  # noqa: E402
from heatmap_landmarks import mrml  # noqa: E402
from heatmap_landmarks.mrml import colors as mrml_colors  # noqa: E402


def rotation(ax: float, ay: float, az: float) -> np.ndarray:
    """Right-handed rotation (det +1) from three angles in radians."""
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


OBLIQUE = Geometry(spacing=(0.7, 0.9, 6.0), origin=(-12.5, 30.25, 101.0), direction=rotation(0.3, -0.2, 0.5))
LEFT_HANDED = Geometry(spacing=(1.5, 1.25, 8.0), origin=(5.0, -7.0, 20.0),
                       direction=rotation(0.1, 0.2, -0.3) @ np.diag([1.0, 1.0, -1.0]))


@pytest.fixture
def scene():
    s = mrml.new_headless_scene()
    yield s
    mrml.close_headless_scene(s)


def other_scene():
    """A second, independent scene; ``slicer.mrmlScene`` stays the first one."""
    return mrml.new_headless_scene(slice_views=False, make_current=False)


def voxel_ras_via_node(node, ijk) -> np.ndarray:
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    return np.array([m.MultiplyPoint([*map(float, p), 1.0])[:3] for p in ijk])


def ramp(shape, dtype=np.float32) -> np.ndarray:
    """Distinct-ish values: in [0, 1] for float types, 0..250 for integer types."""
    values = np.arange(np.prod(shape)) % 251
    return (values / 250.0 if np.dtype(dtype).kind == "f" else values).reshape(shape).astype(dtype)


# --------------------------------------------------------------------------- scene
def test_headless_scene_is_current_and_has_the_needed_parts(scene):
    assert slicer.mrmlScene is scene
    assert mrml.ensure_scene() is scene  # idempotent
    assert not mrml.in_slicer_app()
    assert scene.GetNodeByID("vtkMRMLSelectionNodeSingleton") is not None
    assert scene.IsNodeClassRegistered("vtkMRMLSequenceBrowserNode")
    assert scene.IsNodeClassRegistered("vtkMRMLMarkupsJsonStorageNode")
    layouts = sorted(scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode").GetLayoutName()
                     for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")))
    assert layouts == ["Green", "Red", "Yellow"]
    node = mrml.volume_node_from_array(np.zeros((1, 2, 2), np.float32), Geometry(), "Probe")
    assert slicer.util.getNode("Probe") is node  # slicer.util works on the headless scene


def test_core_package_does_not_import_slicer():
    code = "import sys, heatmap_landmarks; assert 'slicer' not in sys.modules and 'vtk' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))


# --------------------------------------------------------------------------- volumes
@pytest.mark.parametrize("shape, dtype, node_class", [
    ((3, 5, 7), np.float32, "vtkMRMLScalarVolumeNode"),
    ((1, 4, 6), np.float64, "vtkMRMLScalarVolumeNode"),   # float64 is stored as float32
    ((2, 4, 6, 3), np.float32, "vtkMRMLVectorVolumeNode"),
    ((2, 3, 4), np.int16, "vtkMRMLScalarVolumeNode"),
])
def test_volume_round_trip_keeps_voxels_and_geometry(scene, shape, dtype, node_class):
    array = ramp(shape, dtype)
    node = mrml.volume_node_from_array(array, OBLIQUE, "Image", scene=scene)
    assert node.GetClassName() == node_class
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    np.testing.assert_allclose(slicer.util.arrayFromVTKMatrix(m), OBLIQUE.ijk_to_ras(), atol=1e-9)
    ijk = [[0, 0, 0], [shape[2] - 1, 0, 0], [0, shape[1] - 1, 0], [2, 1, shape[0] - 1], [0.5, 1.5, 0.25]]
    np.testing.assert_allclose(voxel_ras_via_node(node, ijk), OBLIQUE.pixel_to_ras(ijk), atol=1e-6)

    back, geometry = mrml.array_from_volume_node(node)
    assert back.shape == shape
    assert back.dtype == (np.float32 if np.dtype(dtype).kind == "f" else dtype)
    np.testing.assert_array_equal(back, array.astype(back.dtype))
    assert geometry.almost_equal(OBLIQUE, atol=1e-9)
    back[...] = 0  # a copy: the node keeps its voxels
    assert mrml.array_from_volume_node(node)[0].max() > 0


def test_volume_voxel_order_is_kji(scene):
    array = np.zeros((2, 3, 4), np.float32)
    array[1, 2, 3] = 7.0  # frame 1, row 2, column 3
    node = mrml.volume_node_from_array(array, Geometry(), "Dot", scene=scene)
    image = node.GetImageData()
    assert image.GetDimensions() == (4, 3, 2)  # (i=columns, j=rows, k=frames)
    assert image.GetScalarComponentAsDouble(3, 2, 1, 0) == 7.0


@pytest.mark.parametrize("array, problem", [
    (np.zeros((4, 5), np.float32), "frames, rows, columns"),
    (np.zeros((1, 4, 5, 2), np.float32), "frames, rows, columns"),
    (np.zeros((1, 1, 4, 5, 3), np.float32), "frames, rows, columns"),
    (np.zeros((1, 4, 5), np.int64), "not supported"),
    (np.zeros((1, 4, 5), np.complex64), "not supported"),
])
def test_volume_rejects_bad_arrays(scene, array, problem):
    with pytest.raises(InputError, match=problem):
        mrml.volume_node_from_array(array, Geometry(), "Bad", scene=scene)
    assert scene.GetNumberOfNodesByClass("vtkMRMLVolumeNode") == 0


def test_array_from_volume_node_errors(scene):
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Empty")
    with pytest.raises(InputError, match="no voxels"):
        mrml.array_from_volume_node(empty)
    table = mrml.table_from_rows({"a": [1]}, "T", scene=scene)
    with pytest.raises(InputError, match="expected a volume node"):
        mrml.array_from_volume_node(table)


def test_volume_under_linear_transform_reports_world_geometry(scene):
    node = mrml.volume_node_from_array(ramp((1, 3, 4)), OBLIQUE, "Moved", scene=scene)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "Shift")
    transform.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(
        np.array([[1, 0, 0, 5.0], [0, 1, 0, -2.0], [0, 0, 1, 0], [0, 0, 0, 1]])))
    node.SetAndObserveTransformNodeID(transform.GetID())
    world = mrml.array_from_volume_node(node)[1]
    local = mrml.array_from_volume_node(node, world=False)[1]
    np.testing.assert_allclose(world.origin, OBLIQUE.origin + [5.0, -2.0, 0.0], atol=1e-9)
    assert local.almost_equal(OBLIQUE)


def test_parent_to_world_is_the_matrix_between_local_and_world_geometry(scene):
    """What the cardiac Logic composes frames with: identity without a transform, refused when non-linear."""
    from heatmap_landmarks.geometry import transformed
    from heatmap_landmarks.mrml.volumes import parent_to_world, volume_ijk_to_ras

    node = mrml.volume_node_from_array(ramp((1, 3, 4)), OBLIQUE, "Moved", scene=scene)
    np.testing.assert_array_equal(parent_to_world(node), np.eye(4))
    turn = np.array([[0, -1, 0, 5.0], [1, 0, 0, -2.0], [0, 0, 1, 3.0], [0, 0, 0, 1]])
    outer = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "Outer")
    outer.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(turn))
    inner = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "Inner")
    inner.SetMatrixTransformToParent(slicer.util.vtkMatrixFromArray(np.diag([1.0, 1.0, 2.0, 1.0])))
    inner.SetAndObserveTransformNodeID(outer.GetID())
    node.SetAndObserveTransformNodeID(inner.GetID())
    to_world = parent_to_world(node)
    np.testing.assert_allclose(to_world, turn @ np.diag([1.0, 1.0, 2.0, 1.0]), atol=1e-12)
    world = volume_ijk_to_ras(node, world=True)
    np.testing.assert_allclose(to_world, world @ np.linalg.inv(volume_ijk_to_ras(node, world=False)), atol=1e-9)
    assert transformed(OBLIQUE, to_world).almost_equal(mrml.array_from_volume_node(node)[1])
    bent = scene.AddNewNodeByClass("vtkMRMLTransformNode", "Bent")
    bent.SetAndObserveTransformToParent(vtk.vtkThinPlateSplineTransform())
    node.SetAndObserveTransformNodeID(bent.GetID())
    with pytest.raises(InputError, match="non-linear"):
        parent_to_world(node)


@pytest.mark.parametrize("shape", [(3, 5, 7), (1, 4, 6, 3)])
def test_volume_nrrd_round_trip_in_a_new_scene(scene, tmp_path, shape):
    array = ramp(shape)
    node = mrml.volume_node_from_array(array, OBLIQUE, "Image", scene=scene)
    path = tmp_path / "image.nrrd"
    assert mrml.save_volume_node(node, path) == str(path)
    assert os.listdir(tmp_path) == ["image.nrrd"]  # no temporary file left behind
    assert node.GetStorageNode() is None  # the node's own storage is untouched

    other = other_scene()
    try:
        loaded = mrml.load_volume_node(path, scene=other)
        assert loaded.GetScene() is other and loaded.GetName() == "image"
        back, geometry = mrml.array_from_volume_node(loaded)
        np.testing.assert_allclose(back, array, atol=0)
        assert geometry.almost_equal(OBLIQUE, atol=1e-3)
        ijk = [[1, 2, 0], [shape[2] - 1, shape[1] - 1, shape[0] - 1]]
        np.testing.assert_allclose(voxel_ras_via_node(loaded, ijk), OBLIQUE.pixel_to_ras(ijk), atol=1e-3)
    finally:
        mrml.close_headless_scene(other)


def test_left_handed_volume_keeps_every_voxel_in_place(scene, tmp_path):
    """Slicer's reader flips the frame axis of a left-handed grid; RAS placement must survive."""
    array = ramp((3, 4, 5))
    node = mrml.volume_node_from_array(array, LEFT_HANDED, "Lefty", scene=scene)
    mrml.save_volume_node(node, tmp_path / "lefty.nrrd")
    back, geometry = mrml.array_from_volume_node(mrml.load_volume_node(tmp_path / "lefty.nrrd", scene=scene))
    k, j, i = np.meshgrid(*[np.arange(n) for n in back.shape], indexing="ij")
    ijk = np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1)
    original_ijk = np.rint(LEFT_HANDED.ras_to_pixel(geometry.pixel_to_ras(ijk))).astype(int)
    np.testing.assert_array_equal(back.ravel(), array[original_ijk[:, 2], original_ijk[:, 1], original_ijk[:, 0]])


def test_save_volume_refuses_overwrite_and_bad_names(scene, tmp_path):
    node = mrml.volume_node_from_array(ramp((1, 2, 3)), Geometry(), "Image", scene=scene)
    path = tmp_path / "out.nrrd"
    mrml.save_volume_node(node, path)
    with pytest.raises(OutputExistsError):
        mrml.save_volume_node(node, path)
    mrml.save_volume_node(node, path, overwrite=True)
    with pytest.raises(InputError, match="must end with"):
        mrml.save_volume_node(node, tmp_path / "out.nhdr")
    with pytest.raises(InputError, match="folder does not exist"):
        mrml.save_volume_node(node, tmp_path / "missing" / "out.nrrd")


def test_load_volume_errors_name_the_file(scene, tmp_path):
    with pytest.raises(InputError, match="does not exist") as err:
        mrml.load_volume_node(tmp_path / "nothing.nrrd", scene=scene)
    assert str(tmp_path / "nothing.nrrd") in str(err.value)
    garbage = tmp_path / "garbage.nrrd"
    garbage.write_bytes(b"not a nrrd file at all")
    with pytest.raises(InputError, match="cannot be read"):
        mrml.load_volume_node(garbage, scene=scene)
    assert scene.GetNumberOfNodesByClass("vtkMRMLVolumeNode") == 0


# --------------------------------------------------------------------------- unique names
def test_new_nodes_never_take_over_an_existing_name(scene):
    users = mrml.volume_node_from_array(np.full((1, 2, 2), 5.0, np.float32), Geometry(), "Heatmap", scene=scene)
    ours = mrml.volume_node_from_array(np.zeros((1, 2, 2), np.float32), Geometry(), "Heatmap", scene=scene)
    points = mrml.create_fiducials(np.zeros((0, 3)), [], name="Heatmap", scene=scene)
    table = mrml.table_from_rows({"x": [1.0]}, "Heatmap", scene=scene)
    names = [users.GetName(), ours.GetName(), points.GetName(), table.GetName()]
    assert names[0] == "Heatmap" and len(set(names)) == 4
    assert mrml.array_from_volume_node(users)[0].max() == 5.0


# --------------------------------------------------------------------------- markups
POINTS = np.array([[10.25, -3.5, 42.0], [np.nan, np.nan, np.nan], [-1.0, 0.125, 7.75]])
LABELS = ["RVI-1", "RVI-2", "BCA"]


def test_markups_json_round_trip_in_a_new_scene(scene, tmp_path):
    node = mrml.create_fiducials(POINTS, LABELS, name="Landmarks", confidences=[0.93, np.nan, 0.5], scene=scene)
    assert node.GetDisplayNode() is not None and not node.GetLocked()
    path = tmp_path / "landmarks.mrk.json"
    mrml.save_markups_json(node, path)
    assert os.listdir(tmp_path) == ["landmarks.mrk.json"]
    saved = json.loads(path.read_text())["markups"][0]
    assert saved["coordinateSystem"] == "LPS"
    assert saved["controlPoints"][0]["position"] == pytest.approx([-10.25, 3.5, 42.0])
    assert saved["controlPoints"][1]["positionStatus"] == "missing"

    other = other_scene()
    try:
        loaded = mrml.load_markups_json(path, scene=other)
        assert loaded.GetScene() is other and loaded.GetName() == "landmarks"
        points, labels, descriptions = mrml.fiducials_to_arrays(loaded)
        np.testing.assert_allclose(points, POINTS, atol=1e-3)  # NaN rows compare equal
        assert labels == LABELS
        assert descriptions == ["confidence=0.93", "", "confidence=0.50"]
        assert [mrml.parse_confidence(d) for d in descriptions[::2]] == [0.93, 0.5]
    finally:
        mrml.close_headless_scene(other)


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_update_fiducials_handles_any_count(scene, count):
    node = mrml.create_fiducials(POINTS, LABELS, name="Landmarks", scene=scene)
    points = np.arange(count * 3, dtype=np.float64).reshape(count, 3) + 0.5
    labels = [f"S{i}" for i in range(count)]
    mrml.update_fiducials(node, points, labels, [f"d{i}" for i in range(count)])
    got_points, got_labels, got_descriptions = mrml.fiducials_to_arrays(node)
    assert got_points.shape == (count, 3)
    np.testing.assert_allclose(got_points, points)
    assert got_labels == labels and got_descriptions == [f"d{i}" for i in range(count)]


def test_missing_point_becomes_defined_again_on_update(scene):
    node = mrml.create_fiducials(POINTS, LABELS, name="Landmarks", scene=scene)
    mrml.update_fiducials(node, np.ones((3, 3)), LABELS)
    assert not np.isnan(mrml.fiducials_to_arrays(node)[0]).any()


def test_fiducial_options(scene):
    node = mrml.create_fiducials(POINTS[:1], LABELS[:1], name="FP", scene=scene, locked=True, color=(1.0, 0.0, 0.0))
    assert node.GetLocked()
    assert node.GetDisplayNode().GetSelectedColor() == (1.0, 0.0, 0.0)
    mrml.set_fiducial_color(node, (0.0, 0.5, 1.0))
    assert node.GetDisplayNode().GetSelectedColor() == (0.0, 0.5, 1.0)
    with pytest.raises(InputError, match="colour"):
        mrml.set_fiducial_color(node, (0.0, 2.0, 1.0))


@pytest.mark.parametrize("points, labels, kwargs, problem", [
    (POINTS, LABELS[:2], {}, "3 points but 2 labels"),
    (POINTS, LABELS, {"descriptions": ["a"] * 3, "confidences": [1.0] * 3}, "not both"),
    (POINTS, LABELS, {"confidences": [1.0]}, "descriptions/confidences"),
    ([[1.0, np.nan, 2.0]], ["A"], {}, "finite"),
    ([[1.0, 2.0]], ["A"], {}, r"\(N, 3\)"),
])
def test_create_fiducials_rejects_bad_input(scene, points, labels, kwargs, problem):
    with pytest.raises(InputError, match=problem):
        mrml.create_fiducials(points, labels, name="Bad", scene=scene, **kwargs)
    assert scene.GetNumberOfNodesByClass("vtkMRMLMarkupsFiducialNode") == 0


def test_markups_file_errors(scene, tmp_path):
    bad = tmp_path / "bad.mrk.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="cannot be read") as err:
        mrml.load_markups_json(bad, scene=scene)
    assert str(err.value).startswith(str(bad))
    with pytest.raises(InputError, match="does not exist"):
        mrml.load_markups_json(tmp_path / "none.mrk.json", scene=scene)
    assert scene.GetNumberOfNodesByClass("vtkMRMLMarkupsFiducialNode") == 0
    node = mrml.create_fiducials(POINTS, LABELS, name="L", scene=scene)
    with pytest.raises(InputError, match="must end with"):
        mrml.save_markups_json(node, tmp_path / "points.txt")
    mrml.save_markups_json(node, tmp_path / "p.mrk.json")
    with pytest.raises(OutputExistsError):
        mrml.save_markups_json(node, tmp_path / "p.mrk.json")


# --------------------------------------------------------------------------- colours and overlay
def test_inferno_table(scene):
    node = mrml.inferno_color_node(scene)
    assert node is mrml.inferno_color_node(scene)  # found again, not duplicated
    rgba = mrml_colors.color_table_rgba(node)
    assert rgba.shape == (256, 4)
    assert rgba[0, 3] == 0.0 and np.all(rgba[1:, 3] == 1.0)
    luminance = rgba[:, :3] @ [0.2126, 0.7152, 0.0722]
    assert np.all(np.diff(luminance) > -1.0 / 255)  # rising, up to the table's 8-bit rounding
    assert np.all(np.diff(luminance[::8]) > 0)
    assert rgba[0, :3].max() < 0.02  # near black
    np.testing.assert_allclose(rgba[-1, :3], [0.988, 1.0, 0.643], atol=0.01)  # pale yellow
    np.testing.assert_allclose(rgba[128, :3], [0.74, 0.22, 0.33], atol=0.02)  # mid: crimson


def test_overlay_sets_layers_display_and_opacity(scene):
    image = mrml.volume_node_from_array(ramp((2, 8, 8)), OBLIQUE, "Image", scene=scene)
    heatmap = mrml.volume_node_from_array(ramp((2, 8, 8)), OBLIQUE, "Heatmap", scene=scene)
    unlinked = scene.GetNodeByID("vtkMRMLSliceCompositeNodeGreen")
    unlinked.SetDoPropagateVolumeSelection(False)

    assert mrml.show_heatmap_overlay(heatmap, image, threshold=0.2, opacity=0.4, fit=True) == 2
    for layout in ("Red", "Yellow"):
        composite = scene.GetNodeByID(f"vtkMRMLSliceCompositeNode{layout}")
        assert composite.GetBackgroundVolumeID() == image.GetID()
        assert composite.GetForegroundVolumeID() == heatmap.GetID()
        assert composite.GetForegroundOpacity() == pytest.approx(0.4)
    assert unlinked.GetForegroundVolumeID() is None
    selection = scene.GetNodeByID("vtkMRMLSelectionNodeSingleton")
    assert (selection.GetActiveVolumeID(), selection.GetSecondaryVolumeID()) == (image.GetID(), heatmap.GetID())

    display = heatmap.GetDisplayNode()
    assert display.GetColorNodeID() == mrml.inferno_color_node(scene).GetID()
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == (0.0, 1.0)
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == pytest.approx(0.2)
    assert display.GetUpperThreshold() >= 1.0

    assert mrml.set_overlay_opacity(0.9, scene=scene) == 2
    assert scene.GetNodeByID("vtkMRMLSliceCompositeNodeRed").GetForegroundOpacity() == pytest.approx(0.9)
    assert mrml.hide_heatmap_overlay(heatmap) == 2
    assert scene.GetNodeByID("vtkMRMLSliceCompositeNodeRed").GetForegroundVolumeID() is None


def test_overlay_creates_views_in_a_bare_headless_scene():
    bare = mrml.new_headless_scene(slice_views=False)
    try:
        heatmap = mrml.volume_node_from_array(ramp((1, 4, 4)), Geometry(), "Heatmap", scene=bare)
        assert mrml.show_heatmap_overlay(heatmap) == 3
    finally:
        mrml.close_headless_scene(bare)


@pytest.mark.parametrize("kwargs, problem", [
    ({"opacity": 1.5}, "overlay opacity"),
    ({"opacity": float("nan")}, "overlay opacity"),
    ({"threshold": 1.0}, "threshold"),
    ({"threshold": -0.1}, "threshold"),
])
def test_overlay_rejects_bad_settings(scene, kwargs, problem):
    heatmap = mrml.volume_node_from_array(ramp((1, 4, 4)), Geometry(), "Heatmap", scene=scene)
    with pytest.raises(InputError, match=problem):
        mrml.show_heatmap_overlay(heatmap, **kwargs)


# --------------------------------------------------------------------------- sequences
def cine(frames=4, rows=5, columns=6) -> np.ndarray:
    return np.stack([np.full((rows, columns), t, np.float32) + ramp((rows, columns)) for t in range(frames)])


def test_sequence_round_trip_and_browsing(scene):
    frames = cine()
    sequence, browser, proxy = mrml.sequence_from_frames(frames, "Cine", geometry=OBLIQUE,
                                                         index_values=[0.0, 33.5, 67.0, 100.5], scene=scene)
    assert (sequence.GetIndexName(), sequence.GetIndexUnit()) == ("time", "ms")
    np.testing.assert_allclose(mrml.sequence_index_values(sequence), [0.0, 33.5, 67.0, 100.5])
    items = mrml.frames_from_sequence(sequence)
    assert len(items) == 4
    for t, (array, geometry) in enumerate(items):
        np.testing.assert_array_equal(array, frames[t][None])
        assert geometry.almost_equal(OBLIQUE)

    assert proxy.GetScene() is scene and proxy.IsA("vtkMRMLScalarVolumeNode")
    np.testing.assert_array_equal(mrml.array_from_volume_node(proxy)[0], frames[0][None])
    assert mrml.show_heatmap_overlay(proxy, threshold=0.3) == 3  # a heatmap cine shown over the image
    browser.SetSelectedItemNumber(2)
    np.testing.assert_array_equal(mrml.array_from_volume_node(proxy)[0], frames[2][None])
    assert mrml.array_from_volume_node(proxy)[1].almost_equal(OBLIQUE)
    # the proxy keeps its display settings and its place in the views while browsing
    assert proxy.GetDisplayNode().GetColorNodeID() == mrml.inferno_color_node(scene).GetID()
    assert proxy.GetDisplayNode().GetLowerThreshold() == pytest.approx(0.3)
    assert scene.GetNodeByID("vtkMRMLSliceCompositeNodeRed").GetForegroundVolumeID() == proxy.GetID()


def test_markups_sequence_follows_the_browser_and_keeps_edits(scene):
    _, browser, _ = mrml.sequence_from_frames(cine(3), "Cine", geometry=OBLIQUE, scene=scene)
    points = [np.array([[1.0, 2.0, 3.0]]), np.array([[4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]), np.zeros((0, 3))]
    labels = [["A"], ["A", "B"], []]
    sequence, proxy = mrml.add_markups_sequence(browser, points, labels, name="Landmarks",
                                                confidences_per_item=[[0.9], [0.8, 0.7], []])
    assert proxy.IsA("vtkMRMLMarkupsFiducialNode") and proxy.GetScene() is scene
    for t in (1, 0, 2, 1):
        browser.SetSelectedItemNumber(t)
        got, got_labels, _ = mrml.fiducials_to_arrays(proxy)
        np.testing.assert_allclose(got, points[t])
        assert got_labels == labels[t]

    browser.SetSelectedItemNumber(1)
    proxy.SetNthControlPointPositionWorld(0, -1.0, -2.0, -3.0)  # the user drags a point
    browser.SetSelectedItemNumber(0)
    browser.SetSelectedItemNumber(1)
    np.testing.assert_allclose(mrml.fiducials_to_arrays(proxy)[0][0], [-1.0, -2.0, -3.0])
    stored = mrml.fiducials_from_sequence(sequence)
    np.testing.assert_allclose(stored[1][0][0], [-1.0, -2.0, -3.0])
    assert stored[1][2] == ["confidence=0.80", "confidence=0.70"]


def test_sequence_files_round_trip_in_a_new_scene(scene, tmp_path):
    frames = cine(3)
    sequence, browser, _ = mrml.sequence_from_frames(frames, "Cine", geometry=OBLIQUE,
                                                     index_values=[0, 40, 80], scene=scene)
    points = [np.array([[1.0, 2.0, 3.0]]), np.array([[np.nan] * 3]), np.array([[4.0, 5.0, 6.5]])]
    markups, _ = mrml.add_markups_sequence(browser, points, [["A"]] * 3, name="Landmarks")
    mrml.save_sequence(sequence, tmp_path / "cine.seq.nrrd")
    mrml.save_sequence(markups, tmp_path / "landmarks.seq.mrb")
    assert sorted(os.listdir(tmp_path)) == ["cine.seq.nrrd", "landmarks.seq.mrb"]
    with pytest.raises(OutputExistsError):
        mrml.save_sequence(sequence, tmp_path / "cine.seq.nrrd")
    with pytest.raises(InputError, match="only a sequence of volumes"):
        mrml.save_sequence(markups, tmp_path / "landmarks.seq.nrrd")

    other = other_scene()
    try:
        loaded = mrml.load_sequence(tmp_path / "cine.seq.nrrd", scene=other)
        assert loaded.GetName() == "cine"
        assert (loaded.GetIndexName(), loaded.GetIndexUnit()) == ("time", "ms")
        np.testing.assert_allclose(mrml.sequence_index_values(loaded), [0, 40, 80])
        for t, (array, geometry) in enumerate(mrml.frames_from_sequence(loaded)):
            np.testing.assert_array_equal(array, frames[t][None])
            assert geometry.almost_equal(OBLIQUE, atol=1e-3)
        loaded_points = mrml.load_sequence(tmp_path / "landmarks.seq.mrb", scene=other)
        for t, (got, got_labels, _) in enumerate(mrml.fiducials_from_sequence(loaded_points)):
            np.testing.assert_allclose(got, points[t], atol=1e-3)
            assert got_labels == ["A"]
        browser2, proxy2 = mrml.browse_sequence(loaded)
        _, points_proxy = mrml.browse_sequence(loaded_points, browser=browser2)
        browser2.SetSelectedItemNumber(2)
        np.testing.assert_array_equal(mrml.array_from_volume_node(proxy2)[0], frames[2][None])
        np.testing.assert_allclose(mrml.fiducials_to_arrays(points_proxy)[0], points[2], atol=1e-3)
    finally:
        mrml.close_headless_scene(other)


def test_rgb_frame_list_sequence(scene):
    frames = [(ramp((1, 4, 5, 3)), OBLIQUE), (ramp((1, 4, 5, 3))[..., ::-1], OBLIQUE.frame(1))]
    sequence, _, proxy = mrml.sequence_from_frames(frames, "Video", scene=scene)
    assert proxy.IsA("vtkMRMLVectorVolumeNode")
    assert (sequence.GetIndexName(), sequence.GetIndexUnit()) == ("frame", "")
    items = mrml.frames_from_sequence(sequence)
    np.testing.assert_array_equal(items[1][0], frames[1][0])
    assert items[1][1].almost_equal(OBLIQUE.frame(1))


@pytest.mark.parametrize("kwargs, problem", [
    ({"index_values": [0, 1]}, "3 items but 2 index values"),
    ({"index_values": [0, 2, 1]}, "strictly increasing"),
    ({"geometry": None}, "needs a geometry"),
])
def test_sequence_rejects_bad_input(scene, kwargs, problem):
    kwargs = {"geometry": Geometry(), **kwargs}
    with pytest.raises(InputError, match=problem):
        mrml.sequence_from_frames(cine(3), "Cine", scene=scene, **kwargs)
    assert scene.GetNumberOfNodesByClass("vtkMRMLSequenceNode") == 0


def test_bad_items_leave_nothing_in_the_scene(scene):
    frames = [(ramp((1, 4, 5)), Geometry()), (ramp((4, 5)), None), (np.zeros((4,)), Geometry())]
    with pytest.raises(InputError, match="frames, rows, columns"):
        mrml.sequence_from_frames(frames, "Cine", geometry=Geometry(), scene=scene)
    _, browser, _ = mrml.sequence_from_frames(frames[:2], "Cine", geometry=Geometry(), scene=scene)
    with pytest.raises(InputError, match="2 items but 1 point sets"):
        mrml.add_markups_sequence(browser, [np.zeros((0, 3))], [[]], name="Landmarks")
    with pytest.raises(InputError, match="1 points but 2 labels"):
        mrml.add_markups_sequence(browser, [np.zeros((0, 3)), np.ones((1, 3))], [[], ["A", "B"]], name="Landmarks")
    assert scene.GetNumberOfNodesByClass("vtkMRMLSequenceNode") == 1


# --------------------------------------------------------------------------- tables
def test_table_from_rows(scene):
    node = mrml.table_from_rows({"label": ["RVI-1", "BCA"], "error_mm": [1.5, float("nan")],
                                 "detected": [True, False], "count": [3, 4]}, "Errors", scene=scene)
    table = node.GetTable()
    assert [table.GetColumn(c).GetClassName() for c in range(4)] == \
        ["vtkStringArray", "vtkDoubleArray", "vtkIntArray", "vtkIntArray"]
    columns = mrml.columns_from_table(node)
    assert columns["label"] == ["RVI-1", "BCA"] and columns["detected"] == [1, 0] and columns["count"] == [3, 4]
    assert columns["error_mm"][0] == 1.5 and np.isnan(columns["error_mm"][1])
    with pytest.raises(InputError, match="differ in length"):
        mrml.table_from_rows({"a": [1], "b": [1, 2]}, "Bad", scene=scene)
