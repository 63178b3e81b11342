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

Both folders outlive a Slicer session, and SampleData reuses a cached file
of the same name when it is given no checksum. So the file names carry
:data:`SAMPLE_VERSION` (a new version never reuses an older file) and the
source handed to SampleData carries the SHA-256 of the file just generated
(a cached copy that differs is replaced).

The ground truth of the phantom (landmark pixels and RAS positions) comes from
:func:`phantomCine` with the same settings.
"""
from __future__ import annotations

import hashlib
import logging
import os
import pathlib

import numpy as np

from heatmap_landmarks import __version__
from heatmap_landmarks.fileutil import atomic_path

#: Sample name -> generator settings. Times are one 1000 ms RR interval.
SAMPLES = {
    "CardiacPhantomSAXCine": {"view": "sax", "seed": 20240601, "n_frames": 20, "n_slices": 8},
    "CardiacPhantomLAXCine": {"view": "lax", "seed": 20240602, "n_frames": 20, "n_slices": 1, "lax_view": "4ch"},
}
#: The Sample Data section (registered with this title, so Slicer shows it as written here).
CATEGORY = "Cardiac Landmark GAN"
RR_INTERVAL_MS = 1000.0
#: Bump when SAMPLES or the phantom generator change what a sample looks like.
SAMPLE_REVISION = 2
#: In the generated file names: the package version and the sample revision.
SAMPLE_VERSION = f"{__version__}-{SAMPLE_REVISION}"


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
    storage = slicer.vtkMRMLVolumeSequenceStorageNode()
    with atomic_path(path, overwrite=True) as tmp:
        storage.SetFileName(os.fspath(tmp))
        if not storage.WriteData(sequence) or not tmp.is_file():
            raise RuntimeError(f"could not write {path}")
    return path


def sampleFileName(name: str) -> str:
    """File name of sample ``name`` (generated and cached): ``<name>-v<SAMPLE_VERSION>.seq.nrrd``."""
    if name not in SAMPLES:
        raise KeyError(f"unknown sample {name!r}; known: {', '.join(SAMPLES)}")
    return f"{name}-v{SAMPLE_VERSION}.seq.nrrd"


def generatedPath(name: str, folder=None) -> str:
    """Where sample ``name`` is generated: ``<folder>/CardiacLandmarkGAN/<sampleFileName>``.

    ``folder`` defaults to ``slicer.app.temporaryPath``.
    """
    if folder is None:
        import slicer

        folder = slicer.app.temporaryPath
    return os.path.join(os.fspath(folder), "CardiacLandmarkGAN", sampleFileName(name))


def sampleSource(name: str, path) -> dict:
    """Arguments of ``SampleData.SampleDataSource`` for the generated file ``path`` of sample ``name``.

    With the file's SHA-256 as checksum, SampleData replaces a cached copy that differs.
    """
    digest = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    return {"sampleName": name, "uris": pathlib.Path(path).as_uri(), "fileNames": sampleFileName(name),
            "nodeNames": name, "loadFileTypes": "SequenceFile", "checksums": f"SHA256:{digest}"}


def loadSample(name: str = "CardiacPhantomSAXCine") -> list:
    """Generate sample ``name`` (once per version) and load it the SampleData way; returns the loaded nodes.

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
    source = SampleData.SampleDataSource(**sampleSource(name, path))
    return SampleData.SampleDataLogic().downloadFromSource(source)
