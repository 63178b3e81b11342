"""The MRML scene the bridge works on: 3D Slicer's own, or a headless one.

Inside the 3D Slicer application ``slicer.mrmlScene`` exists and is always
used. Without the application (the ``slicer-core`` wheel: tests, the CLI, CI,
the trame web viewer) :func:`new_headless_scene` builds the parts of the
application the bridge relies on:

* a ``vtkSlicerApplicationLogic`` (selection and interaction singleton nodes,
  default colour tables),
* the Sequences and Markups module logics (they register
  ``vtkMRMLSequenceBrowserNode`` and ``vtkMRMLMarkupsJsonStorageNode``, and the
  Sequences logic is what updates a browser's proxy nodes),
* a cache/data-IO manager (needed to read ``.mrb`` sequence bundles),
* optionally three slice views (Red, Yellow, Green) so that slice composite
  nodes exist for overlays,

and sets ``slicer.mrmlScene`` so ``slicer.util`` helpers work.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass, field

import slicer
import vtk

#: Slice views created for a headless scene, with their orientation.
SLICE_VIEWS = (("Red", "Axial"), ("Yellow", "Sagittal"), ("Green", "Coronal"))


@dataclass(eq=False)
class _Headless:
    """Objects that keep a headless scene working; they live as long as it is open."""

    scene: object
    app_logic: object
    module_logics: dict = field(default_factory=dict)
    slice_logics: object = None  # vtkCollection of vtkMRMLSliceLogic
    io_manager: object = None


_OPEN: list[_Headless] = []
_CACHE_DIR: list[str] = []


def _cache_dir() -> str:
    """One small private folder per process for the cache manager.

    Not the system temp folder itself: vtkCacheManager measures its folder's
    size when it is set, which takes long on a busy /tmp.
    """
    if not _CACHE_DIR:
        folder = tempfile.mkdtemp(prefix="heatmap_landmarks_mrml_")
        atexit.register(shutil.rmtree, folder, True)
        _CACHE_DIR.append(folder)
    return _CACHE_DIR[0]


def in_slicer_app() -> bool:
    """True when running inside the 3D Slicer application (``slicer.app`` exists)."""
    return hasattr(slicer, "app")


def _headless(scene) -> _Headless | None:
    for ctx in _OPEN:
        if ctx.scene is scene:
            return ctx
    return None


def new_headless_scene(*, slice_views: bool = True, make_current: bool = True):
    """Create a fresh headless ``vtkMRMLScene`` with the logics the bridge needs.

    Args:
        slice_views: also create Red/Yellow/Green slice views (slice nodes and
            slice composite nodes), so overlays have somewhere to go.
        make_current: set ``slicer.mrmlScene`` to the new scene (``slicer.util``
            functions only work on that scene).

    Raises:
        RuntimeError: inside the 3D Slicer application, whose scene must be used.

    >>> scene = new_headless_scene()
    >>> scene is ensure_scene()
    True
    >>> scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")
    3
    >>> close_headless_scene(scene)
    """
    if in_slicer_app():
        raise RuntimeError("inside 3D Slicer use slicer.mrmlScene; a second scene would never be displayed")
    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)  # adds the selection and interaction singletons
    app_logic.GetColorLogic().SetMRMLScene(scene)  # default colour tables (Grey, ...) as in the app

    # vtkMRMLScene::ReadFromMRB unpacks bundles below the cache manager's folder.
    cache = slicer.vtkCacheManager()
    cache.SetRemoteCacheDirectory(_cache_dir())
    io_manager = slicer.vtkDataIOManager()
    io_manager.SetCacheManager(cache)
    scene.SetDataIOManager(io_manager)
    scene.SetCacheManager(cache)

    ctx = _Headless(scene=scene, app_logic=app_logic, io_manager=io_manager)
    for module_name, logic_class in (("Sequences", slicer.vtkSlicerSequencesLogic),
                                     ("Markups", slicer.vtkSlicerMarkupsLogic)):
        logic = logic_class()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(module_name, logic)
        ctx.module_logics[module_name] = logic
    _OPEN.append(ctx)
    if slice_views:
        ensure_slice_views(scene)
    if make_current:
        slicer.mrmlScene = scene
    return scene


def ensure_scene():
    """Return the scene to work on, creating a headless one when there is none.

    Inside 3D Slicer: ``slicer.mrmlScene``. Headless: ``slicer.mrmlScene`` if it
    has been set (by :func:`new_headless_scene` or by a host such as a trame
    application), otherwise a new :func:`new_headless_scene`. Idempotent.

    >>> ensure_scene() is ensure_scene()
    True
    """
    scene = getattr(slicer, "mrmlScene", None)
    if scene is not None or in_slicer_app():
        return scene
    return new_headless_scene()


def resolve_scene(scene=None):
    """``scene`` itself, or :func:`ensure_scene` when it is None."""
    return ensure_scene() if scene is None else scene


def close_headless_scene(scene) -> None:
    """Release the logics of a scene made by :func:`new_headless_scene` and empty it.

    Unsets ``slicer.mrmlScene`` if it is this scene. Does nothing for other scenes.
    """
    ctx = _headless(scene)
    if ctx is None:
        return
    _OPEN.remove(ctx)
    if ctx.slice_logics is not None:
        for i in range(ctx.slice_logics.GetNumberOfItems()):
            ctx.slice_logics.GetItemAsObject(i).SetMRMLScene(None)
        ctx.app_logic.SetSliceLogics(None)
    for module_name, logic in ctx.module_logics.items():
        logic.SetMRMLScene(None)
        ctx.app_logic.SetModuleLogic(module_name, None)
    ctx.app_logic.GetColorLogic().SetMRMLScene(None)
    ctx.app_logic.SetMRMLScene(None)
    scene.Clear(True)
    if getattr(slicer, "mrmlScene", None) is scene:
        del slicer.mrmlScene


def application_logic(scene=None):
    """The application logic serving ``scene``, or None for a scene we do not know.

    Inside 3D Slicer this is ``slicer.app.applicationLogic()``.
    """
    if in_slicer_app():
        return slicer.app.applicationLogic()
    ctx = _headless(resolve_scene(scene))
    return None if ctx is None else ctx.app_logic


def module_logic(module_name: str, scene=None):
    """A module's logic (e.g. ``"Sequences"``) registered with the application logic, or None."""
    app_logic = application_logic(scene)
    logic = None if app_logic is None else app_logic.GetModuleLogic(module_name)
    if logic is None and in_slicer_app():
        module = getattr(slicer.modules, module_name.lower(), None)
        logic = None if module is None else module.logic()
    return logic


def ensure_slice_views(scene=None) -> int:
    """Make sure slice composite nodes exist; returns how many the scene has.

    Inside 3D Slicer the views always exist and nothing is created. For a
    headless scene of ours without views, Red/Yellow/Green slice logics are
    created (each makes a slice node and a slice composite node). Other scenes
    are left alone.
    """
    scene = resolve_scene(scene)
    count = scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")
    ctx = _headless(scene)
    if count or ctx is None or in_slicer_app():
        return count
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene)
    logics = vtk.vtkCollection()
    for layout_name, orientation in SLICE_VIEWS:
        logic = slicer.vtkMRMLSliceLogic()
        logic.SetMRMLApplicationLogic(ctx.app_logic)
        logic.SetMRMLScene(scene)
        slice_node = logic.AddSliceNode(layout_name)
        slice_node.SetDefaultOrientation(orientation)
        slice_node.SetOrientation(orientation)
        logics.AddItem(logic)
    ctx.app_logic.SetSliceLogics(logics)
    ctx.slice_logics = logics
    return scene.GetNumberOfNodesByClass("vtkMRMLSliceCompositeNode")


def unique_name(scene, base: str) -> str:
    """A node name not used in ``scene``: ``base`` itself if free, else ``base_1``, ...

    >>> scene = new_headless_scene(slice_views=False)
    >>> node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", unique_name(scene, "Heatmap"))
    >>> unique_name(scene, "Heatmap") != "Heatmap"
    True
    >>> close_headless_scene(scene)
    """
    if not isinstance(base, str) or not base.strip():
        raise ValueError(f"node name must be a non-empty string, got {base!r}")
    # GenerateUniqueName skips names of existing nodes and never repeats an answer.
    return scene.GenerateUniqueName(base)


def add_new_node(scene, class_name: str, name: str):
    """Add a node of ``class_name`` under a unique name (never replacing a user's node)."""
    node = scene.AddNewNodeByClass(class_name, unique_name(scene, name))
    if node is None:
        raise RuntimeError(f"the scene cannot create {class_name} nodes (is its module logic registered?)")
    return node
