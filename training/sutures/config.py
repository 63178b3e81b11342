"""Typed configs of the suture training (:mod:`training.sutures.train`): run, augmentation, targets.

Loaded by the shared loader (:mod:`training.common.config`): unknown keys,
wrong types and invalid values are one-line
:class:`~training.common.config.ConfigError` naming the file, the (dotted) key
and the line. ``model`` is validated by
:class:`heatmap_landmarks.models.ResNeXtUNetConfig`; data sources (``train``,
``val``, ``test``) by :func:`training.sutures.data.source_from_spec` when the run builds them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from heatmap_landmarks.errors import InputError
from heatmap_landmarks.models import ResNeXtUNetConfig

from ..common.config import ConfigError, TrainConfig, check, check_pair, is_number

__all__ = ["LOSSES", "SutureAugmentConfig", "SutureTrainConfig", "TargetConfig"]

LOSSES = ("dice", "bce", "focal", "dice+bce")


# --------------------------------------------------------------------------- augmentation
@dataclass
class SutureAugmentConfig:
    """Probabilities and ranges of the suture augmentation.

    Attributes:
        hflip_p, vflip_p: flip probabilities.
        rotate_p: probability of a rotation; ``max_rotation_deg``: its range (+-).
        colour_jitter_p: probability of colour jitter; ``brightness``,
            ``contrast``, ``saturation`` are multiplicative ranges
            (factor uniform in ``[1 - v, 1 + v]``), ``hue`` a fraction of the hue circle (+-).
        brightness_contrast_p: probability of a random brightness/contrast change;
            ``brightness_limit`` is added (+-), ``contrast_limit`` scales about 0.5 (1 +- v).
        crop: ``[H, W]`` of a random crop (multiples of 32 for the U-Net), or None.
        scale_p: probability of a zoom about the frame centre by a factor uniform
            in ``scale_range`` ``[lo, hi]`` (same frame size, black fill).
        blur_p: probability of a Gaussian blur, sigma uniform in [0.3, ``max_blur_sigma``] px.
        soften_p: probability of downscaling by a factor uniform in
            ``soften_range`` ``[lo, hi]`` (< 1) and upscaling back (geometry unchanged).
        noise_p: probability of Gaussian noise, std uniform in [0, ``noise_std``].
        jpeg_p: probability of JPEG re-compression, quality uniform in ``jpeg_quality`` ``[lo, hi]``.

    >>> SutureAugmentConfig(hflip_p=1.5)
    Traceback (most recent call last):
    ...
    training.common.config.ConfigError: 'hflip_p' must be a probability in [0, 1], got 1.5
    """

    hflip_p: float = 0.5
    vflip_p: float = 0.5
    rotate_p: float = 0.5
    max_rotation_deg: float = 40.0
    colour_jitter_p: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.03
    brightness_contrast_p: float = 0.5
    brightness_limit: float = 0.2
    contrast_limit: float = 0.2
    crop: list | None = None
    scale_p: float = 0.0
    scale_range: list = field(default_factory=lambda: [0.8, 1.25])
    blur_p: float = 0.0
    max_blur_sigma: float = 1.2
    soften_p: float = 0.0
    soften_range: list = field(default_factory=lambda: [0.55, 0.9])
    noise_p: float = 0.0
    noise_std: float = 0.03
    jpeg_p: float = 0.0
    jpeg_quality: list = field(default_factory=lambda: [35, 90])

    def __post_init__(self) -> None:
        for name in ("hflip_p", "vflip_p", "rotate_p", "colour_jitter_p", "brightness_contrast_p", "scale_p",
                     "blur_p", "soften_p", "noise_p", "jpeg_p"):
            v = getattr(self, name)
            check(is_number(v) and 0.0 <= v <= 1.0, name, f"must be a probability in [0, 1], got {v!r}")
        for name in ("max_rotation_deg", "brightness", "contrast", "saturation", "hue", "brightness_limit",
                     "contrast_limit"):
            v = getattr(self, name)
            check(is_number(v) and 0.0 <= v < 1e3, name, f"must be a number >= 0, got {v!r}")
        for name in ("brightness", "contrast", "saturation", "contrast_limit"):
            check(getattr(self, name) < 1, name, f"is a multiplicative range and must be < 1, got {getattr(self, name)!r}")
        for name, lo, hi in (("scale_range", 0.2, 5.0), ("soften_range", 0.1, 1.0), ("jpeg_quality", 1, 100)):
            check_pair(getattr(self, name), name, lo, hi)
            setattr(self, name, list(getattr(self, name)))
        for name in ("max_blur_sigma", "noise_std"):
            v = getattr(self, name)
            check(is_number(v) and 0.0 <= v <= 10.0, name, f"must be a number in [0, 10], got {v!r}")
        if self.crop is not None:
            c = self.crop
            check(isinstance(c, (list, tuple)) and len(c) == 2
                  and all(not isinstance(v, bool) and isinstance(v, int) and v >= 1 for v in c),
                  "crop", f"must be [H, W] positive integers or null, got {c!r}")
            self.crop = list(c)

    @classmethod
    def off(cls) -> "SutureAugmentConfig":
        """No augmentation at all (validation)."""
        return cls(hflip_p=0.0, vflip_p=0.0, rotate_p=0.0, colour_jitter_p=0.0, brightness_contrast_p=0.0)


# --------------------------------------------------------------------------- targets
@dataclass
class TargetConfig:
    """How targets are drawn: Gaussian variance ``sigma2`` (px^2) and truncation (sigmas)."""

    sigma2: float = 5.0
    truncate: float = 3.0


# --------------------------------------------------------------------------- the run
@dataclass
class SutureTrainConfig(TrainConfig):
    """Typed config of a suture training run (JSON file; unknown keys and wrong types are errors).

    Attributes:
        name: run/card name.
        description: free text (what the run is for); not used.
        out_dir: output folder (relative paths: from the current directory).
        seed: seeds torch, numpy, python, augmentation and data order.
        device: ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
        threads: torch CPU threads (1 on a shared CPU); null = torch default.
        amp: mixed precision on CUDA (ignored on CPU).
        model: :class:`ResNeXtUNetConfig` fields (defaults = the seed's network).
        loss: ``"dice"`` (seed), ``"bce"``, ``"focal"`` or ``"dice+bce"``.
        bce_pos_weight: up-weighting of positive pixels in BCE (null = 1).
        focal_gamma, focal_alpha: focal loss settings.
        sigma2: Gaussian variance of the target blobs, px^2.
        init_from: a trained suture model card (.json) whose weights start the run (fine-tuning);
            its architecture config must equal ``model``'s. Empty: random initialisation.
        head_bias_init: initial bias of the final 1x1 conv (logit of the prior
            foreground probability; -4 = 1.8%, as in RetinaNet). Suture blobs
            cover ~1% of a frame; starting every pixel at p = 0.5 makes the
            soft Dice loss nearly flat for the first hundreds of steps. null = 0.
        train: list of data sources (see :func:`training.sutures.data.source_from_spec`).
        val: sources for validation (full frames, no augmentation).
        test: named held-out sets evaluated through ``SuturePredictor`` at the end,
            ``{"name": ..., "domain": "intraop", ...source keys}``; recorded in the card's metrics.
        augment: :class:`SutureAugmentConfig` (``crop`` speeds up CPU training).
        batch_size: frames per optimiser step per process.
        lr, weight_decay: AdamW settings; ``warmup_steps`` of linear warm-up,
            then cosine decay to ``lr * min_lr_ratio`` over the run.
        max_steps, max_minutes: budget (the cosine follows whichever runs out first).
        val_every, checkpoint_every: in optimiser steps.
        num_workers: DataLoader workers (0 on a shared CPU; phantom frames are cached in-process).
        decoder_grid: settings tried when tuning the decoder (null = the default grid).
        training_data: text for the card (what the network saw).
        notes: text for the card.
    """

    name: str = "sutures"
    description: str = ""
    out_dir: str = "runs/sutures"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    amp: bool = True
    model: dict = field(default_factory=dict)
    loss: str = "dice"
    bce_pos_weight: float | None = None
    focal_gamma: float = 2.0
    focal_alpha: float | None = 0.25
    sigma2: float = 5.0
    head_bias_init: float | None = -4.0
    init_from: str = ""
    train: list = field(default_factory=list)
    val: list = field(default_factory=list)
    test: list = field(default_factory=list)
    augment: SutureAugmentConfig = field(default_factory=SutureAugmentConfig)
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    min_lr_ratio: float = 0.02
    max_steps: int = 1000
    max_minutes: float | None = None
    val_every: int = 200
    checkpoint_every: int = 100
    num_workers: int = 0
    decoder_grid: dict | None = None
    training_data: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        check(self.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("batch_size", "max_steps", "val_every", "checkpoint_every"):
            v = getattr(self, name)
            check(is_number(v, integer=True) and v >= 1, name, f"must be a positive integer, got {v!r}")
        for name in ("warmup_steps", "num_workers", "seed"):
            v = getattr(self, name)
            check(is_number(v, integer=True) and v >= 0, name, f"must be an integer >= 0, got {v!r}")
        for name in ("lr", "sigma2"):
            v = getattr(self, name)
            check(is_number(v) and v > 0, name, f"must be a positive number, got {v!r}")
        check(self.max_minutes is None or (is_number(self.max_minutes) and self.max_minutes > 0), "max_minutes",
              f"must be a positive number or null, got {self.max_minutes!r}")
        check(bool(self.train), "train", "must list at least one data source")
        check(bool(self.val), "val", "must list at least one data source (the decoder is tuned on it)")
        for t in self.test:
            check(isinstance(t, dict) and "name" in t and "domain" in t, "test",
                  f"entries each need a 'name' and a 'domain', got {t!r}")
        try:
            ResNeXtUNetConfig.from_dict(self.model)  # validate early, with the model's own message
        except InputError as err:
            raise ConfigError(None, f"'model' {err.problem}") from None
