"""Reading and writing MRML nodes through storage nodes: atomic, one-line errors."""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil

import vtk

from ..errors import InputError, refuse_overwrite


@contextlib.contextmanager
def quiet_vtk():
    """Silence VTK/MRML error output while we turn failures into :class:`InputError`."""
    previous = vtk.vtkObject.GetGlobalWarningDisplay()
    vtk.vtkObject.GlobalWarningDisplayOff()
    try:
        yield
    finally:
        vtk.vtkObject.SetGlobalWarningDisplay(previous)


def compound_extension(path, allowed: tuple[str, ...]) -> str:
    """The longest of ``allowed`` (lower-case, with dot) that ``path`` ends with, or ''."""
    lower = os.fspath(path).lower()
    for ext in sorted(allowed, key=len, reverse=True):
        if lower.endswith(ext):
            return ext
    return ""


#: Extensions stripped by :func:`file_stem` (compound ones first).
KNOWN_EXTENSIONS = (".seq.nrrd", ".seq.nhdr", ".seq.mrb", ".seq.mrml", ".mrk.json", ".nii.gz",
                    ".nrrd", ".nhdr", ".nii", ".mha", ".mhd", ".mrb", ".mrml", ".json", ".tsv", ".csv")


def file_stem(path) -> str:
    """File name without its (compound) extension: ``a/cine.seq.nrrd`` -> ``cine``."""
    base = os.path.basename(os.fspath(path))
    ext = compound_extension(base, KNOWN_EXTENSIONS)
    return base[: len(base) - len(ext)] or base


def require_extension(path, allowed: tuple[str, ...], what: str) -> str:
    ext = compound_extension(path, allowed)
    if not ext:
        raise InputError(path, f"{what} must end with one of {', '.join(allowed)}")
    return ext


def first_message(storage_node, fallback: str) -> str:
    """The storage node's first user message (why a read or write failed)."""
    messages = storage_node.GetUserMessages()
    for i in range(messages.GetNumberOfMessages()):
        text = " ".join(messages.GetNthMessageText(i).split())
        if text:
            return text.removeprefix("Error: ")
    return fallback


def read_node(storage_class: str, node, path, *, scene, what: str):
    """Read ``path`` into ``node`` (already in ``scene``) and attach the storage node.

    The storage node stays in the scene, observed by ``node``, as when 3D Slicer
    loads a file (so the application's Save dialog knows where it came from).
    """
    import slicer

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(path, f"{what} file does not exist")
    storage = getattr(slicer, storage_class)()
    scene.AddNode(storage)
    storage.SetFileName(path)
    with quiet_vtk():
        ok = storage.ReadData(node)
    if not ok:
        problem = first_message(storage, "unreadable")
        scene.RemoveNode(storage)
        raise InputError(path, f"cannot be read as a {what}: {problem}")
    node.SetAndObserveStorageNodeID(storage.GetID())
    return storage


def write_node_atomically(storage_class: str, node, path, *, overwrite: bool, what: str) -> str:
    """Write ``node`` to ``path`` atomically, through a storage node of ``storage_class``.

    The file is written under its final name inside a temporary folder next to
    ``path`` (formats such as ``.seq.mrb`` embed the file name), then moved into
    place with ``os.replace``; a failure leaves nothing behind. ``ext`` is the
    compound extension of ``path``. The node's own storage node, if any, is
    left untouched.
    """
    import slicer

    path = os.fspath(path)
    refuse_overwrite(path, overwrite)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(path, "output folder does not exist")
    tmp_folder = os.path.join(folder, f".{os.path.basename(path)}.tmp-{secrets.token_hex(4)}")
    tmp = os.path.join(tmp_folder, os.path.basename(path))
    storage = getattr(slicer, storage_class)()
    scene = node.GetScene()
    if scene is not None:
        # Some storage nodes (sequence bundles) need the scene to register node classes.
        scene.AddNode(storage)
    try:
        os.mkdir(tmp_folder)
        storage.SetFileName(tmp)
        with quiet_vtk():
            ok = storage.WriteData(node)
        if not ok or not os.path.isfile(tmp):
            raise InputError(path, f"could not write the {what}: {first_message(storage, 'write failed')}")
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_folder, ignore_errors=True)
        if scene is not None:
            scene.RemoveNode(storage)
    return path
