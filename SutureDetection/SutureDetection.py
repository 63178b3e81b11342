"""Suture Detection: suture entry points on endoscopic mitral-valve-repair frames and videos.

Module, parameter node, Widget and self-test. All processing is in
``SutureDetectionLib.logic.SutureDetectionLogic`` (no Qt), which the Widget
calls once per button; the shared pieces (inference, MRML bridge, file
formats) live in the ``heatmap_landmarks`` package.
"""
import logging
import os
import sys
from typing import Annotated, Optional, Union

import qt
import slicer
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLVectorVolumeNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


def _addRepositoryRootToPath() -> None:
    """Developer checkout: put the repository root on ``sys.path`` so that ``import heatmap_landmarks`` works.

    Slicer puts this module's own folder on ``sys.path`` (so ``SutureDetectionLib``
    imports), not its parent; adding the repository root to *Additional module
    paths* does not help, since it holds no module file. A built extension
    installs ``heatmap_landmarks`` beside the module file, so there is nothing
    to do there.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isfile(os.path.join(root, "heatmap_landmarks", "__init__.py")) and root not in sys.path:
        sys.path.insert(0, root)


_addRepositoryRootToPath()

from heatmap_landmarks.mrml.overlays import first_input_volume  # noqa: E402
from heatmap_landmarks.slicer_module.selftest import SelfTestCase  # noqa: E402
from heatmap_landmarks.slicer_module.widget import HeatmapModuleWidgetMixin, path_or_none  # noqa: E402
from SutureDetectionLib.logic import SutureDetectionLogic  # noqa: E402
from SutureDetectionLib.panel import enabledFields  # noqa: E402


#
# SutureDetection
#
class SutureDetection(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Suture Detection")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Endoscopy")]
        self.parent.dependencies = ["Sequences", "Markups"]
        self.parent.contributors = ["Heatmap Landmarks maintainers (SlicerHeatmapLandmarks project)"]
        self.parent.helpText = _("""
Detects suture entry points on endoscopic colour frames of mitral valve repair, or on every frame of a video
loaded as a sequence, with a ResNeXt U-Net heatmap network (any number of sutures, zero included).
Results: the heatmap as an inferno overlay, editable points S-1...S-n that follow the video, a table of
points per frame, optional comparison with AdaptOR ground truth (true positives green, false positives red,
false negatives yellow, with precision, sensitivity and F1), and export to AdaptOR JSON and CSV.
<p><b>The shipped demo weights were trained on synthetic (phantom) frames only.</b> They show how the module
works; they are not validated on patient images and must not be used for clinical decisions.</p>
<p>The same detection runs from the command line: <code>heatmap-landmarks sutures INPUT --out DIR</code>.</p>
""")
        self.parent.acknowledgementText = _("""
Decoding follows the heatmap-based suture detection of Yao et al. for the AdaptOR 2021 challenge
(Otsu threshold, opening, cutting of large blobs, centroids).
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data: generated on this computer when clicked (nothing is downloaded)
#
def loadSyntheticSutureVideo(source=None):
    """SampleData custom loader: build the synthetic video, show it, prefill the ground-truth path.

    Returns the video's proxy volume, or None when it could not be made (the
    error has been shown then: tryWithErrorDisplay shows it and re-raises,
    and SampleData's button should not get a traceback on top).
    """
    from heatmap_landmarks.slicer_module.dependencies import ensure_dependencies

    try:
        with slicer.util.tryWithErrorDisplay(_("Could not make the synthetic suture video."), waitCursor=True):
            if not ensure_dependencies(purpose=_("the synthetic suture video")):
                return None
            from SutureDetectionLib.sampledata import makeSyntheticSutureVideo

            sequence, browser, proxy, truth = makeSyntheticSutureVideo()
            slicer.util.setSliceViewerLayers(background=proxy, foreground=None, fit=True)
            slicer.modules.sequences.showSequenceBrowser(browser)
            logging.info("Synthetic suture video '%s' with ground truth %s", sequence.GetName(), truth)
            return proxy
    except Exception:
        logging.exception("Could not make the synthetic suture video")
        return None


def registerSampleData():
    import SampleData

    from SutureDetectionLib.sampledata import CATEGORY, SAMPLE_NAME

    logic = SampleData.SampleDataLogic
    if hasattr(logic, "registerCustomSampleDataCategory"):  # Slicer versions that have it: a translatable title
        logic.registerCustomSampleDataCategory(CATEGORY, title=_("Suture Detection"))
    icons = os.path.join(os.path.dirname(__file__), "Resources", "Icons")
    logic.registerCustomSampleDataSource(
        category=CATEGORY,
        sampleName=SAMPLE_NAME,
        thumbnailFileName=os.path.join(icons, f"{SAMPLE_NAME}.png"),
        # SampleData needs a URI and file name, but the custom loader makes the video in the scene instead
        # (no file: nothing is cached).
        uris=f"generated://SutureDetection/{SAMPLE_NAME}",
        fileNames=f"{SAMPLE_NAME}.seq.nrrd",
        nodeNames=SAMPLE_NAME,
        loadFileTypes="SequenceFile",
        customDownloader=loadSyntheticSutureVideo,
    )


#
# Parameter node
#
@parameterNodeWrapper
class SutureDetectionParameterNode:
    """Everything the panel shows, saved with the scene.

    inputVolume - colour frame, or the proxy volume of a video sequence.
    wholeSequence - process every frame of the proxy's sequence.
    useShippedWeights / weightsPath - demo weights, or the user's model card.
    device - "cpu" or "cuda".
    automaticThreshold / threshold - Otsu per frame, or a fixed heatmap threshold.
    openingKernel - morphological opening in pixels (0 = off).
    cutLargeBlobs - split large blobs into several points.
    batchSize - frames per forward pass.
    overlayOpacity - heatmap overlay opacity.
    groundTruthPath / matchRadius - comparison with AdaptOR ground truth.
    The two paths are str, not pathlib.Path: the Path connector would show an unset path as "."; the
    Widget keeps their fields in step.
    folderName / subfolderName - AdaptOR ids written in the submission JSON.
    """

    # None is part of the Union: the wrapper's default for a Union of nodes is None, and writing it needs
    # a serializer for None (Slicer's gui_connection.md). Both classes stay: they set the selector's types.
    inputVolume: Union[vtkMRMLVectorVolumeNode, vtkMRMLScalarVolumeNode, None]
    wholeSequence: bool = True
    useShippedWeights: bool = True
    weightsPath: str = ""
    device: Annotated[str, Choice(["cpu", "cuda"])] = "cpu"
    automaticThreshold: bool = True
    threshold: Annotated[float, WithinRange(0.0, 0.99)] = 0.5
    openingKernel: Annotated[int, WithinRange(0, 15)] = 3
    cutLargeBlobs: bool = True
    batchSize: Annotated[int, WithinRange(1, 64)] = 4
    overlayOpacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.6
    groundTruthPath: str = ""
    matchRadius: Annotated[float, WithinRange(0.5, 50.0)] = 6.0
    folderName: str = "op01"
    subfolderName: str = "video01"


#
# Widget
#
class SutureDetectionWidget(HeatmapModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Parameter-node lifecycle and the Apply/Cancel run loop: :class:`HeatmapModuleWidgetMixin`."""

    parameterNodeClass = SutureDetectionParameterNode
    pathFields = {"weightsPathLineEdit": "weightsPath", "groundTruthPathLineEdit": "groundTruthPath"}

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.setupPanel("SutureDetection.ui", SutureDetectionLogic())
        self.ui.compareButton.connect("clicked(bool)", self.onCompareButton)
        self.ui.exportJsonButton.connect("clicked(bool)", self.onExportJsonButton)
        self.ui.exportCsvButton.connect("clicked(bool)", self.onExportCsvButton)
        self.ui.overlayOpacitySliderWidget.connect("valueChanged(double)", self.onOpacityChanged)
        self.initializeParameterNode()

    def onSceneStartClose(self, caller, event) -> None:
        HeatmapModuleWidgetMixin.onSceneStartClose(self, caller, event)
        if self.logic:
            self.logic.lastResult = None

    def defaultInputNode(self):
        return first_input_volume("vtkMRMLVectorVolumeNode", slicer.mrmlScene)

    def _updateButtons(self, caller=None, event=None) -> None:
        self.updateApplyButton(
            text=_("Detect sutures"),
            toolTip=_("Detect suture entry points"),
            noInputToolTip=_("Select an endoscopic frame or video first"),
            cancelToolTip=_("Stop after the current batch of frames; nothing is added to the scene."),
            lockWhileRunning=(self.ui.inputsCollapsibleButton, self.ui.modelCollapsibleButton))
        hasResult = self.logic is not None and self.logic.lastResult is not None
        for button in (self.ui.compareButton, self.ui.exportJsonButton, self.ui.exportCsvButton):
            button.enabled = hasResult and not self._running
        p = self._parameterNode
        if p:  # from the parameter node, not the check boxes' toggled signals (see SutureDetectionLib.panel)
            for name, enabled in enabledFields(p.useShippedWeights, p.automaticThreshold).items():
                getattr(self.ui, name).enabled = enabled

    def showProgressMessage(self, message: str) -> None:
        self.ui.statusLabel.text = message

    def showResultMessage(self, message: str) -> None:
        self.ui.statusLabel.text = message

    # -- actions -------------------------------------------------------------
    def onApplyButton(self) -> None:
        p = self._parameterNode

        def detect():
            self.logic.overlayOpacity = p.overlayOpacity
            return self.logic.detect(
                p.inputVolume,
                weights=None if p.useShippedWeights else (path_or_none(p.weightsPath) or ""),
                device=p.device,
                threshold=None if p.automaticThreshold else p.threshold,
                openingKernel=p.openingKernel,
                cut=p.cutLargeBlobs,
                batchSize=p.batchSize,
                wholeSequence=p.wholeSequence,
                progressCallback=self.onProgress,
            )

        def show(result) -> None:
            counts = self.logic.pointCounts(result)
            self.ui.statusLabel.text = _("{points} suture point(s) on {frames} frame(s): {heatmap}, {markups}").format(
                points=sum(counts), frames=len(counts), heatmap=result.heatmapNode.GetName(),
                markups=result.pointsNode.GetName())
            self.ui.scoresLabel.text = ""
            groundTruth = self._groundTruthHint(p.inputVolume)  # set on the synthetic sample video
            if groundTruth and not path_or_none(p.groundTruthPath):
                p.groundTruthPath = groundTruth
            self.showTable(result.countTableNode)

        self.runCancellable(detect, show, errorMessage=_("Suture detection failed."),
                            purpose=_("suture detection"), waitCursor=True)

    @staticmethod
    def _groundTruthHint(volume) -> Optional[str]:
        from SutureDetectionLib.sampledata import GROUND_TRUTH_ATTRIBUTE

        hint = volume.GetAttribute(GROUND_TRUTH_ATTRIBUTE)
        if not hint:
            browser = slicer.modules.sequences.logic().GetFirstBrowserNodeForProxyNode(volume)
            sequence = browser.GetSequenceNode(volume) if browser else None
            hint = sequence.GetAttribute(GROUND_TRUTH_ATTRIBUTE) if sequence else None
        return hint if hint and os.path.exists(hint) else None

    def onCompareButton(self) -> None:
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay(_("Comparison with the ground truth failed."), waitCursor=True):
            comparison = self.logic.compareToGroundTruth(gtPath=path_or_none(p.groundTruthPath), radius=p.matchRadius)
            self.ui.scoresLabel.text = comparison.summary()

    def _askSavePath(self, title: str, suffix: str, nameFilter: str) -> Optional[str]:
        result = self.logic.lastResult
        default = os.path.join(slicer.app.defaultScenePath, f"{result.inputName}_sutures{suffix}")
        path = qt.QFileDialog.getSaveFileName(self.parent, title, default, nameFilter)
        return path or None

    def onExportJsonButton(self) -> None:
        p = self._parameterNode
        path = self._askSavePath(_("Export AdaptOR submission JSON"), ".json", "JSON (*.json)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            # The file dialog already asked before replacing an existing file.
            self.logic.exportSubmissionJson(path, p.folderName, p.subfolderName, overwrite=os.path.exists(path))
            self.ui.statusLabel.text = _("Points written to {path}").format(path=path)

    def onExportCsvButton(self) -> None:
        path = self._askSavePath(_("Export suture points CSV"), ".csv", "CSV (*.csv)")
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            self.logic.exportCsv(path, overwrite=os.path.exists(path))
            self.ui.statusLabel.text = _("Points written to {path}").format(path=path)

    def onOpacityChanged(self, value: float) -> None:
        if self.logic is not None and self.logic.lastResult is not None:
            self.logic.setOverlayOpacity(value)


#
# Self-test (the same checks run under pytest on slicer-core)
#
class SutureDetectionTest(SelfTestCase, ScriptedLoadableModuleTest):
    checksModule = "SutureDetectionLib.selftest"
    purpose = _("the suture detection self-test")

    def runTest(self):
        from SutureDetectionLib import selftest

        self.runChecks([check.__name__ for check in selftest.ALL_CHECKS])
        self.delayDisplay(_("Test passed"))

    def test_SutureDetection_singleFrame(self):
        self._run("check_single_frame")

    def test_SutureDetection_videoSequence(self):
        self._run("check_video_sequence")

    def test_SutureDetection_rerunMakesNewNodes(self):
        self._run("check_rerun_makes_new_nodes")

    def test_SutureDetection_rerunKeepsEdits(self):
        self._run("check_rerun_keeps_edits")

    def test_SutureDetection_badInputs(self):
        self._run("check_bad_inputs")

    def test_SutureDetection_cancel(self):
        self._run("check_cancel_rolls_back")

    def test_SutureDetection_interruptions(self):
        self._run("check_interruptions_roll_back")

    def test_SutureDetection_phantomFrame(self):
        self._run("check_shipped_weights_phantom_frame")

    def test_SutureDetection_sampleVideo(self):
        self._run("check_shipped_weights_sample_video")
