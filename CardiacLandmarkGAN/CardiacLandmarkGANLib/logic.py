"""Logic of the Cardiac Landmark GAN module: MRML in, MRML out. No Qt, so it also runs on slicer-core.

Scripting (Slicer Python console)::

    from CardiacLandmarkGANLib.logic import CardiacLandmarkGANLogic
    result = CardiacLandmarkGANLogic().detect(getNode("MyCine"), view="sax")
    result.markupsNode, result.heatmapNode, result.tableNode, result.measurements

The detection itself (streaming over frames, naming BCA/ACA, measurements) is
:mod:`heatmap_landmarks.cardiac`, shared with the command line; this class
only reads the input from the scene and puts the results in it.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import slicer

from heatmap_landmarks import mrml
from heatmap_landmarks.cardiac import (
    VIEW_CHOICES,
    CardiacDetections,
    choose_view,
    detect_cardiac,
    load_predictors,
)
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.inference import PredictorCache
from heatmap_landmarks.geometry import transformed
from heatmap_landmarks.slicer_module.logic import CancelWhenGone, Progress, SceneTransaction, logic_base_class
from heatmap_landmarks.mrml.scene import add_new_node
from heatmap_landmarks.mrml.volumes import fill_volume_node, parent_to_world

log = logging.getLogger(__name__)

#: Point colours: short axis cyan, long axis green.
VIEW_COLORS = {"sax": (0.1, 0.85, 1.0), "lax": (0.3, 1.0, 0.3)}


@dataclass
class CardiacLandmarkGANResult:
    """What one :meth:`CardiacLandmarkGANLogic.detect` call added to the scene.

    For a cine the heatmap and point list are the proxy nodes of sequences
    synchronised in the input's browser (they follow its frame).
    """

    view: str
    inputNode: object
    heatmapNode: object
    markupsNode: object
    tableNode: object
    measurementsTableNode: object
    heatmapSequenceNode: object = None
    markupsSequenceNode: object = None
    browserNode: object = None
    measurements: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    viewScores: dict = field(default_factory=dict)
    seconds: float = 0.0
    detections: Optional[CardiacDetections] = None

    def nodes(self) -> list:
        """Every node made by the run (for cleanup or saving)."""
        candidates = (self.heatmapNode, self.markupsNode, self.tableNode, self.measurementsTableNode,
                      self.heatmapSequenceNode, self.markupsSequenceNode)
        return [n for n in candidates if n is not None]

    def summary(self) -> str:
        """A few lines for the module's results label."""
        det = self.detections
        found = int(det.found().sum()) if det is not None else 0
        lines = [f"{self.view.upper()}: {found} landmark(s) on {det.n_times if det else 0} frame(s) "
                 f"x {det.n_slices if det else 0} slice(s) in {self.seconds:.1f} s"]
        for m in self.measurements:
            if m["time"] == -1 or (det is not None and det.n_times == 1):
                lines.append(f"{m['measurement']}: {m['value']:.1f} {m['unit']}")
        lines.extend(self.notes)
        return "\n".join(lines)


@dataclass
class _Input:
    """The input as found in the scene: a plain volume or a sequence of volumes."""

    name: str
    displayNode: object  # the volume node the views show (the volume itself, or the browser's proxy)
    sequenceNode: object = None
    browserNode: object = None
    toWorld: np.ndarray = field(default_factory=lambda: np.eye(4))

    @property
    def nTimes(self) -> int:
        return 1 if self.sequenceNode is None else self.sequenceNode.GetNumberOfDataNodes()


def _checkVolumeClass(node, what: str) -> None:
    if node is None or not node.IsA("vtkMRMLVolumeNode"):
        raise InputError(None, f"{what} is {None if node is None else node.GetClassName()}, not an image volume")
    if node.IsA("vtkMRMLLabelMapVolumeNode"):
        raise InputError(None, f"'{node.GetName()}' is a label map (a segmentation), not an image")
    if node.IsA("vtkMRMLDiffusionTensorVolumeNode") or node.IsA("vtkMRMLDiffusionWeightedVolumeNode"):
        raise InputError(None, f"'{node.GetName()}' is a {node.GetClassName()}; expected a greyscale image")


class CardiacLandmarkGANLogic(logic_base_class()):
    """Detect cardiac landmarks on a scalar volume or a cine and show them in Slicer.

    See :meth:`detect`. One instance keeps its loaded models between runs.
    """

    def __init__(self, parent=None):
        super().__init__()
        self._predictors = PredictorCache()
        self._progress: Optional[Progress] = None

    # -- small controls ---------------------------------------------------------
    def cancel(self) -> None:
        """Ask a running :meth:`detect` to stop; it does so before the next batch and adds nothing."""
        if self._progress is not None:
            self._progress.cancel()

    def setOverlayOpacity(self, opacity: float) -> int:
        """Opacity of the heatmap layer in the slice views that show one of our heatmaps; returns how many."""
        return mrml.set_overlay_opacity(float(opacity))

    def clearModelCache(self) -> None:
        """Forget loaded models (e.g. after replacing a weights file)."""
        self._predictors.clear()

    # -- input ---------------------------------------------------------------------
    def _resolveInput(self, node) -> _Input:
        """Find out what the user gave: a volume, a sequence, a browser, or a browser's proxy volume."""
        if node is None:
            raise InputError(None, "no input selected: choose a volume, a sequence or a sequence browser")
        scene = node.GetScene()
        if scene is None:
            raise InputError(None, f"'{node.GetName()}' is not in a scene")
        browsers = [scene.GetNthNodeByClass(i, "vtkMRMLSequenceBrowserNode")
                    for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode"))]
        sequence = browser = None
        if node.IsA("vtkMRMLSequenceBrowserNode"):
            browser, sequence = node, node.GetMasterSequenceNode()
            if sequence is None:
                raise InputError(None, f"sequence browser '{node.GetName()}' has no sequence")
        elif node.IsA("vtkMRMLSequenceNode"):
            sequence = node
            browser = next((b for b in browsers if b.GetMasterSequenceNode() is sequence), None)
        else:
            _checkVolumeClass(node, "the input")
            for b in browsers:
                seq = b.GetSequenceNode(node)  # non-None when `node` is one of b's proxies
                if seq is not None and b.GetMasterSequenceNode() is seq:
                    browser, sequence = b, seq
                    break
        if sequence is None:
            if node.GetImageData() is None:
                raise InputError(None, f"volume '{node.GetName()}' has no voxels")
            return _Input(name=node.GetName(), displayNode=node, toWorld=parent_to_world(node))
        if sequence.GetNumberOfDataNodes() == 0:
            raise InputError(None, f"sequence '{sequence.GetName()}' is empty")
        _checkVolumeClass(sequence.GetNthDataNode(0), f"item 0 of sequence '{sequence.GetName()}'")
        proxy = browser.GetProxyNode(sequence) if browser is not None else None
        return _Input(name=sequence.GetName(), displayNode=proxy, sequenceNode=sequence, browserNode=browser,
                      toWorld=parent_to_world(proxy) if proxy is not None else np.eye(4))

    def describeInput(self, node) -> str:
        """One line about what :meth:`detect` would process for ``node`` (for the module panel)."""
        try:
            source = self._resolveInput(node)
        except InputError as err:
            return str(err)
        first = node if source.sequenceNode is None else source.sequenceNode.GetNthDataNode(0)
        problem = mrml.voxels_missing(first) if first is not None and first.IsA("vtkMRMLVolumeNode") else None
        if problem:
            return problem
        if source.sequenceNode is None:
            dims = node.GetImageData().GetDimensions()
            what = "one slice" if dims[2] == 1 else f"a stack of {dims[2]} slices"
            return f"Volume: {what} of {dims[0]} x {dims[1]} pixels"
        first = source.sequenceNode.GetNthDataNode(0)
        dims = first.GetImageData().GetDimensions() if first.GetImageData() is not None else (0, 0, 0)
        slices = "" if dims[2] == 1 else f" x {dims[2]} slices"
        browser = f" (browser '{source.browserNode.GetName()}')" if source.browserNode is not None else ""
        return (f"Cine '{source.sequenceNode.GetName()}': {source.nTimes} frames{slices} of {dims[0]} x {dims[1]} "
                f"pixels{browser}")

    # -- main entry point ---------------------------------------------------------------
    def detect(self, inputNode, view: str = "auto", weights=None, device: str = "cpu", batchSize: int = 8,
               progressCallback: Optional[Callable[[float, str], None]] = None, outputPrefix: Optional[str] = None,
               heatmapThreshold: float = 0.1, opacity: float = 0.6,
               rotations: Optional[int] = None) -> CardiacLandmarkGANResult:
        """Detect cardiac landmarks and add heatmap, points and tables to the scene.

        Args:
            inputNode: a scalar volume (one 2D slice or a stack of SAX slices),
                or a cine: a ``vtkMRMLSequenceNode`` of 2D/3D volumes, its
                ``vtkMRMLSequenceBrowserNode``, or the proxy volume the browser
                shows. Grey images stored as RGB are converted.
            view: "sax", "lax" or "auto" (both models run on the middle frame,
                the more confident one wins; see ``result.viewScores``).
            weights: model card / .safetensors path or catalogue key; None or
                "" = the shipped demo model(s).
            device: "cpu", "cuda" or "auto".
            batchSize: frames per forward pass.
            progressCallback: ``f(fraction, message)``; call :meth:`cancel` to stop.
            outputPrefix: start of the new nodes' names (default: input name).
            heatmapThreshold: heatmap values below it are transparent.
            opacity: heatmap overlay opacity.
            rotations: test-time quarter turns averaged per frame (1, 2 or 4);
                None = the model card's setting (4 for the shipped models).

        Returns:
            :class:`CardiacLandmarkGANResult` holding the new nodes.

        Raises:
            InputError: bad input or weights (nothing is added to the scene).
            heatmap_landmarks.inference.Cancelled: :meth:`cancel` was called, the
                scene was closed or the input removed during the run (nothing is
                added to the scene).
        """
        if view not in VIEW_CHOICES:
            raise InputError(None, f"view must be one of {', '.join(VIEW_CHOICES)}, got {view!r}")
        for value, what in ((heatmapThreshold, "heatmap threshold"), (opacity, "opacity")):
            if not (0.0 <= float(value) <= 1.0):
                raise InputError(None, f"{what} must be in [0, 1], got {value}")
        progress = self._progress = Progress(progressCallback)
        started = time.perf_counter()
        try:
            source = self._resolveInput(inputNode)
            scene = inputNode.GetScene()
            prefix = (outputPrefix or source.name).strip() or "Cardiac"
            localGeometry: dict = {}

            def volumeAt(t: int):
                node = source.displayNode if source.sequenceNode is None else source.sequenceNode.GetNthDataNode(t)
                if source.sequenceNode is not None:
                    _checkVolumeClass(node, f"item {t} of sequence '{source.name}'")
                array, local = mrml.array_from_volume_node(node, world=False)
                localGeometry[t] = local
                return array, transformed(local, source.toWorld)

            watched = (inputNode, source.displayNode, source.sequenceNode, source.browserNode)
            with CancelWhenGone(progress, scene, watched):
                progress.report(0.0, "loading model")
                try:
                    predictors = load_predictors(view, weights, device=device, batch_size=int(batchSize),
                                                 cache=self._predictors, rotations=rotations)
                except ModuleNotFoundError as err:
                    raise InputError(None, f"Python package '{err.name}' is missing: open the Cardiac Landmark GAN "
                                           f"module, which offers to install it (PyTorch through the PyTorch "
                                           f"extension), or call heatmap_landmarks.slicer_module.dependencies."
                                           f"ensure_dependencies()") from None
                progress.check()
                chosen, scores = choose_view(predictors, volumeAt, source.nTimes, source=source.name)
                predictor = predictors[chosen]
                if scores:
                    log.info("view auto: mean confidence %s -> %s", scores, chosen)

                with SceneTransaction(scene):
                    result = self._run(source, scene, prefix, predictor, chosen, volumeAt, localGeometry, progress,
                                       heatmapThreshold, opacity)
        finally:
            self._progress = None
        result.viewScores = scores
        if scores:
            result.notes.insert(0, "view chosen automatically: " + ", ".join(
                f"{v} mean confidence {s:.2f}" for v, s in sorted(scores.items())))
        result.seconds = time.perf_counter() - started
        progress.report(1.0, "done")
        log.info("Cardiac landmarks on '%s': %s", source.name, result.summary().replace("\n", "; "))
        return result

    # -- pieces of detect -------------------------------------------------------------------
    def _run(self, source: _Input, scene, prefix, predictor, view, volumeAt, localGeometry, progress,
             heatmapThreshold, opacity) -> CardiacLandmarkGANResult:
        isCine = source.sequenceNode is not None
        heatmaps: dict = {}
        state = {"sequence": None}

        def onHeatmap(t, heatmap, _geometry):
            if not isCine:
                heatmaps[t] = heatmap
                return
            if state["sequence"] is None:
                state["sequence"] = add_new_node(scene, "vtkMRMLSequenceNode", f"{prefix} heatmap")
                state["sequence"].CopySequenceIndex(source.sequenceNode)
            sequence = state["sequence"]
            item = mrml.mark_heatmap(slicer.vtkMRMLScalarVolumeNode())  # the proxy takes the items' attributes
            item.SetName(sequence.GetName())
            fill_volume_node(item, heatmap, localGeometry[t])
            sequence.SetDataNodeAtValue(item, source.sequenceNode.GetNthIndexValue(t))
            localGeometry.pop(t, None)

        detections = detect_cardiac(
            volumeAt, source.nTimes, predictor, view=view, on_heatmap=onHeatmap,
            progress=lambda f, msg: progress.report(0.05 + 0.85 * f, msg),
            should_cancel=progress.should_cancel, source=source.name)
        progress.check()  # the scene may have closed, or the input gone, during the last progress report
        progress.report(0.92, "adding results to the scene")
        progress.check()

        transformID = source.displayNode.GetTransformNodeID() if source.displayNode is not None else None
        labelsPerFrame, pointsPerFrame, descriptionsPerFrame = [], [], []
        for t in range(detections.n_times):
            frame = detections.frame(t)
            labelsPerFrame.append(frame.labels)
            pointsPerFrame.append(frame.ras)
            descriptionsPerFrame.append(self._descriptions(frame, detections.n_slices))
        color = VIEW_COLORS.get(view)

        result = CardiacLandmarkGANResult(view=view, inputNode=source.displayNode, heatmapNode=None, markupsNode=None,
                                          tableNode=None, measurementsTableNode=None, detections=detections)
        if isCine:
            browser = source.browserNode
            if browser is None:
                browser, source.displayNode = mrml.browse_sequence(source.sequenceNode)
                result.inputNode = source.displayNode
            heatmapSequence = state["sequence"]
            _, heatmapNode = mrml.browse_sequence(heatmapSequence, browser=browser)
            markupsSequence, markupsNode = mrml.add_markups_sequence(
                browser, pointsPerFrame, labelsPerFrame, name=f"{prefix} landmarks",
                descriptions_per_item=descriptionsPerFrame, locked=False)
            mrml.set_fiducial_color(markupsNode, color)
            result.heatmapSequenceNode, result.markupsSequenceNode = heatmapSequence, markupsSequence
            result.browserNode = browser
        else:
            heatmapNode = mrml.mark_heatmap(mrml.volume_node_from_array(heatmaps.pop(0), localGeometry[0],
                                                                        f"{prefix} heatmap", scene=scene))
            markupsNode = mrml.create_fiducials(pointsPerFrame[0], labelsPerFrame[0], name=f"{prefix} landmarks",
                                                descriptions=descriptionsPerFrame[0], scene=scene, locked=False,
                                                color=color)
        if transformID:
            heatmapNode.SetAndObserveTransformNodeID(transformID)
        mrml.show_heatmap_overlay(heatmapNode, source.displayNode, threshold=heatmapThreshold, opacity=opacity)
        result.heatmapNode, result.markupsNode = heatmapNode, markupsNode

        result.tableNode = mrml.table_from_rows(self._landmarkColumns(detections), f"{prefix} landmarks table",
                                                scene=scene)
        result.measurements = detections.measurements()
        result.measurementsTableNode = mrml.table_from_rows(self._measurementColumns(result.measurements),
                                                            f"{prefix} measurements", scene=scene)
        result.notes = list(detections.notes)
        return result

    @staticmethod
    def _descriptions(frame, nSlices: int) -> list:
        out = []
        for z, c, xyz in zip(frame.slices, frame.confidence, frame.ras):
            text = mrml.format_confidence(c) if np.isfinite(xyz).all() else "not found"
            out.append(f"slice {int(z)}; {text}" if nSlices > 1 else text)
        return out

    @staticmethod
    def _landmarkColumns(detections: CardiacDetections) -> dict:
        rows = detections.rows()
        return {
            "label": [r["label"] for r in rows],
            "time": np.array([r["time"] for r in rows], dtype=np.int64),
            "slice": np.array([r["slice"] for r in rows], dtype=np.int64),
            "R": np.array([r["r"] for r in rows], dtype=np.float64),
            "A": np.array([r["a"] for r in rows], dtype=np.float64),
            "S": np.array([r["s"] for r in rows], dtype=np.float64),
            "x": np.array([r["x"] for r in rows], dtype=np.float64),
            "y": np.array([r["y"] for r in rows], dtype=np.float64),
            "confidence": np.array([r["confidence"] for r in rows], dtype=np.float64),
        }

    @staticmethod
    def _measurementColumns(measurements: list) -> dict:
        return {
            "measurement": [m["measurement"] for m in measurements],
            "time": np.array([m["time"] for m in measurements], dtype=np.int64),
            "slice": np.array([m["slice"] for m in measurements], dtype=np.int64),
            "value": np.array([m["value"] for m in measurements], dtype=np.float64),
            "unit": [m["unit"] for m in measurements],
        }
