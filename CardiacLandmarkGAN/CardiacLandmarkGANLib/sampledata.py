"""Synthetic cardiac cines for Slicer's Sample Data module, generated locally (nothing is downloaded).

Slicer's ``SampleDataLogic.registerCustomSampleDataSource`` takes a
``customDownloader``: the Sample Data module calls ``customDownloader(source)``
when the user clicks the sample's button (instead of downloading its URIs).
The module (``CardiacLandmarkGAN.registerSampleData``) registers the samples
below with a custom downloader that calls :func:`loadSample`, which generates
the phantom cine (:func:`heatmap_landmarks.phantoms.make_cardiac_cine`, fixed
seed, so always the same images) into ``slicer.app.temporaryPath`` as a
``.seq.nrrd`` volume sequence and hands the file to SampleData's ordinary
loader (``downloadFromSource`` with a ``file://`` URI), which copies it into the
cache and loads it as a sequence with a browser, exactly like a downloaded
sample. Scripts call :func:`loadSample` directly: ``SampleData.downloadSample``
ignores custom downloaders and would try the URI before the file exists.

The ground truth of the phantom (landmark pixels and RAS positions) comes from
:func:`phantomCine` with the same settings.
"""
from __future__ import annotations

import logging
import os
import pathlib

import numpy as np

#: Sample name -> generator settings. Times are one 1000 ms RR interval.
SAMPLES = {
    "CardiacPhantomSAXCine": {"view": "sax", "seed": 20240601, "n_frames": 20, "n_slices": 8},
    "CardiacPhantomLAXCine": {"view": "lax", "seed": 20240602, "n_frames": 20, "n_slices": 1, "lax_view": "4ch"},
}
CATEGORY = "Cardiac Landmark GAN"
RR_INTERVAL_MS = 1000.0


def phantomCine(name: str):
    """The :class:`~heatmap_landmarks.phantoms.CardiacCine` behind sample ``name`` (frames + exact truth)."""
    from heatmap_landmarks.phantoms import make_cardiac_cine

    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    s = SAMPLES[name]
    return make_cardiac_cine(s["seed"], view=s["view"], n_frames=s["n_frames"], n_slices=s["n_slices"],
                             lax_view=s.get("lax_view"), randomisation="none")


def writePhantomSequence(name: str, path) -> str:
    """Write sample ``name`` as a ``.seq.nrrd`` (int16 MR units, times in ms) atomically; returns the path."""
    import slicer

    from heatmap_landmarks.mrml.volumes import fill_volume_node

    cine = phantomCine(name)
    sequence = slicer.vtkMRMLSequenceNode()
    sequence.SetName(name)
    sequence.SetIndexName("time")
    sequence.SetIndexUnit("ms")
    sequence.SetIndexType(slicer.vtkMRMLSequenceNode.NumericIndex)
    for t, phase in enumerate(cine.phases):
        item = slicer.vtkMRMLScalarVolumeNode()
        item.SetName(name)
        voxels = np.clip(np.rint(cine.frames[t]), 0, np.iinfo(np.int16).max).astype(np.int16)
        fill_volume_node(item, voxels, cine.geometry)
        sequence.SetDataNodeAtValue(item, f"{phase * RR_INTERVAL_MS:g}")
    path = os.fspath(path)
    tmp = f"{path[:-len('.seq.nrrd')]}.tmp-{os.getpid()}.seq.nrrd"
    storage = slicer.vtkMRMLVolumeSequenceStorageNode()
    storage.SetFileName(tmp)
    try:
        if not storage.WriteData(sequence) or not os.path.isfile(tmp):
            raise RuntimeError(f"could not write {tmp}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def generatedPath(name: str) -> str:
    """Where sample ``name`` is generated: ``<slicer.app.temporaryPath>/CardiacLandmarkGAN/<name>.seq.nrrd``."""
    import slicer

    return os.path.join(slicer.app.temporaryPath, "CardiacLandmarkGAN", f"{name}.seq.nrrd")


def loadSample(name: str = "CardiacPhantomSAXCine") -> list:
    """Generate sample ``name`` (once per session) and load it the SampleData way; returns the loaded nodes.

    The file is handed to ``SampleDataLogic.downloadFromSource`` as a ``file://``
    URI, so it is copied into the cache and loaded as a sequence with a
    browser named like the sample, as downloaded samples are.
    """
    import SampleData

    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    path = generatedPath(name)
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        logging.info("Generating sample %s into %s", name, path)
        writePhantomSequence(name, path)
    source = SampleData.SampleDataSource(sampleName=name, uris=pathlib.Path(path).as_uri(),
                                         fileNames=f"{name}.seq.nrrd", nodeNames=name, loadFileType="SequenceFile")
    return SampleData.SampleDataLogic().downloadFromSource(source)
