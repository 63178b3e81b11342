"""Result tables are shown even from Slicer's default layouts, which have no table view.

``vtkMRMLApplicationLogic::PropagateTableSelection`` only fills table views
that exist. The panels' ``showTable`` therefore switches to the layout that
Slicer's Tables logic (``GetLayoutWithTable``) names first, as Slicer's
SegmentStatistics module does. On slicer-core the switch goes through the
scene's layout node; a table view node added afterwards stands for the view
that Slicer's layout manager creates for the new layout.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")

from heatmap_landmarks import mrml  # noqa: E402
from heatmap_landmarks.slicer_module import widget  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
L = slicer.vtkMRMLLayoutNode
#: Layouts with a table view (vtkSlicerTablesLogic::GetLayoutWithTable keeps these).
TABLE_LAYOUTS = {L.SlicerLayoutFourUpTableView, L.SlicerLayout3DTableView, L.SlicerLayoutFourUpPlotTableView}


@pytest.fixture
def scene():
    scene = mrml.new_headless_scene()
    yield scene
    mrml.close_headless_scene(scene)


@pytest.mark.parametrize("layout", [L.SlicerLayoutConventionalView, L.SlicerLayoutFourUpView,
                                    L.SlicerLayoutOneUpRedSliceView, L.SlicerLayoutOneUp3DView,
                                    L.SlicerLayoutFourUpTableView])
def test_every_default_layout_maps_to_one_with_a_table(layout):
    assert mrml.layout_with_table(layout) in TABLE_LAYOUTS


def test_show_table_switches_the_layout_then_fills_the_table_view(scene):
    layout_node = scene.AddNewNodeByClass("vtkMRMLLayoutNode")
    layout_node.SetViewArrangement(L.SlicerLayoutConventionalView)  # Slicer's default: no table view
    table = mrml.table_from_rows({"label": ["MV-1"], "x": [1.5]}, "points")
    assert scene.GetNumberOfNodesByClass("vtkMRMLTableViewNode") == 0

    layout = mrml.show_table(table)
    assert layout == layout_node.GetViewArrangement() == mrml.layout_with_table(L.SlicerLayoutConventionalView)
    assert layout in TABLE_LAYOUTS
    selection = scene.GetNodeByID("vtkMRMLSelectionNodeSingleton")
    assert selection.GetActiveTableID() == table.GetID()

    view = scene.AddNewNodeByClass("vtkMRMLTableViewNode")  # what the layout manager makes for that layout
    second = mrml.table_from_rows({"label": ["MV-2"], "x": [2.5]}, "points")
    assert mrml.show_table(second) == layout  # already a table layout: unchanged
    assert view.GetTableNodeID() == second.GetID()


def test_show_table_without_a_layout_still_selects_the_table(scene):
    table = mrml.table_from_rows({"a": [1]}, "t")
    assert mrml.show_table(table) == -1
    assert scene.GetNodeByID("vtkMRMLSelectionNodeSingleton").GetActiveTableID() == table.GetID()


def test_the_panels_show_tables_through_show_table():
    tree = ast.parse(Path(widget.__file__).read_text(encoding="utf-8"))
    [method] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "showTable"]
    assert "show_table(" in ast.unparse(method)
    for module in ("CardiacLandmarkGAN", "SutureDetection"):
        source = (ROOT / module / f"{module}.py").read_text(encoding="utf-8")
        assert "self.showTable(" in source and "PropagateTableSelection" not in source
