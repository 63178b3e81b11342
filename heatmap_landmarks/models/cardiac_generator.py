"""U-Net generator of the cardiac landmark GAN (after Kanakatte et al.).

"Cardiac Landmark Detection using Generative Adversarial Networks from Cardiac
MR Images": a U-Net generator regresses a heatmap image; a PatchGAN
discriminator (:mod:`.patch_discriminator`) judges (image, heatmap) pairs.

Layout for the default ``depth=4`` and a 256x256 input (widths ``w_i =
min(base_width * 2**i, max_width)``)::

    input (B,1,256,256)
    enc0: conv3x3 s2 -> (B,w0,128,128) -+                            skip
    enc1: conv3x3 s2 -> (B,w1, 64, 64) -|-+                          skip
    enc2: conv3x3 s2 -> (B,w2, 32, 32) -|-|-+                        skip
    enc3: conv3x3 s2 -> (B,w3, 16, 16)  | | |
    FFE x3           -> (B,w3, 16, 16)  | | |
    dec2: up x2, conv3x3 -> w2, concat -+-+-+-> (B,2*w2, 32, 32)
    dec1: up x2, conv3x3 -> w1, concat       -> (B,2*w1, 64, 64)
    dec0: up x2, conv3x3 -> w0, concat       -> (B,2*w0,128,128)
    head: up x2, conv3x3 -> out_channels     -> (B,C,256,256), no activation

Every encoder conv is followed by batch norm and LeakyReLU(0.2); each encoder
stage ends with dropout (``dropout``, adjustable during training with
:meth:`CardiacGenerator.set_dropout`). ``encoder_convs`` (default 2) adds
stride-1 3x3 convs after each stride-2 conv: cheap at these resolutions and it
widens the receptive field. Decoder convs use batch norm and ReLU (or
LeakyReLU). Weights use He-normal init.

Speed (default ``base_width=16``: 0.51 M parameters, 1.25 GFLOPs per 256x256
frame): about 16 ms/frame on 2 CPU threads after
:func:`~heatmap_landmarks.models.prepare_for_inference` (BN folded,
channels-last), about 35 ms/frame without it.

Output channels: ``out_channels=1`` is the paper's form (one image holding all
N landmark Gaussians); ``out_channels=C`` gives one heatmap per landmark type.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .common import check_divisible, init_kaiming, set_dropout
from .config_base import ModelConfig

_LEAK = 0.2


@dataclasses.dataclass
class CardiacGeneratorConfig(ModelConfig):
    """Config of :class:`CardiacGenerator`.

    Attributes:
        in_channels: image channels (1: MR magnitude in [0, 1]).
        out_channels: heatmap channels; 1 = all landmarks in one image (paper),
            C = one channel per landmark type.
        base_width: channels of the first encoder stage; stage i has
            ``min(base_width * 2**i, max_width)``.
        max_width: cap on the channel count.
        depth: number of stride-2 encoder stages; H and W must be multiples of ``2**depth``.
        encoder_convs: convs per encoder stage (the first has stride 2, the others stride 1).
        dropout: initial dropout probability after every encoder stage.
        ffe_blocks: number of feature filter enhancing blocks at the bottleneck (0 disables).
        ffe_reduction: channel reduction of the squeeze-and-excitation gate.
        upsample: ``"bilinear"`` or ``"nearest"`` x2 upsampling in the decoder.
        decoder_activation: ``"relu"`` or ``"leaky_relu"`` (slope 0.2).

    >>> CardiacGeneratorConfig(base_width=8).to_dict()["base_width"]
    8
    >>> CardiacGeneratorConfig.from_dict({"widht": 8})
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: CardiacGeneratorConfig: unknown config key(s) 'widht'; valid keys are ...
    """

    in_channels: int = 1
    out_channels: int = 1
    base_width: int = 16
    max_width: int = 256
    depth: int = 4
    encoder_convs: int = 2
    dropout: float = 0.4
    ffe_blocks: int = 3
    ffe_reduction: int = 4
    upsample: str = "bilinear"
    decoder_activation: str = "relu"

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "base_width", "max_width", "depth",
                     "encoder_convs", "ffe_reduction"):
            self._check_int(name)
        self._check_int("ffe_blocks", minimum=0)
        self._check_probability("dropout")
        self._check_choice("upsample", ("bilinear", "nearest"))
        self._check_choice("decoder_activation", ("relu", "leaky_relu"))
        if self.max_width < self.base_width:
            self._fail(f"max_width ({self.max_width}) must be >= base_width ({self.base_width})")
        if self.depth > 8:
            self._fail(f"depth must be <= 8, got {self.depth}")

    def widths(self) -> list[int]:
        """Channel count of each encoder stage, shallow to deep."""
        return [min(self.base_width * 2 ** i, self.max_width) for i in range(self.depth)]


def _conv_bn_act(cin: int, cout: int, stride: int, act: nn.Module) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), act]


class FeatureFilterBlock(nn.Module):
    """One block of the feature filter enhancing (FFE) stage.

    The paper describes the FFE block only by its purpose: select the relevant
    features, reduce parameters and regularise. Our interpretation is gated
    filtering with a residual path::

        y = LeakyReLU(BN(pointwise(depthwise3x3(x))))   # cheap separable filter
        y = y * sigmoid(MLP(avgpool(y)))                 # channel gate (squeeze-excitation)
        y = y * sigmoid(conv7x7(y) -> 1 channel)         # spatial gate
        out = x + y

    The gates can only attenuate, so each block learns which channels and
    where to pass on; the separable filter keeps parameters low and the
    residual keeps the identity path when gates close. Shape-preserving:
    ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int, reduction: int = 4, spatial_kernel: int = 7):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.filter = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.LeakyReLU(_LEAK, inplace=True),
        )
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.spatial_gate = nn.Sequential(
            nn.Conv2d(channels, 1, spatial_kernel, padding=spatial_kernel // 2),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.filter(x)
        y = y * self.channel_gate(y)
        y = y * self.spatial_gate(y)
        return x + y


class _DecoderStage(nn.Module):
    """Upsample x2, 3x3 conv-BN-act to ``cout``, concatenate the skip: output ``cout + skip`` channels."""

    def __init__(self, cin: int, cout: int, mode: str, act: nn.Module):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
        self.conv = nn.Sequential(*_conv_bn_act(cin, cout, 1, act))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(self.up(x)), skip], dim=1)


class CardiacGenerator(nn.Module):
    """U-Net heatmap generator for cardiac MR landmarks.

    Input ``(B, in_channels, H, W)`` float32 intensities in [0, 1], H and W
    multiples of ``2**depth`` (256x256 in practice). Output ``(B, out_channels,
    H, W)`` float32 raw heatmap values (no activation; targets are Gaussians
    peaking at 1).

    >>> net = CardiacGenerator(base_width=4, depth=2)
    >>> net(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 1, 32, 32])
    """

    def __init__(self, config: CardiacGeneratorConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = CardiacGeneratorConfig(**overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        widths = config.widths()

        def act_dec() -> nn.Module:
            return nn.ReLU(inplace=True) if config.decoder_activation == "relu" else nn.LeakyReLU(_LEAK, inplace=True)

        self.encoder = nn.ModuleList()
        cin = config.in_channels
        for w in widths:
            layers = _conv_bn_act(cin, w, 2, nn.LeakyReLU(_LEAK, inplace=True))
            for _ in range(config.encoder_convs - 1):
                layers += _conv_bn_act(w, w, 1, nn.LeakyReLU(_LEAK, inplace=True))
            layers.append(nn.Dropout(config.dropout))
            self.encoder.append(nn.Sequential(*layers))
            cin = w
        self.ffe = nn.Sequential(*[FeatureFilterBlock(widths[-1], config.ffe_reduction)
                                   for _ in range(config.ffe_blocks)])
        self.decoder = nn.ModuleList()
        for i in range(config.depth - 2, -1, -1):
            self.decoder.append(_DecoderStage(cin, widths[i], config.upsample, act_dec()))
            cin = 2 * widths[i]
        self.head = nn.Sequential(
            nn.Upsample(scale_factor=2, mode=config.upsample,
                        **({"align_corners": False} if config.upsample == "bilinear" else {})),
            nn.Conv2d(cin, config.out_channels, 3, padding=1),
        )
        init_kaiming(self, negative_slope=_LEAK)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)`` raw heatmaps."""
        check_divisible("CardiacGenerator", x, 2 ** self.config.depth, self.config.in_channels)
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = self.ffe(skips.pop())
        for stage in self.decoder:
            x = stage(x, skips.pop())
        return self.head(x)

    def set_dropout(self, p: float) -> int:
        """Set every dropout layer to probability ``p``; returns how many were changed."""
        return set_dropout(self, p)
