"""Columns of values <-> ``vtkMRMLTableNode`` (e.g. per-landmark errors shown in Slicer's table view)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import slicer
import vtk

from ..errors import InputError
from .scene import add_new_node, application_logic, in_slicer_app, module_logic, resolve_scene

_SELECTION_NODE_ID = "vtkMRMLSelectionNodeSingleton"


def _vtk_column(name: str, values: Sequence):
    a = np.asarray(values)
    if a.dtype == bool:
        column = vtk.vtkIntArray()  # Slicer's table view edits ints; VTK bit arrays are awkward
        data = [int(v) for v in a]
    elif a.dtype.kind in "iu":
        column = vtk.vtkIntArray() if np.all(np.abs(a.astype(np.int64)) < 2**31) else vtk.vtkDoubleArray()
        data = [int(v) for v in a]
    elif a.dtype.kind == "f":
        column = vtk.vtkDoubleArray()
        data = [float(v) for v in a]
    else:
        column = vtk.vtkStringArray()
        data = ["" if v is None else str(v) for v in values]
    column.SetName(name)
    column.SetNumberOfValues(len(data))
    for i, v in enumerate(data):
        column.SetValue(i, v)
    return column


def table_from_rows(columns: Mapping[str, Sequence], name: str, *, scene=None):
    """Add a table node with one column per entry of ``columns`` (all the same length).

    Column types: bool and int -> integer, float -> double (NaN allowed),
    anything else -> text.

    >>> from heatmap_landmarks.mrml.scene import new_headless_scene, close_headless_scene
    >>> scene = new_headless_scene(slice_views=False)
    >>> node = table_from_rows({"label": ["RVI-1", "RVI-2"], "error_mm": [1.25, 2.5]}, "Errors")
    >>> node.GetNumberOfRows(), node.GetNumberOfColumns()
    (2, 2)
    >>> columns_from_table(node)["error_mm"]
    [1.25, 2.5]
    >>> close_headless_scene(scene)
    """
    if not columns:
        raise InputError(None, f"table {name}: no columns")
    lengths = {key: len(values) for key, values in columns.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(None, f"table {name}: columns differ in length: {lengths}")
    scene = resolve_scene(scene)
    node = add_new_node(scene, "vtkMRMLTableNode", name)
    table = vtk.vtkTable()
    for key, values in columns.items():
        table.AddColumn(_vtk_column(str(key), values))
    node.SetAndObserveTable(table)
    return node


def columns_from_table(node) -> dict[str, list]:
    """Columns of a table node as ``{name: list of Python values}``."""
    table = node.GetTable()
    result = {}
    for c in range(table.GetNumberOfColumns()):
        column = table.GetColumn(c)
        result[column.GetName()] = [column.GetValue(r) for r in range(column.GetNumberOfValues())]
    return result


def layout_with_table(layout: int, scene=None) -> int:
    """The view layout most like ``layout`` that has a table view (``layout`` itself when it has one).

    Slicer's Tables logic decides (``GetLayoutWithTable``, as SegmentStatistics uses it).

    >>> import slicer
    >>> L = slicer.vtkMRMLLayoutNode
    >>> layout_with_table(L.SlicerLayoutConventionalView) == L.SlicerLayoutFourUpTableView
    True
    >>> layout_with_table(L.SlicerLayoutFourUpTableView) == L.SlicerLayoutFourUpTableView
    True
    """
    logic = module_logic("Tables", scene) if in_slicer_app() else None
    return int((logic or slicer.vtkSlicerTablesLogic).GetLayoutWithTable(int(layout)))


def show_table(table_node) -> int:
    """Show ``table_node`` in a table view, first switching to a layout that has one; returns the layout.

    ``PropagateTableSelection`` only fills table views that exist, and
    Slicer's default layouts have none, so the layout is switched first
    (inside Slicer through the layout manager; in a headless scene through its
    layout node, if it has one).
    """
    scene = table_node.GetScene()
    if scene is None:
        raise InputError(None, f"table '{table_node.GetName()}' is not in a scene")
    layout = -1
    manager = slicer.app.layoutManager() if in_slicer_app() else None
    if manager is not None:
        layout = layout_with_table(manager.layout, scene)
        manager.setLayout(layout)
    else:
        layout_node = scene.GetFirstNodeByClass("vtkMRMLLayoutNode")
        if layout_node is not None:
            layout = layout_with_table(layout_node.GetViewArrangement(), scene)
            layout_node.SetViewArrangement(layout)
    selection = scene.GetNodeByID(_SELECTION_NODE_ID)
    app_logic = application_logic(scene)
    if selection is not None:
        selection.SetActiveTableID(table_node.GetID())
    if app_logic is not None:
        app_logic.PropagateTableSelection()
    return layout
