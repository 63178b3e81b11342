"""Suture training data: phantom frames, AdaptOR frames, CycleGAN-translated frames.

Sources (each a random-access sequence of :class:`Frame`):

* :class:`PhantomSource` -- synthetic endoscopic frames, ``version`` 1
  (:func:`heatmap_landmarks.phantoms.endoscopic.make_suture_frame`, the
  shipped model's data) or 2 (:func:`heatmap_landmarks.phantoms.endoscopic_v2.make_suture_frame_v2`:
  drawn after the real AdaptOR frames, with overlays, text and instruments,
  and a per-frame distractor mask), domain ``"sim"`` (simulator look) or
  ``"intraop"`` (surgery look), one frame per seed, deterministic. A phantom
  "surgery" is a group of ``group_size`` consecutive seeds (:func:`seed_group`),
  the unit of the folds, as an AdaptOR ``<op>`` folder is.
* :class:`AdaptorSource` -- AdaptOR layout ``root/<op>/<video>/{images,point_labels}``
  through the existing loaders (:mod:`training.datasets.adaptor`), which raise
  one-line errors for labels without ``points``, points outside the image,
  image/label size disagreements and grayscale frames. Frames of chosen ops
  only, or chosen frames only (``frames``: ``"<op>/<video>/<name>"``).
* :class:`RepeatSource` -- any source with each frame listed ``repeat`` times
  (``"repeat"`` in a spec), so that a handful of real frames is a chosen share
  of an epoch; each repetition is augmented differently.
* The real AdaptOR frames in ``<realdata>/adaptor_real`` (``<domain>/<source>/...``,
  an AdaptOR layout whose ``<op>`` is the domain) are split once, here:
  :data:`REAL_ADAPTOR_VALIDATION` (kept out of training, evaluated by
  ``training.sutures.evaluate --real``) and :data:`REAL_ADAPTOR_TRAIN`.
* CycleGAN-translated simulator frames are an AdaptOR tree too: phantom sim
  frames are exported with :func:`export_phantom_adaptor` and translated with
  ``python -m training.cyclegan.translate --adaptor`` which copies the
  ``point_labels`` unchanged -- translation is pixel-aligned (the generator is
  fully convolutional and keeps the frame size), so the labels stay valid.
  Load the result with :class:`AdaptorSource`.

:class:`SutureTrainDataset` (a ``torch.utils.data.Dataset``) concatenates
sources, augments (:mod:`training.sutures.augment`), normalises and pads like
inference does (:func:`heatmap_landmarks.preprocess.prepare_suture_frame`) and
draws the single-channel target (:func:`heatmap_landmarks.heatmaps.encode_heatmap`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from heatmap_landmarks.adaptor_json import write_point_labels
from heatmap_landmarks.errors import InputError, refuse_overwrite
from heatmap_landmarks.fileutil import atomic_path
from heatmap_landmarks.heatmaps import encode_heatmap
from heatmap_landmarks.io import read_colour_frame
from heatmap_landmarks.phantoms.endoscopic import make_suture_frame
from heatmap_landmarks.phantoms.endoscopic_v2 import make_suture_frame_v2
from heatmap_landmarks.preprocess import IMAGENET_MEAN, IMAGENET_STD, pad_to_multiple, prepare_suture_frame

from ..common import derive_seed
from ..common.config import parse_seed_range
from ..datasets.adaptor import AdaptorFrame, list_adaptor_frames, load_adaptor_frame
from ..datasets.report import DatasetReport
from .augment import augment
from .config import SutureAugmentConfig, TargetConfig

__all__ = [
    "REAL_ADAPTOR_INCOMPLETE",
    "REAL_ADAPTOR_TRAIN",
    "REAL_ADAPTOR_VALIDATION",
    "AdaptorSource",
    "Frame",
    "PhantomSource",
    "RepeatSource",
    "SutureTrainDataset",
    "UnlabelledSource",
    "export_phantom_adaptor",
    "seed_group",
    "source_from_spec",
]

#: Default number of consecutive phantom seeds that form one phantom "surgery".
DEFAULT_GROUP_SIZE = 16

# The labelled real AdaptOR frames (``<realdata>/adaptor_real``, see its INDEX.json), split by scene so that
# no scene is on both sides: intra-op guide2022 000000/000001 and website2021 000008 show the same operation
# (same retractor with "MEDICAL" print, same instrument and thread bundle), so all three are validation;
# sim website2021 000000 and 000003 show the same bowl and block (training), as do 000006 and 000007
# (validation). Numbers of labelled points in brackets.
#: Real frames kept for validation: 3 of the 5 intra-op (31 points) and 4 of the 6 complete sim frames (36 points).
REAL_ADAPTOR_VALIDATION = {
    "intraop": ("intraop/guide2022_intraop/000000.png",  # [11]
                "intraop/guide2022_intraop/000001.png",  # [11]
                "intraop/website2021_montage/000008.png"),  # [9]
    "sim": ("sim/website2021_montage/000001.png",  # [14]
            "sim/website2021_montage/000004.png",  # [3]
            "sim/website2021_montage/000006.png",  # [9]
            "sim/website2021_montage/000007.png"),  # [10]
}
#: Real frames a suture config may train on: 2 intra-op (17 points) and 2 sim (17 points).
REAL_ADAPTOR_TRAIN = {
    "intraop": ("intraop/website2021_montage/000002.png",  # [13]
                "intraop/website2021_montage/000005.png"),  # [4]
    "sim": ("sim/website2021_montage/000000.png",  # [7]
            "sim/website2021_montage/000003.png"),  # [10]
}
#: Sim frames whose labels are incomplete (pale endpoint dots not recovered): neither trained on (the loss
#: cannot ignore the unlabelled points) nor scored as validation; evaluated separately (sensitivity only).
REAL_ADAPTOR_INCOMPLETE = {
    "sim": tuple(f"sim/guide2022_sim/{i:06d}.png" for i in range(4)),
}


@dataclass
class Frame:
    """One RGB frame with its suture points.

    Attributes:
        image: ``(H, W, 3)`` float32 RGB in [0, 1].
        points: ``(N, 2)`` float32 (x, y) pixels.
        group: surgery id (AdaptOR ``<op>``, or phantom seed group); the fold unit.
        video: AdaptOR ``<video>`` (phantom: the domain).
        name: image file name, e.g. ``"000123.png"``.
        distractors: ``(H, W)`` uint8 distractor mask of a version-2 phantom
            (0 none, 1 endoscope overlay, 2 printed text, 3 logo/text), else None.
    """

    image: np.ndarray
    points: np.ndarray
    group: str
    video: str
    name: str
    distractors: np.ndarray | None = None


def seed_group(seed: int, group_size: int = DEFAULT_GROUP_SIZE) -> str:
    """Phantom "surgery" of a seed: consecutive blocks of ``group_size`` seeds.

    >>> seed_group(0), seed_group(15), seed_group(16), seed_group(40, 8)
    ('phantom_0000', 'phantom_0000', 'phantom_0001', 'phantom_0005')
    """
    return f"phantom_{int(seed) // int(group_size):04d}"


class PhantomSource:
    """Synthetic frames, one per seed, rendered on demand and kept as uint8 (like a PNG).

    Args:
        seeds: the seeds (frame ``i`` is ``make_suture_frame(seeds[i], ...)``).
        domain: ``"sim"`` or ``"intraop"``.
        randomisation: ``"none"``, ``"train"`` or ``"wide"``.
        size: ``(H, W)``; the native endoscope size is (288, 512).
        group_size: seeds per phantom surgery.
        cache: keep rendered frames in memory (about 0.44 MB each at 288x512).
        max_sutures: if set, each frame gets a number of sutures drawn uniformly
            from 0..max_sutures (from the seed) instead of the phantom's 0..15;
            tiny test frames (e.g. 64x96) cannot hold 15 well-separated sutures.
        version: 1 (:func:`~heatmap_landmarks.phantoms.endoscopic.make_suture_frame`)
            or 2 (:func:`~heatmap_landmarks.phantoms.endoscopic_v2.make_suture_frame_v2`,
            whose frames carry a ``distractors`` mask).

    >>> src = PhantomSource([0, 1], domain="sim", size=(64, 96))
    >>> f = src[1]; f.image.shape, f.group, f.name
    ((64, 96, 3), 'phantom_0000', '000001.png')
    """

    def __init__(self, seeds: Sequence[int], *, domain: str = "sim", randomisation: str = "train",
                 size=(288, 512), group_size: int = DEFAULT_GROUP_SIZE, cache: bool = True,
                 max_sutures: int | None = None, version: int = 1):
        if isinstance(version, bool) or version not in (1, 2):
            raise InputError(None, f"phantom source: version must be 1 or 2, got {version!r}")
        self.version = int(version)
        self.seeds = [int(s) for s in seeds]
        self.domain = domain
        self.randomisation = randomisation
        self.size = (int(size[0]), int(size[1]))
        self.group_size = int(group_size)
        self.cache = cache
        self.max_sutures = None if max_sutures is None else int(max_sutures)
        self._cache: dict[int, tuple] = {}
        v = "" if self.version == 1 else " v2"
        self.name = f"phantom{v} {domain}/{randomisation} seeds {self.seeds[0]}..{self.seeds[-1]}" if self.seeds \
            else f"phantom{v} {domain} (empty)"

    def __len__(self) -> int:
        return len(self.seeds)

    def groups(self) -> list[str]:
        return [seed_group(s, self.group_size) for s in self.seeds]

    def render(self, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(image (H, W, 3) uint8, points (N, 2) float32, distractors (H, W) uint8 or None)`` of one seed."""
        n = None
        if self.max_sutures is not None:
            n = int(np.random.default_rng([int(seed), 7919]).integers(0, self.max_sutures + 1))
        make = make_suture_frame if self.version == 1 else make_suture_frame_v2
        sample = make(seed, n_sutures=n, domain=self.domain, size=self.size, randomisation=self.randomisation)
        image = np.round(np.clip(sample.image, 0.0, 1.0) * 255.0).astype(np.uint8)
        return image, sample.points.astype(np.float32), getattr(sample, "distractors", None)

    def __getitem__(self, index: int) -> Frame:
        seed = self.seeds[index]
        if seed in self._cache:
            image, points, mask = self._cache[seed]
        else:
            image, points, mask = self.render(seed)
            if self.cache:
                self._cache[seed] = (image, points, mask)
        return Frame(image.astype(np.float32) / 255.0, points.copy(), seed_group(seed, self.group_size),
                     self.domain, f"{seed:06d}.png", None if mask is None else mask.copy())


class AdaptorSource:
    """Frames of an AdaptOR-layout tree via :mod:`training.datasets.adaptor` (optionally some ops or frames only).

    ``frames`` picks single frames as ``"<op>/<video>/<image name>"`` (e.g.
    ``"intraop/website2021_montage/000002.png"``); a listed frame that is not
    there (or has no label) is an error, and order follows the tree. Bad frames
    raise (``strict=True``, the default for training: a broken label must be
    fixed, not skipped) or are skipped and recorded in ``report``. ``cache``
    keeps loaded frames in memory (float32, about 1.8 MB per 288x512 frame).
    """

    def __init__(self, root, *, ops: Sequence[str] | None = None, frames: Sequence[str] | None = None,
                 strict: bool = True, cache: bool = False, report: DatasetReport | None = None):
        self.root = os.fspath(root)
        self.report = report if report is not None else DatasetReport(f"AdaptOR {self.root}")
        selected = None if frames is None else list(frames) if not isinstance(frames, str) else frames
        frames = list_adaptor_frames(self.root, report=self.report)
        if ops is not None:
            wanted = set(ops)
            missing = sorted(wanted - {f.op for f in frames})
            if missing:
                raise InputError(self.root, f"has no frames for op folder(s) {', '.join(missing)}")
            frames = [f for f in frames if f.op in wanted]
        if selected is not None:
            if isinstance(selected, str) or not all(isinstance(k, str) for k in selected):
                raise InputError(self.root, "'frames' must be a list of '<op>/<video>/<name>' strings, "
                                            f"got {selected!r}")
            keys = {f"{f.op}/{f.video}/{f.frame_name}": f for f in frames}
            missing = [k for k in selected if k not in keys]
            if missing:
                raise InputError(self.root, f"has no labelled frame {missing[0]}" +
                                 (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
            wanted_frames = set(selected)
            frames = [f for f in frames if f"{f.op}/{f.video}/{f.frame_name}" in wanted_frames]
        self.frames: list[AdaptorFrame] = frames
        self.strict = strict
        self.cache = cache
        self._cache: dict[int, Frame] = {}
        self.name = f"AdaptOR {self.root}" + (f" ops {','.join(sorted(set(ops)))}" if ops is not None else "") + \
            (f" ({len(self.frames)} chosen frames)" if selected is not None else "")

    def __len__(self) -> int:
        return len(self.frames)

    def groups(self) -> list[str]:
        return [f.op for f in self.frames]

    def __getitem__(self, index: int) -> Frame:
        if index in self._cache:
            f = self._cache[index]
            return Frame(f.image.copy(), f.points.copy(), f.group, f.video, f.name)
        sample = load_adaptor_frame(self.frames[index])
        frame = Frame(sample.image, sample.points.astype(np.float32), sample.op, sample.video, sample.frame_name)
        if self.cache:
            self._cache[index] = frame
        return frame


class UnlabelledSource:
    """Colour frames without suture labels, for an unpaired domain (a CycleGAN target), never for a detector.

    ``frames`` are image paths relative to ``root``. Every frame comes back with no points
    (``(0, 2)``), so a detector trained on it would learn that the frame holds no suture: only
    :func:`source_from_spec` with ``allow_unlabelled=True`` (the CycleGAN trainer) builds one.
    Group and video are the path's first and second folder, as in the AdaptOR tree. ``size``
    ``(H, W)``: resize every frame to it (area interpolation), so that frames saved at another
    resolution show structures at the scale of the other domain; None keeps each as stored.
    """

    labelled = False

    def __init__(self, root, frames: Sequence[str], *, cache: bool = True, size: Sequence[int] | None = None):
        self.root = os.fspath(root)
        if size is not None and (isinstance(size, (str, bytes)) or len(size) != 2
                                 or not all(isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 8192
                                            for v in size)):
            raise InputError(self.root, f"'size' must be [height, width], integers from 8 to 8192, got {size!r}")
        self.size = None if size is None else (int(size[0]), int(size[1]))
        if (isinstance(frames, (str, bytes)) or not isinstance(frames, Sequence) or not frames
                or not all(isinstance(f, str) and f for f in frames)):
            raise InputError(self.root, f"'frames' must be a non-empty list of image paths, got {frames!r}")
        self.paths = [os.path.join(self.root, f) for f in frames]
        for path in self.paths:
            if not os.path.isfile(path):
                raise InputError(path, "does not exist (an unlabelled source frame)")
        self.rel = list(frames)
        self.cache = cache
        self._cache: dict[int, np.ndarray] = {}
        self.name = f"unlabelled frames of {self.root} ({len(self.paths)})"

    def __len__(self) -> int:
        return len(self.paths)

    def groups(self) -> list[str]:
        return [self._group(r) for r in self.rel]

    @staticmethod
    def _group(rel: str) -> str:
        parts = Path(rel).parts
        return parts[0] if len(parts) > 1 else "unlabelled"

    def __getitem__(self, index: int) -> Frame:
        if not 0 <= index < len(self):
            raise IndexError(index)
        image = self._cache.get(index)
        if image is None:
            image = read_colour_frame(self.paths[index])
            if self.size is not None and image.shape[:2] != self.size:
                image = cv2.resize(image, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)
            if self.cache:
                self._cache[index] = image
        parts = Path(self.rel[index]).parts
        return Frame(image.copy(), np.zeros((0, 2), np.float32), self._group(self.rel[index]),
                     parts[1] if len(parts) > 2 else "unlabelled", parts[-1])


class RepeatSource:
    """A source with every frame listed ``repeat`` times in a row (frame ``i`` is ``source[i // repeat]``).

    >>> src = RepeatSource(PhantomSource([0, 1], size=(64, 96), max_sutures=2), 3)
    >>> len(src), src.groups()[:4], src[4].name
    (6, ['phantom_0000', 'phantom_0000', 'phantom_0000', 'phantom_0000'], '000001.png')
    """

    def __init__(self, source, repeat: int):
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise InputError(None, f"'repeat' must be a positive integer, got {repeat!r}")
        self.source = source
        self.repeat = int(repeat)
        self.name = f"{source.name} x{self.repeat}"

    def __len__(self) -> int:
        return len(self.source) * self.repeat

    def groups(self) -> list[str]:
        return [g for g in self.source.groups() for _ in range(self.repeat)]

    def __getitem__(self, index: int) -> Frame:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.source[index // self.repeat]


def source_from_spec(spec: dict, *, allow_unlabelled: bool = False):
    """Build a source from a config dict.

    ``{"kind": "phantom", "domain": "intraop", "seeds": "0:400", "randomisation": "train"}``,
    ``{"kind": "adaptor", "root": "...", "ops": ["op01"]}`` (``ops`` optional), or, only with
    ``allow_unlabelled`` (an unpaired CycleGAN domain), ``{"kind": "unlabelled", "root": "...",
    "frames": ["intraop/video/images/000000.png", ...]}`` (:class:`UnlabelledSource`).
    Optional keys: phantom ``size`` ``[H, W]``, ``group_size``, ``cache``, ``max_sutures``,
    ``version`` (1 or 2); adaptor ``cache``, ``strict``, ``frames`` (``"<op>/<video>/<name>"``
    list); any kind ``repeat`` (list each frame that many times, see :class:`RepeatSource`).
    """
    if not isinstance(spec, dict) or "kind" not in spec:
        raise InputError(None, f"a data source needs a 'kind' ('phantom' or 'adaptor'), got {spec!r}")
    spec = dict(spec)
    kind = spec.pop("kind")
    spec.pop("weight", None)
    repeat = spec.pop("repeat", None)
    if kind == "phantom":
        allowed = {"domain", "seeds", "randomisation", "size", "group_size", "cache", "max_sutures", "version"}
        unknown = sorted(set(spec) - allowed)
        if unknown or "seeds" not in spec:
            raise InputError(None, f"phantom source: needs 'seeds'; unknown key(s) {unknown}; allowed {sorted(allowed)}")
        seeds = list(parse_seed_range(spec.pop("seeds"), "phantom seeds"))
        source = PhantomSource(seeds, **spec)
    elif kind == "adaptor":
        allowed = {"root", "ops", "frames", "cache", "strict"}
        unknown = sorted(set(spec) - allowed)
        if unknown or "root" not in spec:
            raise InputError(None, f"adaptor source: needs 'root'; unknown key(s) {unknown}; allowed {sorted(allowed)}")
        source = AdaptorSource(spec.pop("root"), **spec)
    elif kind == "unlabelled":
        if not allow_unlabelled:
            raise InputError(None, "an 'unlabelled' source has no suture points and would teach a detector that "
                                   "frames hold none; it can only be a CycleGAN domain")
        allowed = {"root", "frames", "cache", "size"}
        unknown = sorted(set(spec) - allowed)
        if unknown or "root" not in spec or "frames" not in spec:
            raise InputError(None, f"unlabelled source: needs 'root' and 'frames'; unknown key(s) {unknown}; "
                                   f"allowed {sorted(allowed)}")
        source = UnlabelledSource(spec.pop("root"), spec.pop("frames"), **spec)
    else:
        raise InputError(None, f"unknown data source kind {kind!r}; use 'phantom' or 'adaptor'")
    return source if repeat is None else RepeatSource(source, repeat)


# --------------------------------------------------------------------------- export
def _write_atomic(path: str, data: bytes) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_bytes(data)


def write_frame_png(path: str, image: np.ndarray, *, overwrite: bool = False) -> None:
    """Write ``(H, W, 3)`` float32 RGB [0, 1] (or uint8) as an 8-bit RGB PNG, atomically."""
    refuse_overwrite(path, overwrite)
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.round(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(path, "PNG encoding failed")
    _write_atomic(path, buf.tobytes())


def export_phantom_adaptor(root, source: PhantomSource, *, overwrite: bool = False) -> int:
    """Write a phantom source as an AdaptOR tree ``root/<seed group>/<domain>/{images,point_labels}/``.

    Frames are 8-bit PNGs named ``<seed>.png`` (like the challenge's frames);
    labels carry the exact points, written by :func:`heatmap_landmarks.adaptor_json.write_point_labels`
    (the product's writer, 4 decimals). Returns the number of frames written.
    Refuses to overwrite existing files unless ``overwrite``.
    """
    root = os.fspath(root)
    os.makedirs(root, exist_ok=True)
    count = 0
    for i in range(len(source)):
        frame = source[i]
        base = os.path.join(root, frame.group, frame.video)
        os.makedirs(os.path.join(base, "images"), exist_ok=True)
        os.makedirs(os.path.join(base, "point_labels"), exist_ok=True)
        stem = os.path.splitext(frame.name)[0]
        write_frame_png(os.path.join(base, "images", frame.name), frame.image, overwrite=overwrite)
        write_point_labels(os.path.join(base, "point_labels", stem + ".json"), frame.points,
                           frame.image.shape[:2], overwrite=overwrite)
        count += 1
    return count


# --------------------------------------------------------------------------- torch dataset
class SutureTrainDataset(torch.utils.data.Dataset):
    """Augmented, normalised frames with single-channel Gaussian targets.

    Item ``i`` is frame ``i`` of the concatenated sources. Augmentation draws
    from ``default_rng(derive_seed(seed, epoch, i))``: reproducible, different
    per epoch (call :meth:`set_epoch`).

    Returns dicts of:
        ``image`` ``(3, H', W')`` float32 (normalised with ``mean``/``std``, padded to 32),
        ``heatmap`` ``(1, H', W')`` float32 in [0, 1] (every transformed point
        drawn, including the visible tail of points just outside),
        ``n_points`` (labels in the output), ``n_seen``, ``n_dropped_rotation``,
        ``n_dropped_crop`` (ints, for the run's counts).

    >>> ds = SutureTrainDataset([PhantomSource([0], size=(64, 96))], SutureAugmentConfig(crop=[32, 64]))
    >>> item = ds[0]; item["image"].shape, item["heatmap"].shape
    (torch.Size([3, 32, 64]), torch.Size([1, 32, 64]))
    """

    def __init__(self, sources: Sequence, augment_config: SutureAugmentConfig | None = None, *, seed: int = 0,
                 target: TargetConfig | None = None, mean=IMAGENET_MEAN, std=IMAGENET_STD, multiple: int = 32):
        self.sources = list(sources)
        self.augment_config = augment_config if augment_config is not None else SutureAugmentConfig.off()
        self.seed = int(seed)
        self.epoch = 0
        self.target = target if target is not None else TargetConfig()
        self.mean, self.std = tuple(mean), tuple(std)
        self.multiple = int(multiple)
        self._offsets = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def frame(self, index: int) -> Frame:
        """The raw (unaugmented) frame at a concatenated index."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = int(np.searchsorted(self._offsets, index, side="right") - 1)
        return self.sources[k][index - int(self._offsets[k])]

    def __getitem__(self, index: int) -> dict:
        frame = self.frame(index)
        rng = np.random.default_rng(derive_seed(self.seed, self.epoch, int(index)))
        result = augment(frame.image, frame.points, rng, self.augment_config)
        net, transform = prepare_suture_frame(result.image, mean=self.mean, std=self.std, multiple=self.multiple)
        h, w = result.image.shape[:2]
        heat = encode_heatmap(result.points, (h, w), sigma2=self.target.sigma2, truncate=self.target.truncate)
        heat, _ = pad_to_multiple(heat, self.multiple)
        return {
            "image": torch.from_numpy(net),
            "heatmap": torch.from_numpy(np.ascontiguousarray(heat[None])),
            "n_points": int(result.inside.sum()),
            "n_seen": result.stats.seen,
            "n_dropped_rotation": int(result.stats.dropped.get("rotation", 0)),
            "n_dropped_crop": int(result.stats.dropped.get("crop", 0)),
        }


# --------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.sutures.data --seeds A:B --domain sim --out DIR``: export phantom frames
    as an AdaptOR tree (e.g. as input to ``training.cyclegan.translate --adaptor``)."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m training.sutures.data",
                                description="Export phantom suture frames as an AdaptOR-layout tree.")
    p.add_argument("--seeds", required=True, help="seed range A:B (B exclusive)")
    p.add_argument("--domain", choices=["sim", "intraop"], default="sim")
    p.add_argument("--randomisation", choices=["none", "train", "wide"], default="train")
    p.add_argument("--group-size", type=int, default=DEFAULT_GROUP_SIZE, help="seeds per phantom surgery")
    p.add_argument("--version", type=int, choices=[1, 2], default=1, help="phantom version (2: real-looking)")
    p.add_argument("--out", required=True, help="output AdaptOR root")
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    try:
        src = PhantomSource(list(parse_seed_range(args.seeds)), domain=args.domain, randomisation=args.randomisation,
                            group_size=args.group_size, cache=False, version=args.version)
        n = export_phantom_adaptor(args.out, src, overwrite=args.overwrite)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {n} {args.domain} phantom frames to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
