"""PatchGAN discriminator: one class for the cardiac GAN and for CycleGAN.

A stack of 4x4 convolutions; each output logit judges one receptive-field
patch of the input, and the loss averages over patches.

* Cardiac GAN (Kanakatte et al.), the default: conditional on the image (input
  = image (+) heatmap, ``in_channels = 1 + C``), ``n_layers=6`` convs all with
  stride 2, so a 256x256 input gives ``(B, 1, 4, 4)`` logits; batch norm,
  LeakyReLU(0.2), dropout 0.6 (adjustable during training).
* CycleGAN / pix2pix "70x70 PatchGAN" (``n_layers=3`` in pix2pix's counting):
  ``PatchDiscriminatorConfig.cyclegan()`` = ``n_layers=5, n_strided=3``,
  instance norm, unconditional, no dropout: 256x256 -> ``(B, 1, 30, 30)``.

Layer ``i`` (0-based) of ``n_layers``: 4x4 conv, stride 2 when ``i <
n_strided`` else 1, padding 1, ``min(base_width * 2**i, max_width)`` channels;
then norm (not on the first layer), LeakyReLU(0.2) and dropout. The last layer
is a 4x4 conv to 1 channel with no norm or activation (raw logits).
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..errors import InputError
from .common import NORMS, init_gan_weights, make_norm, set_dropout
from .config_base import ModelConfig

_LEAK = 0.2


@dataclasses.dataclass
class PatchDiscriminatorConfig(ModelConfig):
    """Config of :class:`PatchDiscriminator`.

    Attributes:
        in_channels: channels the first conv sees (conditional: image + heatmap channels).
        base_width: channels of the first conv; doubled per layer up to ``max_width``.
        max_width: channel cap.
        n_layers: number of 4x4 convs including the 1-channel output conv (>= 2).
        n_strided: how many of the first convs use stride 2 (the rest stride 1).
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        dropout: initial dropout probability after each hidden layer.
        conditional: if true, ``forward(image, heatmap)`` concatenates its two
            inputs along channels; otherwise ``forward(x)``.

    >>> PatchDiscriminatorConfig(in_channels=2).receptive_field()
    190
    >>> PatchDiscriminatorConfig.cyclegan().receptive_field()
    70
    """

    in_channels: int = 2
    base_width: int = 64
    max_width: int = 512
    n_layers: int = 6
    n_strided: int = 6
    norm: str = "batch"
    dropout: float = 0.6
    conditional: bool = True

    def __post_init__(self) -> None:
        for name in ("in_channels", "base_width", "max_width"):
            self._check_int(name)
        self._check_int("n_layers", minimum=2)
        self._check_int("n_strided", minimum=0)
        self._check_choice("norm", NORMS)
        self._check_probability("dropout")
        self._check_bool("conditional")
        if self.n_strided > self.n_layers:
            self._fail(f"n_strided ({self.n_strided}) cannot exceed n_layers ({self.n_layers})")
        if self.max_width < self.base_width:
            self._fail(f"max_width ({self.max_width}) must be >= base_width ({self.base_width})")
        if self.conditional and self.in_channels < 2:
            self._fail("a conditional discriminator needs in_channels >= 2 (image + heatmap)")

    @classmethod
    def cyclegan(cls, in_channels: int = 3, base_width: int = 64) -> "PatchDiscriminatorConfig":
        """The 70x70 PatchGAN of pix2pix/CycleGAN (pix2pix's ``n_layers=3``)."""
        return cls(in_channels=in_channels, base_width=base_width, max_width=8 * base_width,
                   n_layers=5, n_strided=3, norm="instance", dropout=0.0, conditional=False)

    def strides(self) -> list[int]:
        return [2 if i < self.n_strided else 1 for i in range(self.n_layers)]

    def receptive_field(self) -> int:
        """Side, in input pixels, of the patch each output logit sees."""
        field = 1
        for stride in reversed(self.strides()):
            field = (field - 1) * stride + 4
        return field

    def output_size(self, size: int) -> int:
        """Output side for an input side ``size`` (4x4 kernels, padding 1)."""
        for stride in self.strides():
            size = (size + 2 - 4) // stride + 1
        return size


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator returning raw patch logits.

    ``forward(image, heatmap)`` (conditional) or ``forward(x)``: inputs
    ``(B, c, H, W)`` float32 whose channels sum to ``in_channels``; output
    ``(B, 1, h, w)`` float32 logits, e.g. ``(B, 1, 4, 4)`` for 256x256 with the
    default six stride-2 layers.

    >>> d = PatchDiscriminator(in_channels=2, base_width=4, n_layers=3, n_strided=3)
    >>> d(torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 1, 4, 4])
    """

    def __init__(self, config: PatchDiscriminatorConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = PatchDiscriminatorConfig(**overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        layers: list[nn.Module] = []
        cin = config.in_channels
        strides = config.strides()
        for i, stride in enumerate(strides[:-1]):
            cout = min(config.base_width * 2 ** i, config.max_width)
            # A bias is redundant right before batch norm (its shift absorbs it).
            layers.append(nn.Conv2d(cin, cout, 4, stride=stride, padding=1,
                                    bias=i == 0 or config.norm != "batch"))
            if i > 0:
                layers.append(make_norm(config.norm, cout))
            layers.append(nn.LeakyReLU(_LEAK, inplace=True))
            layers.append(nn.Dropout(config.dropout))
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, stride=strides[-1], padding=1))
        self.net = nn.Sequential(*layers)
        init_gan_weights(self)

    def forward(self, image: torch.Tensor, heatmap: torch.Tensor | None = None) -> torch.Tensor:
        """Patch logits ``(B, 1, h, w)``; see the class docstring for inputs."""
        if self.config.conditional:
            if heatmap is None:
                raise InputError(None, "PatchDiscriminator is conditional: call it as forward(image, heatmap)")
            x = torch.cat([image, heatmap], dim=1)
        else:
            if heatmap is not None:
                raise InputError(None, "PatchDiscriminator is unconditional: call it as forward(x)")
            x = image
        if x.dim() != 4 or x.shape[1] != self.config.in_channels:
            raise InputError(None, f"PatchDiscriminator expects {self.config.in_channels} input channel(s) "
                                   f"in total, got shape {tuple(x.shape)}")
        return self.net(x)

    def set_dropout(self, p: float) -> int:
        """Set every dropout layer to probability ``p``; returns how many were changed."""
        return set_dropout(self, p)
