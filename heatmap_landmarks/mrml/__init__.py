"""Bridge between numpy arrays/points and 3D Slicer MRML nodes.

With :mod:`heatmap_landmarks.slicer_module` (the kit the module panels are
built from: Widget mixin, Logic base, dependency installation) the only part of
:mod:`heatmap_landmarks` that imports ``slicer`` and ``vtk``; it converts
nodes <-> arrays and displays, and does no image or model maths. The same code runs
inside the 3D Slicer application and headless on the ``slicer-core`` wheel
(tests, CLI, CI, trame web viewer): see :mod:`.scene`.

Conventions: arrays are ``(frame, row, column)`` = Slicer's KJI order, so a
volume node's IJK->RAS matrix is exactly :meth:`Geometry.ijk_to_ras`; points
are ``(N, 3)`` RAS mm; new nodes always get unique names, so a user's nodes are
never replaced; files are written atomically and never overwritten unless
``overwrite=True``.
"""
from .colors import inferno_color_node, inferno_rgba
from .markups import (
    create_fiducials,
    fiducials_to_arrays,
    format_confidence,
    load_markups_json,
    parse_confidence,
    save_markups_json,
    set_fiducial_color,
    update_fiducials,
)
from .overlays import (
    HEATMAP_ATTRIBUTE,
    configure_heatmap_display,
    first_input_volume,
    heatmap_node_ids,
    hide_heatmap_overlay,
    is_heatmap,
    mark_heatmap,
    set_overlay_opacity,
    show_heatmap_overlay,
)
from .scene import (
    application_logic,
    close_headless_scene,
    ensure_scene,
    ensure_slice_views,
    in_slicer_app,
    new_headless_scene,
    unique_name,
)
from .sequences import (
    add_markups_sequence,
    browse_sequence,
    fiducials_from_sequence,
    frames_from_sequence,
    load_sequence,
    save_sequence,
    sequence_from_frames,
    sequence_index_values,
)
from .tables import columns_from_table, layout_with_table, show_table, table_from_rows
from .volumes import (
    array_from_volume_node,
    fill_volume_node,
    load_volume_node,
    save_volume_node,
    volume_node_from_array,
    voxels_missing,
)

__all__ = [
    "HEATMAP_ATTRIBUTE", "first_input_volume", "heatmap_node_ids", "is_heatmap", "mark_heatmap",
    "add_markups_sequence", "application_logic", "array_from_volume_node", "browse_sequence",
    "close_headless_scene", "columns_from_table", "configure_heatmap_display", "create_fiducials",
    "ensure_scene", "ensure_slice_views", "fiducials_from_sequence", "fiducials_to_arrays", "fill_volume_node",
    "format_confidence", "frames_from_sequence", "hide_heatmap_overlay", "in_slicer_app", "inferno_color_node",
    "inferno_rgba", "layout_with_table", "load_markups_json", "load_sequence", "load_volume_node", "new_headless_scene",
    "parse_confidence", "save_markups_json", "save_sequence", "save_volume_node", "sequence_from_frames",
    "sequence_index_values", "voxels_missing", "set_fiducial_color", "set_overlay_opacity", "show_heatmap_overlay", "show_table",
    "table_from_rows", "unique_name", "update_fiducials", "volume_node_from_array",
]
