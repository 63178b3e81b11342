"""CardiacLandmarkGAN Logic on slicer-core: the same checks the Slicer self-test runs.

Each test gets a fresh headless scene (``heatmap_landmarks.mrml.new_headless_scene``)
and runs a check from ``CardiacLandmarkGANLib.selftest`` with real inference
through hand-set input-copying checkpoints. ``test_shipped_weights_*`` run the
shipped demo weights and fail (not skip) when those are missing.
"""
from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the module folder (see conftest.py)

from CardiacLandmarkGANLib import selftest  # noqa: E402
from CardiacLandmarkGANLib.logic import CardiacLandmarkGANLogic  # noqa: E402
from heatmap_landmarks import mrml  # noqa: E402
from heatmap_landmarks.errors import InputError  # noqa: E402
from heatmap_landmarks.testing import blob_frame, blob_points, save_identity_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Input-copying checkpoints, made once for the file."""
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("models")
    for view in ("sax", "lax"):
        save_identity_checkpoint(folder, view)
    return folder


@pytest.fixture()
def scene():
    s = mrml.new_headless_scene()
    yield s
    mrml.close_headless_scene(s)


@pytest.mark.parametrize("check", selftest.BEHAVIOUR_CHECKS, ids=lambda f: f.__name__)
def test_logic_behaviour(check, scene, models):
    check(scene, models)


def test_shipped_weights_accuracy(scene):
    """Shipped demo weights within 3 mm on the phantoms (fails when the weights are missing)."""
    worst = selftest.check_shipped_weights_accuracy(scene)
    assert set(worst) >= {"BCA", "ACA", "RVI-1", "RVI-2", "MV-1", "MV-2"}


def test_shipped_weights_auto_view(scene):
    selftest.check_shipped_weights_auto_view(scene)


def test_cine_streams_heatmaps(scene, models):
    """A 30-frame x 12-slice cine is processed volume by volume: Python-side memory stays near one volume."""
    frame = blob_frame((64, 64), list(blob_points("sax").values()))
    volume = np.repeat(frame[None], 12, axis=0)
    _, _, proxy = mrml.sequence_from_frames([(volume, selftest.OBLIQUE)] * 30, "Long cine", scene=scene)
    one_volume = volume.nbytes
    # Warm up on a 2-frame cine first: lazy imports and first-use caches are not the streaming being measured.
    _, _, warm = mrml.sequence_from_frames([(volume, selftest.OBLIQUE)] * 2, "Warm-up cine", scene=scene)
    CardiacLandmarkGANLogic().detect(warm, view="sax", weights=str(models / "identity_sax.json"), batchSize=12)
    tracemalloc.start()
    try:
        result = CardiacLandmarkGANLogic().detect(proxy, view="sax", weights=str(models / "identity_sax.json"),
                                                  batchSize=12)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.heatmapSequenceNode.GetNumberOfDataNodes() == 30
    # input copy + preprocessed stack + heatmaps of ONE volume, plus slack; all 30 would be ~60 volumes.
    assert peak < 12 * one_volume, f"peak {peak / 1e6:.1f} MB for {one_volume / 1e6:.2f} MB volumes"


def test_progress_reaches_one_and_is_monotonic(scene, models):
    volume = mrml.volume_node_from_array(np.stack([blob_frame((64, 64), list(blob_points("sax").values()))] * 3),
                                         selftest.OBLIQUE, "Progress", scene=scene)
    seen = []
    CardiacLandmarkGANLogic().detect(volume, view="sax", weights=str(models / "identity_sax.json"), batchSize=1,
                                     progressCallback=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 5


def test_phantom_sample_sequence_file(tmp_path, scene):
    """The Sample Data phantom is written as a .seq.nrrd that loads back with its geometry and times."""
    from CardiacLandmarkGANLib import sampledata

    path = sampledata.writePhantomSequence("CardiacPhantomLAXCine", tmp_path / "lax.seq.nrrd")
    cine = sampledata.phantomCine("CardiacPhantomLAXCine")
    sequence = mrml.load_sequence(path, scene=scene)
    assert sequence.GetNumberOfDataNodes() == cine.frames.shape[0]
    assert sequence.GetIndexUnit() == "ms" and float(sequence.GetNthIndexValue(1)) == pytest.approx(50.0)
    array, geometry = mrml.array_from_volume_node(sequence.GetNthDataNode(3), world=False)
    assert geometry.almost_equal(cine.geometry, atol=1e-4)
    assert np.abs(array.astype(np.float32) - np.rint(cine.frames[3])).max() <= 1
    assert not list(tmp_path.glob("*.tmp-*"))


def test_sequence_without_browser_gets_one(tmp_path, scene, models):
    """A sequence loaded from a file (no browser yet) is given a browser that shows input, heatmap and points."""
    from CardiacLandmarkGANLib import sampledata

    path = sampledata.writePhantomSequence("CardiacPhantomLAXCine", tmp_path / "lax.seq.nrrd")
    sequence = mrml.load_sequence(path, scene=scene)
    assert scene.GetNumberOfNodesByClass("vtkMRMLSequenceBrowserNode") == 0
    result = CardiacLandmarkGANLogic().detect(sequence, view="lax", weights=str(models / "identity_lax.json"))
    browser = result.browserNode
    assert browser is not None and browser.GetMasterSequenceNode() is sequence
    assert result.inputNode is browser.GetProxyNode(sequence)
    assert result.markupsSequenceNode.GetNumberOfDataNodes() == sequence.GetNumberOfDataNodes()
    info = CardiacLandmarkGANLogic().describeInput(sequence)
    assert info.startswith("Cine 'lax'") and "20 frames" in info


@pytest.mark.parametrize("dims, allocate", [((0, 0, 0), True), ((4, 4, 1), False)], ids=["zero-size", "no-scalars"])
def test_volumes_without_voxels_are_one_line_and_described_alike(scene, models, dims, allocate):
    """Issue 15, item 16: 0x0x0 image data and image data without scalars: the same one line from detect and
    describeInput, and no node is added."""
    import vtk

    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "empty")
    image = vtk.vtkImageData()
    image.SetDimensions(*dims)
    if allocate:
        image.AllocateScalars(vtk.VTK_FLOAT, 1)
    node.SetAndObserveImageData(image)
    before = scene.GetNumberOfNodes()
    logic = CardiacLandmarkGANLogic()
    with pytest.raises(InputError) as err:
        logic.detect(node, view="sax", weights=str(models / "identity_sax.json"))
    assert "has no voxels" in str(err.value) and "\n" not in str(err.value)
    assert logic.describeInput(node) == err.value.problem
    assert scene.GetNumberOfNodes() == before


@pytest.mark.parametrize("when", [
    pytest.param("time point 1", id="first-batch"),
    pytest.param("time point 6", id="last-batch"),  # issue 15, item 16: a cancel in the last step was ignored
    pytest.param("adding results", id="adding-results"),  # issue 15, item 16
])
def test_cancel_at_any_step_adds_nothing(scene, models, when):
    """Issue 15, item 16: logic.cancel() during the last progress report of a cine (after the last batch, or
    while the results are about to be added) stops the run like an earlier cancel: Cancelled, no node added."""
    from heatmap_landmarks.inference import Cancelled

    frames = [blob_frame((64, 64), list(blob_points("sax", (t, 0)).values())) for t in range(6)]
    _, _, proxy = mrml.sequence_from_frames([(np.stack([f, f]), selftest.OBLIQUE) for f in frames], "Cancel late",
                                            scene=scene)
    logic = CardiacLandmarkGANLogic()
    seen = []

    def progress(fraction, message):
        seen.append(message)
        if when in message and len([m for m in seen if when in m]) == 1:
            logic.cancel()

    before = scene.GetNumberOfNodes()
    with pytest.raises(Cancelled):
        logic.detect(proxy, view="sax", weights=str(models / "identity_sax.json"), batchSize=2,
                     progressCallback=progress)
    assert any(when in m for m in seen), seen
    assert scene.GetNumberOfNodes() == before and not mrml.heatmap_node_ids(scene)
