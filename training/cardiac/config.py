"""Typed config of the cardiac GAN training (:mod:`training.cardiac.train`), one JSON file per experiment.

Loaded by the shared loader (:mod:`training.common.config`): unknown keys, wrong
types and invalid values are one-line :class:`~training.common.config.ConfigError`
naming the file, the (dotted) key and the line. A config file mirrors the dataclasses::

    {"name": "cardiac_sax", "seed": 0,
     "data": {"source": "phantom", "view": "sax"},
     "model": {"heatmap_mode": "per_landmark", "generator": {"base_width": 12}},
     "loss": {"fpl": true, "recon_loss": "huber"},
     "optim": {"batch_size": 8, "max_steps": 3000},
     "schedule": {...}, "augment": {...}, "eval": {...}}

``model.generator`` / ``model.discriminator`` are validated by the network
config classes of :mod:`heatmap_landmarks.models` (their unknown keys are
errors too).
"""
from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from heatmap_landmarks.errors import InputError

from ..common.config import ConfigError, TrainConfig, check, check_pair, load_config, parse_seed_range

__all__ = [
    "CardiacAugmentConfig",
    "CardiacDataConfig",
    "CardiacModelConfig",
    "CardiacTrainConfig",
    "EvalConfig",
    "LossConfig",
    "OptimConfig",
    "ScheduleConfig",
    "load_cardiac_config",
]


@dataclass
class CardiacDataConfig:
    """Where the training images come from.

    Attributes:
        source: ``"phantom"`` (synthetic, rendered on the fly), ``"stacom"`` or ``"acdc"``.
        view: ``"sax"`` (RVI-1, RVI-2, LVC) or ``"lax"`` (MV-1, MV-2).
        root: dataset root for stacom/acdc; rvip_root: ACDC label folder if separate.
        randomisation: phantom randomisation of the training data (``"train"`` or ``"wide"``).
        train_seeds, val_seeds: phantom seed ranges ``"start:stop"`` ("patients" = seeds);
            training seeds are drawn in order, one per sample, and never reach val/test ranges.
        val_randomisation: phantom randomisation of the validation seeds.
        phase: phantom cardiac phase: ``"random"`` or ``"ed"`` (0).
        input_size, spacing_mm, percentiles: network grid (pixels), its spacing (mm) and the
            intensity normalisation percentiles (must match inference: :func:`prepare_cardiac`).
        test_fraction, val_fraction, split_seed: patient-level split of real datasets (70/30, then 80/20).
        folds, fold: k-fold cross-validation of real datasets (folds >= 2 replaces the 70/30 split;
            fold in [0, folds)), so that each patient is tested once over the k runs.
        num_workers: DataLoader workers (0 = in the training process).
        strict: real datasets: a study/patient that fails to load (bad annotation line, missing
            DICOM) stops training with its error (true), or is skipped and reported (false).
        apical_fraction: SAX phantom training only: the fraction of training slices whose level
            is drawn from the apical third [2/3, 1] instead of the whole LV [0, 1] (0 = uniform).
            Apical slices, where the LV cavity is a few pixels wide, are the hardest; this
            shows them more often. Validation and test slices always stay uniform.
        acdc_labels: ACDC landmarks from ``"gt"`` (the expert masks) or ``"rvip"`` (label volumes).
        test_per_stratum, val_per_stratum: > 0: stratified patient split, this many patients of
            each stratum (ACDC pathology group) to test and to validation; the rest train.
        synth_fraction, phantom_fraction: real-data training only: the fractions of training
            samples synthesised from the real label maps (:mod:`training.cardiac.synth`) and
            rendered as phantoms (seeds ``train_seeds``); the rest are the real images.
    """

    source: str = "phantom"
    view: str = "sax"
    root: str | None = None
    rvip_root: str | None = None
    randomisation: str = "train"
    train_seeds: str = "0:90000"
    val_seeds: str = "90000:90048"
    val_randomisation: str = "train"
    phase: str = "random"
    input_size: list[int] = field(default_factory=lambda: [256, 256])
    spacing_mm: float = 1.4
    percentiles: list[float] = field(default_factory=lambda: [1.0, 99.0])
    test_fraction: float = 0.3
    val_fraction: float = 0.2
    split_seed: int = 0
    folds: int = 0
    fold: int = 0
    num_workers: int = 0
    strict: bool = True
    crop_size: int = 0
    apical_fraction: float = 0.0
    acdc_labels: str = "rvip"
    test_per_stratum: int = 0
    val_per_stratum: int = 0
    synth_fraction: float = 0.0
    phantom_fraction: float = 0.0

    def __post_init__(self) -> None:
        check(self.source in ("phantom", "stacom", "acdc"), "source", f"must be phantom, stacom or acdc, got {self.source!r}")
        check(self.view in ("sax", "lax"), "view", f"must be sax or lax, got {self.view!r}")
        check(not (self.source == "acdc" and self.view == "lax"), "view", "ACDC has short-axis labels only")
        check(self.source == "phantom" or bool(self.root), "root", f"is required for source {self.source!r}")
        for k in ("randomisation", "val_randomisation"):
            check(getattr(self, k) in ("none", "train", "wide"), k, f"must be none, train or wide, got {getattr(self, k)!r}")
        check(self.phase in ("random", "ed"), "phase", f"must be random or ed, got {self.phase!r}")
        for k in ("train_seeds", "val_seeds"):
            try:
                parse_seed_range(getattr(self, k))
            except InputError as err:
                raise ConfigError(None, f"'{k}' {err.problem}") from None
        tr, va = parse_seed_range(self.train_seeds), parse_seed_range(self.val_seeds)
        check(tr.stop <= va.start or va.stop <= tr.start, "val_seeds", "overlaps train_seeds")
        check(len(self.input_size) == 2 and all(s > 0 and s % 32 == 0 for s in self.input_size), "input_size",
               f"must be [H, W] multiples of 32, got {self.input_size}")
        check(self.crop_size == 0 or (self.crop_size % 32 == 0 and self.crop_size <= min(self.input_size)),
               "crop_size", f"must be 0 (whole image) or a multiple of 32 no larger than input_size, got {self.crop_size}")
        check(self.spacing_mm > 0, "spacing_mm", "must be > 0")
        check_pair(self.percentiles, "percentiles", 0.0, 100.0)
        check(0 < self.test_fraction < 1 and 0 < self.val_fraction < 1, "test_fraction",
               "and val_fraction must be in (0, 1)")
        check(self.folds == 0 or self.folds >= 2, "folds", "must be 0 (no cross-validation) or >= 2")
        check(self.folds == 0 or 0 <= self.fold < self.folds, "fold", f"must be in [0, folds={self.folds})")
        check(self.num_workers >= 0, "num_workers", "must be >= 0")
        check(0.0 <= self.apical_fraction <= 1.0, "apical_fraction", f"must be in [0, 1], got {self.apical_fraction}")
        check(self.apical_fraction == 0.0 or (self.source == "phantom" and self.view == "sax"), "apical_fraction",
               "applies to SAX phantom training only")
        check(self.acdc_labels in ("gt", "rvip"), "acdc_labels", f"must be gt or rvip, got {self.acdc_labels!r}")
        check(self.test_per_stratum >= 0 and self.val_per_stratum >= 0, "test_per_stratum",
               "and val_per_stratum must be >= 0")
        check(self.test_per_stratum == 0 or self.val_per_stratum > 0, "val_per_stratum",
               "must be > 0 with a stratified split (validation chooses the model)")
        for k in ("synth_fraction", "phantom_fraction"):
            check(0.0 <= getattr(self, k) <= 1.0, k, f"must be in [0, 1], got {getattr(self, k)}")
        check(self.synth_fraction + self.phantom_fraction <= 1.0, "synth_fraction",
               "plus phantom_fraction must be at most 1")
        check(self.source != "phantom" or (self.synth_fraction == 0 and self.phantom_fraction == 0),
               "synth_fraction", "and phantom_fraction apply to real-data training only")
        check(self.synth_fraction == 0 or (self.source == "acdc" and self.acdc_labels == "gt"), "synth_fraction",
               "needs label maps: source acdc with acdc_labels gt")

    @property
    def landmark_names(self) -> list[str]:
        return ["RVI-1", "RVI-2", "LVC"] if self.view == "sax" else ["MV-1", "MV-2"]


@dataclass
class CardiacAugmentConfig:
    """On-the-fly augmentation (see :mod:`training.cardiac.augment`); every probability in [0, 1].

    Geometric transforms act on the network grid and move the points exactly.
    """

    enabled: bool = True
    rotation_deg: float = 180.0
    rotation_p: float = 1.0
    scale: list[float] = field(default_factory=lambda: [0.9, 1.1])
    translate_px: float = 12.0
    flip_lr_p: float = 0.0
    flip_ud_p: float = 0.0
    elastic_p: float = 0.5
    elastic_alpha_px: float = 4.0
    elastic_sigma_px: float = 24.0
    luminance_p: float = 0.8
    gamma: list[float] = field(default_factory=lambda: [0.7, 1.5])
    contrast: list[float] = field(default_factory=lambda: [0.8, 1.2])
    brightness: list[float] = field(default_factory=lambda: [-0.1, 0.1])
    noise_sd: list[float] = field(default_factory=lambda: [0.0, 0.03])

    def __post_init__(self) -> None:
        for k in ("rotation_p", "flip_lr_p", "flip_ud_p", "elastic_p", "luminance_p"):
            check(0.0 <= getattr(self, k) <= 1.0, k, f"must be a probability in [0, 1], got {getattr(self, k)}")
        check(0.0 <= self.rotation_deg <= 180.0, "rotation_deg", "must be in [0, 180]")
        check_pair(self.scale, "scale", 0.1, 10.0)
        check_pair(self.gamma, "gamma", 0.05, 20.0)
        check_pair(self.contrast, "contrast", 0.0, 10.0)
        check_pair(self.brightness, "brightness", -1.0, 1.0)
        check_pair(self.noise_sd, "noise_sd", 0.0, 1.0)
        check(self.translate_px >= 0, "translate_px", "must be >= 0")
        check(self.elastic_alpha_px >= 0 and self.elastic_sigma_px > 0, "elastic_alpha_px",
               "must be >= 0 (and elastic_sigma_px > 0)")


@dataclass
class CardiacModelConfig:
    """Networks: ``heatmap_mode`` ``"single"`` (paper: one channel, N Gaussians) or ``"per_landmark"``;
    ``generator``/``discriminator`` hold :class:`CardiacGeneratorConfig`/:class:`PatchDiscriminatorConfig`
    fields (channels are set from the mode and view). ``init_from``: a trained cardiac model card
    (or weights file) whose generator weights start the run (fine-tuning, e.g. the shipped phantom
    model on STACOM); its network must have exactly this config's shapes. The discriminator starts
    fresh."""

    heatmap_mode: str = "per_landmark"
    generator: dict = field(default_factory=dict)
    discriminator: dict = field(default_factory=dict)
    init_from: str = ""

    def __post_init__(self) -> None:
        check(self.heatmap_mode in ("single", "per_landmark"), "heatmap_mode",
               f"must be single or per_landmark, got {self.heatmap_mode!r}")
        from heatmap_landmarks.models import CardiacGeneratorConfig, PatchDiscriminatorConfig

        for key, cls, managed in (("generator", CardiacGeneratorConfig, ("in_channels", "out_channels")),
                                  ("discriminator", PatchDiscriminatorConfig, ("in_channels", "conditional"))):
            d = getattr(self, key)
            check(not any(k in d for k in managed), key, f"must not set {', '.join(managed)} (derived from the view/mode)")
            try:
                cls.from_dict(d)
            except InputError as err:
                raise ConfigError(None, f"'{key}' {err.problem}") from None


@dataclass
class LossConfig:
    """Losses (:mod:`heatmap_landmarks.losses`).

    ``G_L = A_L + beta * recon(GT, pred) + fpl_weight * FPL`` and ``MDL = SDL + FPL``
    (FPL in MDL changes the logged value only; see ``losses.py``).

    Attributes:
        adversarial: use the discriminator (false: plain U-Net, no A_L).
        recon_loss: ``"huber"`` (delta ``huber_delta``) or ``"mse"``.
        beta: weight of the reconstruction term.
        fpl: foreground pixel loss on/off (both its MDL and its generator-side use).
        fpl_weight: weight of FPL in the generator loss (when ``fpl``).
        alpha: FPL's MSE weight; fpl_threshold/fpl_margin: foreground patch settings.
        sigma2_start, sigma2_anneal_steps: target-width curriculum (0 = off). The Gaussian variance
            of the training targets starts at ``sigma2_start`` px^2 and shrinks linearly (per epoch)
            to the paper's (5 single / 7 per landmark) over ``sigma2_anneal_steps`` steps: wide blobs
            give a dense gradient that finds the heart quickly, the final width gives the paper's
            precision. Decoding is relative to each blob's peak, so inference is unaffected.
        adversarial_warmup_steps: for the first N steps G learns from recon + FPL only and D is
            not trained (a GAN warm-up: D judges blobs only once G produces some).
        false_peak_weight, false_peak_below: :func:`heatmap_landmarks.losses.false_peak_loss`, the
            squared highest prediction away from every target blob (0 = off; our addition for
            slices without a landmark and for far outliers, not part of the paper).
    """

    adversarial: bool = True
    recon_loss: str = "huber"
    huber_delta: float = 0.4
    beta: float = 100.0
    fpl: bool = True
    fpl_weight: float = 10.0
    alpha: float = 1.0
    fpl_threshold: float = 0.1
    fpl_margin: int = 4
    sigma2_start: float = 0.0
    sigma2_anneal_steps: int = 0
    adversarial_warmup_steps: int = 0
    foreground_weight: float = 0.0
    false_peak_weight: float = 0.0
    false_peak_below: float = 0.05

    def __post_init__(self) -> None:
        check(self.sigma2_start == 0 or self.sigma2_start >= 1, "sigma2_start", "must be 0 (off) or >= 1 px^2")
        check(self.sigma2_anneal_steps >= 0, "sigma2_anneal_steps", "must be >= 0")
        check(self.adversarial_warmup_steps >= 0, "adversarial_warmup_steps", "must be >= 0")
        check(self.foreground_weight >= 0, "foreground_weight", "must be >= 0")
        check(self.false_peak_weight >= 0, "false_peak_weight", "must be >= 0")
        check(0 < self.false_peak_below <= 1, "false_peak_below", "must be in (0, 1]")
        check(self.recon_loss in ("huber", "mse"), "recon_loss", f"must be huber or mse, got {self.recon_loss!r}")
        check(self.huber_delta > 0, "huber_delta", "must be > 0")
        check(self.beta >= 0 and self.fpl_weight >= 0 and self.alpha >= 0, "beta",
               "(and fpl_weight, alpha) must be >= 0")
        check(0 < self.fpl_threshold < 1, "fpl_threshold", "must be in (0, 1)")
        check(self.fpl_margin >= 0, "fpl_margin", "must be >= 0")


@dataclass
class OptimConfig:
    """Adam for both networks, steps, batch and budget. ``steps_per_epoch`` steps make one
    "epoch" (the phantom stream is endless): validation, logging, schedule and checkpoint run per epoch."""

    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    batch_size: int = 8
    max_steps: int = 2000
    max_minutes: float = 0.0
    steps_per_epoch: int = 100
    amp: bool = True
    threads: int = 0
    grad_clip: float = 0.0

    def __post_init__(self) -> None:
        check(self.lr_g > 0 and self.lr_d > 0, "lr_g", "(and lr_d) must be > 0")
        check_pair(self.betas, "betas", 0.0, 0.99999)
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.max_steps >= 1, "max_steps", "must be >= 1")
        check(self.max_minutes >= 0, "max_minutes", "must be >= 0 (0 = no limit)")
        check(self.steps_per_epoch >= 1, "steps_per_epoch", "must be >= 1")
        check(self.threads >= 0, "threads", "must be >= 0 (0 = torch default)")
        check(self.grad_clip >= 0, "grad_clip", "must be >= 0 (0 = off)")


@dataclass
class ScheduleConfig:
    """Adaptive dropout / learning rate, applied once per epoch (documented in RESULTS.md).

    Discriminator balance (adversarial runs), from the epoch means of SDL and A_L:
    * ``SDL < d_strong_ratio * A_L`` (D too strong): D dropout += ``dropout_step`` up to
      ``d_dropout_max``; once at the cap, D lr *= ``lr_factor`` (not below ``lr_min``).
    * ``SDL > d_weak_ratio * A_L`` (D too weak): D dropout -= ``dropout_step`` down to ``d_dropout_min``.
    Generator, from the validation error (mean radial error, misses counted as ``miss_penalty_px``):
    * a new best by more than ``min_delta_px``: G dropout -= ``dropout_step`` down to ``g_dropout_min``;
    * no new best for ``patience`` epochs: G lr *= ``lr_factor`` (not below ``lr_min``), counter reset;
      not during the first ``warmup_epochs`` epochs (validation means little before G localises at all).
    """

    enabled: bool = True
    d_strong_ratio: float = 0.25
    d_weak_ratio: float = 2.0
    d_dropout_max: float = 0.8
    d_dropout_min: float = 0.3
    g_dropout_min: float = 0.1
    dropout_step: float = 0.05
    lr_factor: float = 0.5
    lr_min: float = 1e-6
    patience: int = 3
    warmup_epochs: int = 0
    min_delta_px: float = 0.02
    miss_penalty_px: float = 20.0

    def __post_init__(self) -> None:
        check(0 < self.d_strong_ratio < self.d_weak_ratio, "d_strong_ratio", "must be in (0, d_weak_ratio)")
        for k in ("d_dropout_max", "d_dropout_min", "g_dropout_min"):
            check(0.0 <= getattr(self, k) < 1.0, k, "must be a probability in [0, 1)")
        check(self.d_dropout_min <= self.d_dropout_max, "d_dropout_min", "must be <= d_dropout_max")
        check(0 < self.dropout_step < 0.5, "dropout_step", "must be in (0, 0.5)")
        check(0 < self.lr_factor < 1, "lr_factor", "must be in (0, 1)")
        check(self.lr_min > 0, "lr_min", "must be > 0")
        check(self.patience >= 1, "patience", "must be >= 1")
        check(self.warmup_epochs >= 0, "warmup_epochs", "must be >= 0")
        check(self.min_delta_px >= 0 and self.miss_penalty_px > 0, "min_delta_px",
               "must be >= 0 (and miss_penalty_px > 0)")


@dataclass
class EvalConfig:
    """Validation during training and the decoder settings chosen on validation seeds.

    ``level_grid`` x ``min_confidence_grid`` are tried on the validation set after training;
    the best pair goes into the model card's ``decoder``. ``rvi_max_distance_grid_mm`` (SAX,
    per-landmark models) adds a third axis: 0 = off, a distance ties the RV insertions to the LV
    centre in decoding (:func:`heatmap_landmarks.heatmaps.decode_tethered`): they lie on the LV
    epicardium, at most an epicardial radius from the centre (17-43 mm in the phantom; about 45 mm
    in a dilated real LV), so 60 mm is a safe bound. ``rvi_pair_confidence_grid`` (SAX,
    per-landmark) adds a fourth: 0 = off, a value decides the two RV insertions as a pair
    (:func:`heatmap_landmarks.heatmaps.decide_pair`: both kept when the stronger reaches it,
    none otherwise). Whether each helps is decided on validation.
    """

    val_batch_size: int = 8
    level: float = 0.5
    min_confidence: float = 0.1
    level_grid: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6])
    min_confidence_grid: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5])
    rvi_max_distance_grid_mm: list[float] = field(default_factory=lambda: [0.0])
    rvi_pair_confidence_grid: list[float] = field(default_factory=lambda: [0.0])

    def decoder(self, level: float | None = None, min_confidence: float | None = None,
                rvi_max_distance_mm: float = 0.0, rvi_pair_confidence: float = 0.0) -> dict:
        """Decoder settings as stored in a model card (defaults: ``level``, ``min_confidence``, no tether, no pair)."""
        dec = {"level": float(self.level if level is None else level),
               "min_confidence": float(self.min_confidence if min_confidence is None else min_confidence)}
        if rvi_max_distance_mm:
            dec["rvi_max_distance_mm"] = float(rvi_max_distance_mm)
        if rvi_pair_confidence:
            dec["rvi_pair_confidence"] = float(rvi_pair_confidence)
        return dec

    def decoder_grid(self) -> list[dict]:
        """Every decoder setting the search tries (a pair threshold at or below min_confidence changes nothing
        and is skipped)."""
        return [self.decoder(lv, mc, r, pc) for lv, mc, r, pc in
                itertools.product(self.level_grid, self.min_confidence_grid, self.rvi_max_distance_grid_mm,
                                  self.rvi_pair_confidence_grid)
                if not pc or pc > mc]

    def __post_init__(self) -> None:
        check(self.val_batch_size >= 1, "val_batch_size", "must be >= 1")
        check(0 < self.level <= 1, "level", "must be in (0, 1]")
        check(0 <= self.min_confidence < 1, "min_confidence", "must be in [0, 1)")
        check(all(0 < v <= 1 for v in self.level_grid) and self.level_grid, "level_grid", "values must be in (0, 1]")
        check(all(0 <= v < 1 for v in self.min_confidence_grid) and self.min_confidence_grid,
               "min_confidence_grid", "values must be in [0, 1)")
        check(all(v >= 0 for v in self.rvi_max_distance_grid_mm) and self.rvi_max_distance_grid_mm,
               "rvi_max_distance_grid_mm", "values must be >= 0 mm (0 = off)")
        check(all(0 <= v <= 1 for v in self.rvi_pair_confidence_grid) and self.rvi_pair_confidence_grid,
               "rvi_pair_confidence_grid", "values must be in [0, 1] (0 = off)")


@dataclass
class CardiacTrainConfig(TrainConfig):
    """Everything :mod:`training.cardiac.train` needs; one JSON file per experiment."""

    name: str = "cardiac"
    seed: int = 0
    device: str = "auto"
    data: CardiacDataConfig = field(default_factory=CardiacDataConfig)
    augment: CardiacAugmentConfig = field(default_factory=CardiacAugmentConfig)
    model: CardiacModelConfig = field(default_factory=CardiacModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    notes: str = ""

    def __post_init__(self) -> None:
        check(bool(self.name) and re.fullmatch(r"[A-Za-z0-9_.\-]+", self.name) is not None, "name",
               f"must be a non-empty file-name-safe string, got {self.name!r}")
        check(self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"), "device",
               f"must be auto, cpu, cuda or cuda:N, got {self.device!r}")


def load_cardiac_config(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None) -> CardiacTrainConfig:
    """Read a cardiac training config file (see :func:`training.common.config.load_config`)."""
    return load_config(path, CardiacTrainConfig, overrides)
