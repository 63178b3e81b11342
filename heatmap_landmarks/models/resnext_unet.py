"""ResNeXt-encoder U-Net for suture heatmaps (after Yao et al., AdaptOR 2021).

"Improved Heatmap-based Landmark Detection": a U-Net of depth 5 whose encoder
is built from ResNeXt blocks (residual bottlenecks with grouped 3x3
convolutions); a single-channel heatmap marks every suture entry point.

Layout for the defaults (``E`` = encoder_widths, ``D`` = decoder_widths, input
``(B, 3, 288, 512)``)::

    stem   conv3x3-BN-ReLU                      E0=16  @ 288x512  -> skip 0
    stage1 ResNeXt block(s), first stride 2     E1=32  @ 144x256  -> skip 1
    stage2                                      E2=64  @  72x128  -> skip 2
    stage3                                      E3=128 @  36x64   -> skip 3
    stage4                                      E4=256 @  18x32   -> skip 4
    bottleneck                                  512    @   9x16
    decoder level l = 4..0: upsample x2, concat skip l, (conv3x3-BN-ReLU) x decoder_convs -> D_l
    head   conv1x1 -> out_channels logits        @ 288x512

ResNeXt block: 1x1 conv to ``mid = width // width_divisor`` channels, grouped
3x3 conv with ``cardinality`` groups (carrying the stride), 1x1 conv back to
``width``; batch norm after each, ReLU, residual shortcut (1x1 conv + BN when
shape changes). Nothing is downloaded: weights start from He-normal init.

Frames are padded to multiples of ``2**depth`` (32), never resized.

Speed (defaults: 1.82 M parameters, 6.8 GFLOPs per 288x512 frame): about
50-55 ms/frame on 2 CPU threads after
:func:`~heatmap_landmarks.models.prepare_for_inference` (BN folded,
channels-last), roughly twice that without it.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .common import check_divisible, init_kaiming
from .config_base import ModelConfig


@dataclasses.dataclass
class ResNeXtUNetConfig(ModelConfig):
    """Config of :class:`ResNeXtUNet`.

    Attributes:
        in_channels: 3 for RGB frames.
        out_channels: heatmap channels (1 for sutures).
        encoder_widths: channels per resolution level, full resolution first;
            its length is the U-Net depth (number of stride-2 stages).
        bottleneck_width: channels at the deepest level (``1/2**depth`` resolution).
        decoder_widths: channels of the decoder at each level (same order as
            ``encoder_widths``); ``None`` means ``max(E_l // 2, E_0)``, i.e.
            (16, 16, 32, 64, 128) for the default encoder: halving the decoder
            keeps the full-resolution levels cheap enough for >= 10 frames/s on 2 CPU cores.
        cardinality: groups of the ResNeXt 3x3 convolutions.
        width_divisor: a block of width ``w`` has ``w // width_divisor`` inner channels,
            which must be divisible by ``cardinality``.
        blocks_per_stage: ResNeXt blocks per encoder stage (the first one downsamples).
        decoder_convs: 3x3 conv-BN-ReLU layers per decoder level.
        upsample: ``"bilinear"`` or ``"nearest"``.
        apply_sigmoid: if true, ``forward`` returns probabilities instead of logits
            (train with false; :meth:`ResNeXtUNet.predict` applies the sigmoid anyway).

    >>> ResNeXtUNetConfig(encoder_widths=(8, 16), bottleneck_width=32, cardinality=12)
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: ResNeXtUNetConfig: cardinality 12 must divide ...; width 16 has 8 inner channels
    """

    in_channels: int = 3
    out_channels: int = 1
    encoder_widths: tuple = (16, 32, 64, 128, 256)
    bottleneck_width: int = 512
    decoder_widths: tuple | None = None
    cardinality: int = 8
    width_divisor: int = 2
    blocks_per_stage: int = 1
    decoder_convs: int = 2
    upsample: str = "bilinear"
    apply_sigmoid: bool = False

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "bottleneck_width", "cardinality", "width_divisor",
                     "blocks_per_stage", "decoder_convs"):
            self._check_int(name)
        self._check_int_tuple("encoder_widths")
        if self.decoder_widths is not None:
            self._check_int_tuple("decoder_widths", length=len(self.encoder_widths))
        self._check_choice("upsample", ("bilinear", "nearest"))
        self._check_bool("apply_sigmoid")
        if len(self.encoder_widths) > 7:
            self._fail(f"at most 7 levels are supported, got {len(self.encoder_widths)}")
        for width in self.block_widths():
            if width % self.width_divisor:
                self._fail(f"width_divisor {self.width_divisor} must divide every block width; got width {width}")
            mid = width // self.width_divisor
            if mid % self.cardinality:
                self._fail(f"cardinality {self.cardinality} must divide the inner width of every ResNeXt "
                           f"block; width {width} has {mid} inner channels")

    @property
    def depth(self) -> int:
        """Number of stride-2 stages; H and W must be multiples of ``2**depth``."""
        return len(self.encoder_widths)

    def block_widths(self) -> list[int]:
        """Output widths of the ResNeXt stages (all levels but the stem, plus the bottleneck)."""
        return list(self.encoder_widths[1:]) + [self.bottleneck_width]

    def resolved_decoder_widths(self) -> tuple:
        """Decoder channels per level, full resolution first."""
        if self.decoder_widths is not None:
            return self.decoder_widths
        return tuple(max(w // 2, self.encoder_widths[0]) for w in self.encoder_widths)


class ResNeXtBlock(nn.Module):
    """Residual bottleneck with a grouped 3x3 conv: ``(B, cin, H, W) -> (B, cout, H/s, W/s)``."""

    def __init__(self, cin: int, cout: int, stride: int, cardinality: int, width_divisor: int):
        super().__init__()
        mid = cout // width_divisor
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=cardinality, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        if stride == 1 and cin == cout:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class _DecoderLevel(nn.Module):
    def __init__(self, cin: int, cskip: int, cout: int, n_convs: int, mode: str):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))
        layers = _conv_bn_relu(cin + cskip, cout)
        for _ in range(n_convs - 1):
            layers += _conv_bn_relu(cout, cout)
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.convs(torch.cat([self.up(x), skip], dim=1))


class ResNeXtUNet(nn.Module):
    """U-Net with a ResNeXt encoder producing heatmap logits.

    Input ``(B, in_channels, H, W)`` float32 (RGB in [0, 1] after the card's
    normalisation), H and W multiples of ``2**depth`` (32 by default; pad,
    never resize). Output ``(B, out_channels, H, W)`` float32 logits (or
    probabilities when ``apply_sigmoid``).

    >>> net = ResNeXtUNet(encoder_widths=(8, 16), bottleneck_width=32, decoder_widths=(8, 8))
    >>> net(torch.zeros(1, 3, 32, 64)).shape
    torch.Size([1, 1, 32, 64])
    """

    def __init__(self, config: ResNeXtUNetConfig | None = None, **overrides):
        super().__init__()
        if config is None:
            config = ResNeXtUNetConfig(**overrides)
        elif overrides:
            config = dataclasses.replace(config, **overrides)
        self.config = config
        enc = list(config.encoder_widths)
        self.stem = nn.Sequential(*_conv_bn_relu(config.in_channels, enc[0]))
        self.stages = nn.ModuleList()
        cin = enc[0]
        for cout in config.block_widths():
            blocks = [ResNeXtBlock(cin, cout, 2, config.cardinality, config.width_divisor)]
            blocks += [ResNeXtBlock(cout, cout, 1, config.cardinality, config.width_divisor)
                       for _ in range(config.blocks_per_stage - 1)]
            self.stages.append(nn.Sequential(*blocks))
            cin = cout
        dec = list(config.resolved_decoder_widths())
        self.decoder = nn.ModuleList()
        for level in range(config.depth - 1, -1, -1):
            self.decoder.append(_DecoderLevel(cin, enc[level], dec[level], config.decoder_convs, config.upsample))
            cin = dec[level]
        self.head = nn.Conv2d(cin, config.out_channels, 1)
        init_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)`` logits (see ``apply_sigmoid``)."""
        check_divisible("ResNeXtUNet", x, 2 ** self.config.depth, self.config.in_channels)
        skips = [self.stem(x)]
        for stage in self.stages:
            skips.append(stage(skips[-1]))
        x = skips.pop()
        for level in self.decoder:
            x = level(x, skips.pop())
        x = self.head(x)
        return torch.sigmoid(x) if self.config.apply_sigmoid else x

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Heatmap probabilities in [0, 1], ``(B, out_channels, H, W)``, without gradients."""
        out = self(x)
        return out if self.config.apply_sigmoid else torch.sigmoid(out)
