"""Cardiac Landmark GAN: RV insertion points, LV axis points and mitral valve hinges on cardiac MR.

Module, parameter node, Widget and self-test. All processing is in
``CardiacLandmarkGANLib.logic.CardiacLandmarkGANLogic`` (no Qt), which the
Widget calls once per button; the detection pipeline itself is
``heatmap_landmarks.cardiac``, shared with the ``heatmap-landmarks cardiac``
command line.
"""
import logging
import os
import pathlib
import sys
from typing import Annotated

import slicer
from slicer import vtkMRMLScalarVolumeNode
from slicer.i18n import tr as _
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin


def _addRepositoryRootToPath() -> None:
    """Developer checkout: put the repository root on ``sys.path`` so that ``import heatmap_landmarks`` works.

    Slicer puts this module's own folder on ``sys.path`` (so ``CardiacLandmarkGANLib``
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

# Re-exported so that scripts can use ``CardiacLandmarkGAN.CardiacLandmarkGANLogic()``.
from CardiacLandmarkGANLib.logic import CardiacLandmarkGANLogic, CardiacLandmarkGANResult  # noqa: E402, F401

SCRIPTING_EXAMPLE = """import CardiacLandmarkGAN
logic = CardiacLandmarkGAN.CardiacLandmarkGANLogic()
result = logic.detect(getNode("MyCine"), view="sax")   # a volume, a sequence, its browser or its proxy
print(result.summary())
result.markupsNode, result.heatmapNode, result.tableNode, result.measurements"""


#
# CardiacLandmarkGAN
#
class CardiacLandmarkGAN(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Cardiac Landmark GAN")
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = ["Sequences", "Markups"]
        self.parent.contributors = ["Heatmap Landmarks maintainers (SlicerHeatmapLandmarks project)"]
        self.parent.helpText = _("""
Detects cardiac MR landmarks with a U-Net heatmap generator trained as a GAN:
<ul>
<li><b>Short axis</b>: RV insertion points RVI-1 (anterior) and RVI-2 (inferior), and the LV centre, named
<b>BCA</b> on the most basal and <b>ACA</b> on the most apical slice of a stack (the basal end is the one where the
RV insertions are found); on a single slice the centre is called LVC.</li>
<li><b>Long axis</b> (4- or 2-chamber): mitral valve hinge points MV-1 and MV-2.</li>
</ul>
Input: a volume (one slice or a stack), or a cine (the proxy volume of a sequence browser: the whole sequence is
processed and the results follow the browser's frame). Results: the heatmap as an inferno overlay, editable points
whose descriptions hold their confidence, a table of points and a table of measurements (mitral annulus diameter
and its excursion over the cycle, LV long-axis length, RV insertion angle). Every run makes new nodes; nothing is
overwritten.
<p><b>The shipped short-axis weights were trained on the ACDC patients (research use only; Bernard et al., IEEE TMI
2018) plus synthetic images; the long-axis weights on synthetic phantoms only.</b> They are not validated for clinical
use and must not be used for clinical decisions.</p>
<p>Python console:</p><pre>{example}</pre>
<p>Command line: <code>heatmap-landmarks cardiac INPUT --view sax --out DIR</code>, or
<code>heatmap-landmarks demo</code>.</p>
""").format(example=SCRIPTING_EXAMPLE.replace("<", "&lt;"))
        self.parent.acknowledgementText = _("""
After "Cardiac Landmark Detection using Generative Adversarial Networks from Cardiac MR Images" (Kanakatte et al.):
U-Net generator, PatchGAN discriminator, Huber and foreground pixel losses.
""")
        slicer.app.connect("startupCompleted()", registerSampleData)


#
# Sample data: phantom cines generated on this computer (nothing is downloaded)
#
def loadCardiacPhantom(source):
    """SampleData custom loader: install missing packages if the user agrees, then generate and load.

    Returns the cine's proxy volume, or None when it could not be made (the
    error has been shown then: tryWithErrorDisplay shows it and re-raises,
    and SampleData's button should not get a traceback on top).
    """
    from heatmap_landmarks.slicer_module.dependencies import ensure_dependencies

    try:
        with slicer.util.tryWithErrorDisplay(_("Could not make the cardiac phantom cine."), waitCursor=True):
            if not ensure_dependencies(purpose=_("the cardiac phantom cine")):
                return None
            from CardiacLandmarkGANLib.sampledata import loadSample

            sequence = _sequenceOf(loadSample(source.sampleName))
            logic = slicer.modules.sequences.logic()
            browser = logic.GetFirstBrowserNodeForSequenceNode(sequence) if sequence else None
            if browser is None:
                return sequence
            proxy = browser.GetProxyNode(sequence)
            slicer.util.setSliceViewerLayers(background=proxy, foreground=None, fit=True)
            slicer.modules.sequences.showSequenceBrowser(browser)
            return proxy
    except Exception:
        logging.exception("Could not make the cardiac phantom cine %s", source.sampleName)
        return None


def _sequenceOf(nodes):
    """The sequence node among what SampleData loaded (it may hand back the proxy or the browser too)."""
    for node in nodes or []:
        if hasattr(node, "IsA") and node.IsA("vtkMRMLSequenceNode"):
            return node
        if hasattr(node, "IsA") and node.IsA("vtkMRMLSequenceBrowserNode"):
            return node.GetMasterSequenceNode()
        if hasattr(node, "IsA"):
            browser = slicer.modules.sequences.logic().GetFirstBrowserNodeForProxyNode(node)
            if browser is not None:
                return browser.GetSequenceNode(node)
    return None


def registerSampleData():
    import SampleData

    from CardiacLandmarkGANLib import sampledata

    logic = SampleData.SampleDataLogic
    if hasattr(logic, "registerCustomSampleDataCategory"):  # Slicer versions that have it: a translatable title
        logic.registerCustomSampleDataCategory(sampledata.CATEGORY, title=_("Cardiac Landmark GAN"))
    for name in sampledata.SAMPLES:
        if any(s.sampleName == name for s in logic.sampleDataSourcesByCategory(sampledata.CATEGORY)):
            continue
        icon = os.path.join(os.path.dirname(__file__), "Resources", "Icons", f"{name}.png")
        logic.registerCustomSampleDataSource(
            category=sampledata.CATEGORY,
            sampleName=name,
            thumbnailFileName=icon,
            # SampleData wants a URI and a file name; the custom loader generates the file locally instead.
            uris=pathlib.Path(sampledata.generatedPath(name)).as_uri(),
            fileNames=sampledata.sampleFileName(name),
            nodeNames=name,
            loadFileTypes="SequenceFile",
            customDownloader=loadCardiacPhantom,
        )


#
# Parameter node
#
@parameterNodeWrapper
class CardiacLandmarkGANParameterNode:
    """Everything the panel shows, saved with the scene.

    inputVolume - a volume, or the proxy volume of a cine's sequence browser.
    view - "auto", "sax" or "lax".
    weightsPath - a model card (.json) or .safetensors file; empty = the shipped demo weights (a str, not a
        pathlib.Path: the Path connector would show an unset path as "."; the Widget keeps the field in step).
    device - "cpu" or "cuda".
    opacity - heatmap overlay opacity.
    heatmapThreshold - heatmap values below it are transparent.
    batchSize - frames per forward pass.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    view: Annotated[str, Choice(["auto", "sax", "lax"])] = "auto"
    weightsPath: str = ""
    device: Annotated[str, Choice(["cpu", "cuda"])] = "cpu"
    opacity: Annotated[float, WithinRange(0.0, 1.0)] = 0.6
    heatmapThreshold: Annotated[float, WithinRange(0.0, 0.95)] = 0.1
    batchSize: Annotated[int, WithinRange(1, 64)] = 8


#
# Widget
#
class CardiacLandmarkGANWidget(HeatmapModuleWidgetMixin, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Parameter-node lifecycle, Apply/Cancel run loop and CUDA check: :class:`HeatmapModuleWidgetMixin`."""

    parameterNodeClass = CardiacLandmarkGANParameterNode
    deviceComboBoxName = "deviceComboBox"
    pathFields = {"weightsPathLineEdit": "weightsPath"}

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        self.setupPanel("CardiacLandmarkGAN.ui", CardiacLandmarkGANLogic())
        self.ui.weightsPathLineEdit.nameFilters = [_("Model cards (*.json)"), _("Weights (*.safetensors)")]
        self.ui.opacitySliderWidget.connect("valueChanged(double)", self.onOpacityChanged)
        self.ui.inputSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onInputChanged)
        self.initializeParameterNode()

    def defaultInputNode(self):
        return first_input_volume("vtkMRMLScalarVolumeNode", slicer.mrmlScene)  # no label map, no heatmap

    def _updateButtons(self, caller=None, event=None) -> None:
        self.updateApplyButton(
            text=_("Detect landmarks"),
            toolTip=_("Detect cardiac landmarks on the input"),
            noInputToolTip=_("Select an input volume or cine first"),
            cancelToolTip=_("Stop after the current batch; nothing is added to the scene."),
            lockWhileRunning=(self.ui.inputsCollapsibleButton, self.ui.advancedCollapsibleButton))

    def showProgressMessage(self, message: str) -> None:
        self.ui.progressBar.setFormat(f"{message}  %p%")

    def showResultMessage(self, message: str) -> None:
        self.ui.resultsLabel.text = message

    def onInputChanged(self, node) -> None:
        self.ui.inputInfoLabel.text = self.logic.describeInput(node) if node is not None else ""

    # -- actions -------------------------------------------------------------
    def onApplyButton(self) -> None:
        p = self._parameterNode

        def detect():
            return self.logic.detect(
                p.inputVolume, view=p.view, weights=path_or_none(p.weightsPath), device=p.device,
                batchSize=p.batchSize, progressCallback=self.onProgress,
                heatmapThreshold=p.heatmapThreshold, opacity=p.opacity)

        def show(result) -> None:
            self.ui.resultsLabel.text = result.summary()
            self.showTable(result.tableNode)

        self.runCancellable(detect, show, errorMessage=_("Cardiac landmark detection failed."),
                            purpose=_("cardiac landmark detection"), waitCursor=False)

    def onOpacityChanged(self, value: float) -> None:
        # Only views that show one of our heatmaps change (mrml.set_overlay_opacity), none while a run goes on.
        if self.logic is not None and not self._running:
            self.logic.setOverlayOpacity(value)


#
# Self-test: the same checks run under pytest on slicer-core (CardiacLandmarkGAN/Testing/Python)
#
class CardiacLandmarkGANTest(SelfTestCase, ScriptedLoadableModuleTest):
    checksModule = "CardiacLandmarkGANLib.selftest"
    purpose = _("the Cardiac Landmark GAN self-test")

    def runTest(self):
        self.runChecks(["check_single_slice", "check_stack_naming", "check_cine", "check_3d_cine",
                        "check_rerun_keeps_edits", "check_grey_rgb_and_large_image", "check_bad_inputs",
                        "check_cancel_rolls_back", "check_interruptions_roll_back", "check_auto_view",
                        "check_shipped_weights_accuracy"])
        self.test_CardiacLandmarkGAN_sampleData()
        self.delayDisplay(_("Test passed"))

    def test_CardiacLandmarkGAN_singleSlice(self):
        self._run("check_single_slice")

    def test_CardiacLandmarkGAN_stackNaming(self):
        self._run("check_stack_naming")

    def test_CardiacLandmarkGAN_cine(self):
        self._run("check_cine")

    def test_CardiacLandmarkGAN_3dCine(self):
        self._run("check_3d_cine")

    def test_CardiacLandmarkGAN_rerunKeepsEdits(self):
        self._run("check_rerun_keeps_edits")

    def test_CardiacLandmarkGAN_greyRgbAndLargeImage(self):
        self._run("check_grey_rgb_and_large_image")

    def test_CardiacLandmarkGAN_badInputs(self):
        self._run("check_bad_inputs")

    def test_CardiacLandmarkGAN_cancel(self):
        self._run("check_cancel_rolls_back")

    def test_CardiacLandmarkGAN_interruptions(self):
        self._run("check_interruptions_roll_back")

    def test_CardiacLandmarkGAN_autoView(self):
        self._run("check_auto_view")

    def test_CardiacLandmarkGAN_shippedWeightsAccuracy(self):
        self._run("check_shipped_weights_accuracy")

    def test_CardiacLandmarkGAN_sampleData(self):
        """The LAX phantom sample loads as a sequence with a browser and runs through the Logic."""
        from CardiacLandmarkGANLib.sampledata import loadSample

        self.setUp()
        sequence = _sequenceOf(loadSample("CardiacPhantomLAXCine"))
        self.assertIsNotNone(sequence)
        self.assertEqual(sequence.GetNumberOfDataNodes(), 20)
        result = CardiacLandmarkGANLogic().detect(sequence, view="lax")
        self.assertEqual(result.markupsSequenceNode.GetNumberOfDataNodes(), sequence.GetNumberOfDataNodes())
        logging.info(result.summary())
