"""CycleGAN ResNet generator and image history pool (after Zhu et al. 2017).

Used to translate endoscopic frames between domains (e.g. synthetic phantom
<-> real style). The discriminators are
:class:`~heatmap_landmarks.models.patch_discriminator.PatchDiscriminator` with
``PatchDiscriminatorConfig.cyclegan()``; the losses (LSGAN, cycle, identity)
live in :mod:`heatmap_landmarks.losses`.

Generator layout (Johnson et al. / CycleGAN "resnet_9blocks")::

    c7s1-ngf, d(2ngf), d(4ngf), R(4ngf) x n_blocks, u(2ngf), u(ngf), c7s1-out, tanh

with reflection padding and instance norm. ``ImagePool`` is here because it is
model-side training state: the discriminator is updated with a history of
generated images rather than only the latest ones.
"""
from __future__ import annotations

import dataclasses
import random

import torch
from torch import nn

from .common import check_divisible, init_gan_weights, make_norm
from .config_base import ModelConfig


@dataclasses.dataclass
class ResnetGeneratorConfig(ModelConfig):
    """Config of :class:`ResnetGenerator`.

    Attributes:
        in_channels, out_channels: 3 for RGB.
        ngf: channels of the first conv; doubled at each downsampling.
        n_blocks: residual blocks at the lowest resolution (CycleGAN: 9 for 256x256, 6 for 128x128).
        n_downsampling: stride-2 convs (and matching upsamplings); H, W must be multiples of ``2**n_downsampling``.
        norm: ``"instance"`` (CycleGAN) or ``"batch"``.
        dropout: dropout inside residual blocks (CycleGAN default 0).
        upsample: ``"transpose"`` (transposed conv, original) or ``"resize"``
            (nearest x2 + 3x3 conv, avoids checkerboard artefacts).

    >>> ResnetGeneratorConfig(n_blocks=6).to_dict()["n_blocks"]
    6
    """

    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    n_blocks: int = 9
    n_downsampling: int = 2
    norm: str = "instance"
    dropout: float = 0.0
    upsample: str = "transpose"

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "ngf"):
            self._check_int(name)
        self._check_int("n_blocks", minimum=0)
        self._check_int("n_downsampling", minimum=0)
        self._check_choice("norm", ("instance", "batch"))
        self._check_probability("dropout")
        self._check_choice("upsample", ("transpose", "resize"))


class ResidualBlock(nn.Module):
    """``x + [pad-conv3x3-norm-ReLU-(dropout)-pad-conv3x3-norm](x)``; shape-preserving."""

    def __init__(self, channels: int, norm: str, dropout: float):
        super().__init__()
        bias = norm == "instance"
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), make_norm(norm, channels),
                  nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), make_norm(norm, channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN generator: ``(B, in_channels, H, W)`` in [-1, 1] -> ``(B, out_channels, H, W)`` in [-1, 1].

    H and W must be multiples of ``2**n_downsampling`` (4 by default).

    >>> g = ResnetGenerator(ngf=4, n_blocks=1)
    >>> y = g(torch.zeros(1, 3, 16, 16)); tuple(y.shape), bool(y.abs().max() <= 1)
    ((1, 3, 16, 16), True)
    """

    def __init__(self, config: ResnetGeneratorConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = ResnetGeneratorConfig(**overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        norm, ngf = config.norm, config.ngf
        bias = norm == "instance"  # batch norm's shift makes a conv bias redundant
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(config.in_channels, ngf, 7, bias=bias),
                                   make_norm(norm, ngf), nn.ReLU(inplace=True)]
        ch = ngf
        for _ in range(config.n_downsampling):
            layers += [nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1, bias=bias), make_norm(norm, 2 * ch),
                       nn.ReLU(inplace=True)]
            ch *= 2
        layers += [ResidualBlock(ch, norm, config.dropout) for _ in range(config.n_blocks)]
        for _ in range(config.n_downsampling):
            if config.upsample == "transpose":
                layers.append(nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias))
            else:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                           nn.Conv2d(ch, ch // 2, 3, bias=bias)]
            layers += [make_norm(norm, ch // 2), nn.ReLU(inplace=True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, config.out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_gan_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` in [-1, 1] -> ``(B, out_channels, H, W)`` in [-1, 1]."""
        check_divisible("ResnetGenerator", x, 2 ** self.config.n_downsampling, self.config.in_channels)
        return self.net(x)


class ImagePool:
    """History of generated images for discriminator updates (Shrivastava et al.; CycleGAN).

    :meth:`query` takes a batch ``(B, C, H, W)`` of freshly generated images
    and returns a batch of the same shape: while the pool holds fewer than
    ``pool_size`` images each new image is stored and returned; afterwards each
    returned image is, with probability ``p``, an older image from the pool
    (which the new one replaces) and otherwise the new image itself. Images are
    stored detached. ``pool_size=0`` disables the pool. Deterministic given ``seed``.

    >>> pool = ImagePool(pool_size=2, seed=0)
    >>> pool.query(torch.zeros(3, 1, 2, 2)).shape, len(pool)
    (torch.Size([3, 1, 2, 2]), 2)
    """

    def __init__(self, pool_size: int = 50, p: float = 0.5, seed: int | None = None):
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 0:
            raise ValueError(f"pool_size must be an integer >= 0, got {pool_size!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.pool_size = pool_size
        self.p = float(p)
        self._images: list[torch.Tensor] = []
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self._images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Mix of new and past generated images, ``(B, C, H, W)``, detached."""
        images = images.detach()
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self._images) < self.pool_size:
                self._images.append(image.clone())
                out.append(image)
            elif self._rng.random() < self.p:
                index = self._rng.randrange(self.pool_size)
                out.append(self._images[index])
                self._images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, dim=0)
