"""Typed config of a CycleGAN run (:mod:`training.cyclegan.train`).

Loaded by the shared loader (:mod:`training.common.config`): unknown keys,
wrong types and invalid values are one-line
:class:`~training.common.config.ConfigError` naming the file, the (dotted) key
and the line. ``generator`` is validated by
:class:`heatmap_landmarks.models.ResnetGeneratorConfig`; ``source_a``/``source_b``
by :func:`training.sutures.data.source_from_spec` when the run builds them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from heatmap_landmarks.errors import InputError
from heatmap_landmarks.models import ResnetGeneratorConfig

from ..common.config import ConfigError, TrainConfig, check, is_number

__all__ = ["CycleGANConfig"]


@dataclass
class CycleGANConfig(TrainConfig):
    """Typed config of a CycleGAN run (JSON; unknown keys and wrong types are errors).

    Attributes:
        name: prefix of the generator card names.
        description: free text; not used.
        out_dir, seed, device, threads, amp: as in the suture training.
        domain_a, domain_b: names of the two domains (``"sim"``, ``"intraop"``).
        source_a, source_b: data sources (:func:`training.sutures.data.source_from_spec`),
            unpaired; their labels are not used.
        generator: :class:`ResnetGeneratorConfig` fields (CycleGAN: ngf 64, 9 blocks).
        disc_base_width: channels of the discriminators' first layer (CycleGAN: 64).
        crop: ``[H, W]`` random training crop (multiple of 4).
        downscale: integer factor frames are shrunk by before cropping (1 = native scale).
        hflip_p: horizontal flip probability of training crops.
        batch_size: CycleGAN uses 1.
        lr, beta1, beta2: Adam settings.
        lambda_cycle, lambda_identity: loss weights (10 and 0.5 in CycleGAN).
        pool_size: image pool size (50 in CycleGAN).
        max_steps, max_minutes: budget; the learning rate decays linearly over the second half.
        log_every, checkpoint_every: in steps.
        stats_frames: frames per domain used to report colour statistics at the end.
    """

    name: str = "cyclegan"
    description: str = ""
    out_dir: str = "runs/cyclegan"
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    amp: bool = True
    domain_a: str = "sim"
    domain_b: str = "intraop"
    source_a: dict = field(default_factory=dict)
    source_b: dict = field(default_factory=dict)
    generator: dict = field(default_factory=dict)
    disc_base_width: int = 64
    crop: list = field(default_factory=lambda: [128, 224])
    downscale: int = 1
    hflip_p: float = 0.5
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5
    pool_size: int = 50
    max_steps: int = 1000
    max_minutes: float | None = None
    log_every: int = 50
    checkpoint_every: int = 100
    stats_frames: int = 16

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_steps", "log_every", "checkpoint_every", "disc_base_width", "downscale"):
            v = getattr(self, name)
            check(is_number(v, integer=True) and v >= 1, name, f"must be a positive integer, got {v!r}")
        check(isinstance(self.crop, (list, tuple)) and len(self.crop) == 2
              and all(is_number(v, integer=True) and v >= 16 for v in self.crop),
              "crop", f"must be [H, W] integers >= 16, got {self.crop!r}")
        try:
            gen = ResnetGeneratorConfig.from_dict(self.generator)
        except InputError as err:
            raise ConfigError(None, f"'generator' {err.problem}") from None
        m = 2 ** gen.n_downsampling
        check(self.crop[0] % m == 0 and self.crop[1] % m == 0, "crop",
              f"{self.crop} must be a multiple of {m} (2**n_downsampling)")
        check(bool(self.source_a), "source_a", "is required")
        check(bool(self.source_b), "source_b", "is required")
        check(self.domain_a != self.domain_b, "domain_b", f"must differ from domain_a, got {self.domain_b!r} for both")
