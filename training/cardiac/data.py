"""Torch datasets for the cardiac landmark GAN: synthetic phantom, STACOM and ACDC.

Every sample goes through the same preprocessing as inference
(:func:`heatmap_landmarks.preprocess.prepare_cardiac`: resample to the card's
spacing, centre pad/crop to 256x256, percentile-normalise to [0, 1]), then
on-the-fly augmentation (:mod:`training.cardiac.augment`), then heatmap encoding:

* ``heatmap_mode="single"``: one channel with all N landmarks
  (:func:`~heatmap_landmarks.heatmaps.encode_heatmap`, sigma^2 = 5 px^2 for N > 1);
* ``heatmap_mode="per_landmark"``: one channel per name
  (:func:`~heatmap_landmarks.heatmaps.encode_heatmaps_per_channel`, sigma^2 = 7 px^2).

Absent versus unknown landmarks
    Phantom: a NaN landmark is truly absent (e.g. no RV insertion near the
    apex): its channel is trained to be empty (supervised). Real data: a NaN
    landmark was not annotated (e.g. STACOM slices with a BCA but no RV
    inserts; ACDC has no LV centre), so it is unknown: its channel is masked
    out of the loss (``mask`` 0). A single-channel target cannot mask one
    landmark, so in single mode real samples with an unknown landmark are
    skipped - counted in the :class:`~training.datasets.report.DatasetReport`
    with the reason, never silently.

Sample dict (tensors): ``image (1, H, W)`` float32 [0, 1], ``target (K, H, W)``
float32, ``mask (K,)`` float32 (1 = supervised channel), ``points (C, 2)``
float32 network (x, y) pixels (NaN absent/unknown), ``index`` int64.

Sample order and randomness depend only on the run seed and the global sample
index (:func:`training.common.derive_seed`), so a resumed or distributed run sees
the same data as an uninterrupted single-process one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from heatmap_landmarks.heatmaps import encode_heatmap, encode_heatmaps_per_channel
from heatmap_landmarks.phantoms import make_lax_slice, make_sax_slice
from heatmap_landmarks.preprocess import prepare_cardiac

from .augment import augment_sample
from ..common import derive_seed
from ..common.config import parse_seed_range
from .config import CardiacAugmentConfig, CardiacDataConfig
from heatmap_landmarks.cardiac.segmentation import ACDC_LABELS

from ..datasets import (
    DatasetReport,
    iter_acdc_dataset,
    iter_stacom_dataset,
    kfold_splits,
    stratified_split,
    train_val_test_split,
)
from .synth import OUTSIDE, class_map, synthesise

log = logging.getLogger("training")

__all__ = [
    "CardiacItem",
    "EpochStream",
    "MixedCardiacDataset",
    "PreparedCardiacDataset",
    "PhantomCardiacDataset",
    "encode_target",
    "load_real_cardiac",
    "prepare_item",
    "render_phantom",
    "split_real_items",
]


@dataclass
class CardiacItem:
    """One image on the network grid with its landmarks.

    Attributes:
        image: ``(H, W)`` float32 [0, 1] network input (zero padding outside the scan).
        points: ``(C, 2)`` float32 network (x, y) px; NaN absent/unknown.
        supervised: ``(C,)`` bool; False = unknown (mask the channel).
        group: patient id (real) or seed (phantom), for splits.
        source: file or ``phantom:<view>:<seed>``.
        names: display names per landmark for evaluation (e.g. LVC named BCA/ACA).
        classes: ``(H, W)`` uint8 class map on the network grid for label-map synthesis
            (:mod:`training.cardiac.synth`), or None.
        stratum: e.g. the ACDC pathology group, for stratified splits; None elsewhere.
        meta: where the image came from (phase, slice index, stack size), for evaluation.
    """

    image: np.ndarray
    points: np.ndarray
    supervised: np.ndarray
    group: str
    source: str
    names: list
    classes: np.ndarray | None = None
    stratum: str | None = None
    meta: dict | None = None


def encode_target(points: np.ndarray, shape, mode: str, sigma2: float | None = None) -> np.ndarray:
    """``(C, 2)`` network points -> ``(1, H, W)`` (single) or ``(C, H, W)`` (per_landmark) float32 target.

    ``sigma2`` (px^2): None = the paper's widths (5 single with N > 1, 7 per landmark).

    >>> encode_target(np.array([[4.0, 4.0], [np.nan, np.nan]]), (8, 8), "per_landmark").shape
    (2, 8, 8)
    """
    if mode == "single":
        return encode_heatmap(points, shape, sigma2=sigma2)[None]
    return encode_heatmaps_per_channel(points, shape, sigma2=sigma2)


def prepare_item(image: np.ndarray, spacing_xy, points: np.ndarray, cfg: CardiacDataConfig, **kw) -> tuple:
    """Original image + points -> network image ``(H, W)``, network points ``(C, 2)`` and the transform."""
    net, transform = prepare_cardiac(image[None], spacing_xy, target_spacing_mm=cfg.spacing_mm,
                                     size=tuple(cfg.input_size), percentiles=tuple(cfg.percentiles), **kw)
    pts = np.asarray(points, dtype=np.float64)
    return net[0], transform.to_network(pts).astype(np.float32), transform


# --------------------------------------------------------------------------- phantom
def render_phantom(view: str, seed: int, randomisation: str, phase: str = "random", apical_fraction: float = 0.0):
    """The phantom sample of ``seed`` (deterministic): a :class:`~heatmap_landmarks.phantoms.CardiacSample`.

    The phase (and SAX level) are drawn from the seed; ``phase="ed"`` fixes end-diastole.
    ``apical_fraction`` (SAX): the probability that the level is drawn from the apical
    third [2/3, 1] rather than from [0, 1]; 0 leaves every sample exactly as before.
    """
    rng = np.random.default_rng(derive_seed(seed, 17))
    ph = float(rng.uniform(0.0, 1.0)) if phase == "random" else 0.0
    if view == "sax":
        level = None
        if apical_fraction > 0.0 and rng.uniform(0.0, 1.0) < apical_fraction:
            level = float(rng.uniform(2.0 / 3.0, 1.0))
        return make_sax_slice(int(seed), level=level, phase=ph, randomisation=randomisation)
    return make_lax_slice(int(seed), phase=ph, randomisation=randomisation)


def phantom_names(sample) -> list:
    """Evaluation names of a SAX/LAX phantom sample's landmarks (LVC -> BCA/LVC/ACA by slice level)."""
    if sample.view == "sax":
        return ["RVI-1", "RVI-2", sample.meta["lvc_name"]]
    return ["MV-1", "MV-2"]


class PhantomCardiacDataset(Dataset):
    """Phantom items by seed, rendered on demand: item ``i`` is seed ``seeds[i]``.

    ``randomisation``/``phase``: phantom settings. Cheap (about 10 ms a sample),
    so nothing is cached.
    """

    def __init__(self, seeds: Sequence[int] | range | str, cfg: CardiacDataConfig, *, randomisation: str | None = None,
                 apical_fraction: float = 0.0):
        self.seeds = parse_seed_range(seeds) if isinstance(seeds, str) else seeds
        self.cfg = cfg
        self.randomisation = randomisation or cfg.randomisation
        self.apical_fraction = float(apical_fraction)

    def __len__(self) -> int:
        return len(self.seeds)

    def item(self, i: int) -> CardiacItem:
        seed = int(self.seeds[i])
        s = render_phantom(self.cfg.view, seed, self.randomisation, self.cfg.phase, self.apical_fraction)
        names = self.cfg.landmark_names
        image, pts, _ = prepare_item(s.image, s.spacing_xy, s.points(names), self.cfg)
        return CardiacItem(image, pts, np.ones(len(names), bool), str(seed), f"phantom:{self.cfg.view}:{seed}",
                           phantom_names(s))


class PreparedCardiacDataset(Dataset):
    """Real-data items prepared once and kept in memory (``(H, W)`` float32 each)."""

    def __init__(self, items: Sequence[CardiacItem]):
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def item(self, i: int) -> CardiacItem:
        return self.items[i]


class MixedCardiacDataset(Dataset):
    """Real items, images synthesised from their label maps, and phantoms, mixed by fractions.

    ``item(i)`` is deterministic in ``(seed, i)``: a draw picks the source with
    probabilities ``(1 - synth - phantom, synth, phantom)``. Real and synthetic
    items take real item ``i % n`` (synthetic ones only among items that carry a
    class map); phantom items render seed ``phantom_seeds[i % len]``.
    """

    def __init__(self, items: Sequence[CardiacItem], cfg: CardiacDataConfig, *, seed: int, synth_fraction: float,
                 phantom_fraction: float):
        self.items = list(items)
        self.with_classes = [it for it in self.items if it.classes is not None]
        if synth_fraction > 0 and not self.with_classes:
            raise ValueError("synth_fraction > 0 needs items with label maps (ACDC with acdc_labels 'gt')")
        self.phantom = PhantomCardiacDataset(cfg.train_seeds, cfg) if phantom_fraction > 0 else None
        self.seed, self.synth, self.phantom_fraction = int(seed), float(synth_fraction), float(phantom_fraction)

    def __len__(self) -> int:
        return len(self.items)

    def item(self, i: int) -> CardiacItem:
        rng = np.random.default_rng(derive_seed(self.seed, int(i), 4243))
        u = float(rng.uniform())
        if self.phantom is not None and u < self.phantom_fraction:
            return self.phantom.item(int(rng.integers(0, len(self.phantom))))
        if u < self.phantom_fraction + self.synth:
            base = self.with_classes[int(i) % len(self.with_classes)]
            image = synthesise(base.classes, rng)
            return CardiacItem(image, base.points, base.supervised, base.group, "synth:" + base.source, base.names,
                               classes=base.classes, stratum=base.stratum, meta=base.meta)
        return self.items[int(i) % len(self.items)]


# --------------------------------------------------------------------------- real data
def load_real_cardiac(cfg: CardiacDataConfig, *, mode: str, report: DatasetReport | None = None,
                      strict: bool | None = None) -> tuple[list[CardiacItem], DatasetReport]:
    """Load STACOM or ACDC samples of ``cfg.view`` as prepared :class:`CardiacItem` s.

    Loader errors (wrong folder layout, bad ``Annotations.txt`` line, missing
    DICOM) are :class:`~heatmap_landmarks.errors.InputError` naming the file
    and line; ``strict`` (default ``cfg.strict``) raises them, otherwise the
    study is skipped and recorded in the report. Images of the other view, images without any
    landmark of this view, and (single mode) images with unknown landmarks are
    skipped and counted.
    """
    names = cfg.landmark_names
    strict = cfg.strict if strict is None else strict
    report = report if report is not None else DatasetReport(cfg.source.upper())
    if cfg.source == "stacom":
        samples = iter_stacom_dataset(cfg.root, report=report, strict=strict)
    elif cfg.source == "acdc":
        samples = iter_acdc_dataset(cfg.root, rvip_root=cfg.rvip_root, report=report, strict=strict,
                                    labels=cfg.acdc_labels)
    else:
        raise ValueError(f"not a real dataset source: {cfg.source!r}")
    items = []
    for s in samples:
        view = getattr(s, "view", "sax")
        if view != cfg.view:
            report.skip(s.source, f"{view} image (training {cfg.view})", f"{s.source}: a {view} image")
            continue
        lm = dict(s.landmarks)
        display = list(names)
        if cfg.view == "sax":
            # STACOM names the LV centre by slice: BCA (basal) or ACA (apical); it is one landmark type.
            centre = [k for k in ("BCA", "ACA", "LVC") if k in lm and np.isfinite(lm[k]).all()]
            if centre:
                lm["LVC"] = lm[centre[0]]
                display[2] = centre[0]
        pts = np.array([lm.get(n, (np.nan, np.nan)) for n in names], dtype=np.float64).reshape(-1, 2)
        known = np.isfinite(pts).all(axis=1)
        absent_known = bool(getattr(s, "absent_known", False))
        if absent_known:
            known = np.ones(len(names), dtype=bool)  # from complete masks: NaN = absent, supervised empty
        elif not known.any():
            report.skip(s.source, "image without landmarks of this view", f"{s.source}: no {'/'.join(names)}")
            continue
        if mode == "single" and not known.all():
            missing = [n for n, k in zip(names, known) if not k]
            report.skip(s.source, "single-channel target needs every landmark",
                        f"{s.source}: {', '.join(missing)} not annotated (unknown, cannot be masked in one channel)")
            continue
        image, net_pts, transform = prepare_item(s.image, s.spacing_xy, pts, cfg, source=s.source)
        classes = None
        if getattr(s, "label", None) is not None:
            classes = network_class_map(class_map(s.label, s.image, ACDC_LABELS), transform)
        meta = {k: getattr(s, k) for k in ("phase", "slice_index", "n_slices", "frame") if hasattr(s, k)}
        items.append(CardiacItem(image, net_pts, known, str(s.patient_id), str(s.source), display, classes=classes,
                                 stratum=getattr(s, "group", None), meta=meta))
        report.add_loaded(f"{cfg.view} training image")
    log.info("%s", report.summary())
    if not items:
        from heatmap_landmarks.errors import InputError

        raise InputError(cfg.root, f"no usable {cfg.view} images for training ({report.summary()})")
    return items, report


def network_class_map(classes: np.ndarray, transform) -> np.ndarray:
    """Warp an ``(H, W)`` uint8 class map to the network grid (nearest), padding -> OUTSIDE."""
    import cv2

    h, w = transform.network_shape
    return cv2.warpAffine(np.ascontiguousarray(classes, dtype=np.uint8), transform.inverse_matrix, (w, h),
                          flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=OUTSIDE)


def split_real_items(items: Sequence[CardiacItem], cfg: CardiacDataConfig, seed: int):
    """Patient-level split: ``(train, val, test)`` item lists and the split.

    ``cfg.test_per_stratum`` > 0: the same number of patients of every stratum
    (ACDC pathology group) to test and validation (:func:`stratified_split`);
    else 70/30 then 80/20, or fold k of K.
    """
    groups = [it.group for it in items]
    if cfg.test_per_stratum:
        split = stratified_split(groups, [it.stratum for it in items], test_per_stratum=cfg.test_per_stratum,
                                 val_per_stratum=cfg.val_per_stratum, seed=cfg.split_seed)
    elif cfg.folds >= 2:
        split = kfold_splits(groups, cfg.folds, val_fraction=cfg.val_fraction, seed=cfg.split_seed)[cfg.fold]
    else:
        split = train_val_test_split(groups, test_fraction=cfg.test_fraction, val_fraction=cfg.val_fraction,
                                     seed=cfg.split_seed)
    pick = lambda idx: [items[i] for i in idx]  # noqa: E731
    return pick(split.train), pick(split.val), pick(split.test), split


# --------------------------------------------------------------------------- training stream
class EpochStream(Dataset):
    """One "epoch" of training samples (``length`` items) drawn from a base dataset.

    Global sample ``g = epoch * length + i`` takes base item ``order(g)``:
    phantom bases are read in order (every seed is new), real bases in a fresh
    seeded permutation per pass. Augmentation uses ``derive_seed(seed, g)``.
    Wrap in a ``DistributedSampler(shuffle=False)`` under DDP; ranks then see
    disjoint samples. Set :attr:`epoch` before iterating.
    """

    def __init__(self, base, length: int, *, seed: int, shuffle: bool, mode: str, view: str,
                 augment: CardiacAugmentConfig | None, input_size=(256, 256), crop_size: int = 0):
        self.base = base
        self.length = int(length)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.mode = mode
        self.view = view
        self.augment = augment
        self.input_size = tuple(input_size)
        self.crop_size = int(crop_size)
        self.epoch = 0
        self.sigma2: float | None = None  # target width for this epoch (None: the paper's); see LossConfig
        self._perms: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def _base_index(self, g: int) -> int:
        n = len(self.base)
        pass_no, pos = divmod(g, n)
        if not self.shuffle:
            return pos
        if pass_no not in self._perms:
            if len(self._perms) > 4:
                self._perms.clear()
            self._perms[pass_no] = np.random.default_rng(derive_seed(self.seed, 7919, pass_no)).permutation(n)
        return int(self._perms[pass_no][pos])

    def __getitem__(self, i: int) -> dict:
        g = self.epoch * self.length + int(i)
        item = self.base.item(self._base_index(g))
        return make_training_sample(item, g, seed=self.seed, mode=self.mode, view=self.view, augment=self.augment,
                                    sigma2=self.sigma2, crop_size=self.crop_size)


def random_crop(image: np.ndarray, points: np.ndarray, size: int, rng: np.random.Generator,
                jitter: float = 0.3) -> tuple:
    """Square crop of side ``size`` around the landmarks' centroid, shifted by up to ``jitter * size``.

    The networks are fully convolutional, so training on crops and predicting
    on the whole 256x256 grid is the same computation on less input: a 128
    crop costs a quarter of the whole image. At 1.4 mm/px a 128 crop spans
    18 cm, the heart with its surroundings. Points move with the crop (they
    may fall outside it; the encoder draws the visible part only).

    >>> img = np.arange(64.0).reshape(8, 8); pts = np.array([[4.0, 4.0]])
    >>> crop, p = random_crop(img, pts, 4, np.random.default_rng(0), jitter=0.0)
    >>> crop.shape, p.tolist(), bool(crop[int(p[0, 1]), int(p[0, 0])] == img[4, 4])
    ((4, 4), [[2.0, 2.0]], True)
    """
    h, w = image.shape
    centre = np.nanmean(points, axis=0) if np.any(~np.isnan(points[:, 0])) else np.array([w / 2, h / 2])
    centre = centre + rng.uniform(-jitter * size, jitter * size, 2)
    x0 = int(np.clip(round(centre[0] - size / 2), 0, w - size))
    y0 = int(np.clip(round(centre[1] - size / 2), 0, h - size))
    return image[y0:y0 + size, x0:x0 + size], points - np.array([x0, y0], dtype=points.dtype)


def make_training_sample(item: CardiacItem, index: int, *, seed: int, mode: str, view: str,
                         augment: CardiacAugmentConfig | None, sigma2: float | None = None, crop_size: int = 0) -> dict:
    """Augment (when ``augment`` is given and enabled), crop (``crop_size`` > 0), encode the target."""
    image, pts, supervised = item.image, item.points, item.supervised
    names = ["RVI-1", "RVI-2", "LVC"] if view == "sax" else ["MV-1", "MV-2"]
    if augment is not None and augment.enabled:
        rng = np.random.default_rng(derive_seed(seed, index, 1))
        res = augment_sample(image, pts, rng, augment, names=names, view=view)
        image, pts = res.image, res.points
        if res.mirrored:
            from .augment import mirror_permutation

            supervised = supervised[mirror_permutation(names, view)]
    if crop_size:
        image, pts = random_crop(image, np.asarray(pts, dtype=np.float32), crop_size,
                                 np.random.default_rng(derive_seed(seed, index, 2)))
    target = encode_target(pts, image.shape, mode, sigma2)
    mask = supervised.astype(np.float32) if mode == "per_landmark" else np.ones(1, np.float32)
    return {
        "image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None],
        "target": torch.from_numpy(target),
        "mask": torch.from_numpy(mask),
        "points": torch.from_numpy(np.asarray(pts, dtype=np.float32)),
        "index": torch.tensor(index, dtype=torch.int64),
    }


def collate_items(items: Sequence[CardiacItem], mode: str) -> dict:
    """Un-augmented batch of items (validation)."""
    samples = [make_training_sample(it, 0, seed=0, mode=mode, view="sax" if len(it.points) == 3 else "lax",
                                    augment=None) for it in items]
    return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
