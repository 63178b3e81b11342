"""The body both modules' Slicer self-tests share: every check of ``<Module>Lib.selftest`` in a cleared scene.

A module's test class is ``class <Module>Test(SelfTestCase, ScriptedLoadableModuleTest)`` with
:attr:`SelfTestCase.checksModule` and :attr:`SelfTestCase.purpose` set, one ``test_...`` method per check
(ctest runs those through unittest), and ``runTest`` calling :meth:`SelfTestCase.runChecks`. The checks
themselves are plain functions ``check_...(scene, folder)`` that pytest also runs on slicer-core.

Desktop Slicer only (``slicer.app``); imported by the module files' test classes, never at start-up.
"""
from __future__ import annotations

import importlib
import tempfile

__all__ = ["SelfTestCase"]


class SelfTestCase:
    """Mixin for ``ScriptedLoadableModuleTest``: dependencies, a clean scene and a temporary folder per check."""

    #: The module's checks, e.g. ``"CardiacLandmarkGANLib.selftest"``.
    checksModule = ""
    #: What the dependencies are installed for, shown to the user (translated by the module).
    purpose = ""

    @classmethod
    def setUpClass(cls):
        # ctest (slicer_add_python_unittest) runs the test_* methods through unittest, never runTest:
        # install the missing packages here without asking, or skip every case saying what is missing.
        from .dependencies import ensure_test_dependencies

        ensure_test_dependencies(cls.purpose)

    def setUp(self):
        import slicer

        slicer.mrmlScene.Clear()

    def _folder(self) -> str:
        import slicer

        if not hasattr(self, "_tmp"):
            self._tmp = tempfile.mkdtemp(prefix=f"{type(self).__name__}-", dir=slicer.app.temporaryPath)
        return self._tmp

    def _run(self, name: str) -> None:
        import slicer

        self.setUp()
        self.delayDisplay(f"Running {name}")
        getattr(importlib.import_module(self.checksModule), name)(slicer.mrmlScene, self._folder())

    def runChecks(self, names) -> None:
        """``runTest``'s body: install what is missing (asking, unless under ctest), then run ``names`` in order."""
        import slicer

        from .dependencies import ensure_dependencies

        ensure_dependencies(ask=not slicer.app.testingEnabled(), purpose=self.purpose)
        for name in names:
            self._run(name)


#: What a user can do to a running detection from the panel: the checks try each one.
INTERRUPTIONS = ("remove the sequence", "remove the proxy volume", "close the scene")


def interrupting_progress(scene, action: str, when: str, sequence, proxy):
    """A ``progressCallback`` that does ``action`` (one of :data:`INTERRUPTIONS`) at the first report
    whose message contains ``when``, as a user would between two progress updates of the panel."""
    if action not in INTERRUPTIONS:
        raise ValueError(f"action must be one of {INTERRUPTIONS}, got {action!r}")

    def progress(fraction, message):
        if when not in message:
            return
        if action == "close the scene":
            scene.Clear(0)
        else:
            node = sequence if action == "remove the sequence" else proxy
            if scene.IsNodePresent(node):
                scene.RemoveNode(node)

    return progress
