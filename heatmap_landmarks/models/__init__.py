"""Networks and the architecture registry.

Each network lives in its own module with its typed config dataclass.
:func:`build_model` turns a registry key plus a plain config dict (as stored
in a model card) into a network; unknown architectures or config keys are
errors that name them.

>>> net = build_model("CardiacGenerator", {"base_width": 4, "depth": 2})
>>> type(net).__name__, net.config.base_width
('CardiacGenerator', 4)
>>> build_model("CardiacGenerator", {"base_widht": 4})
Traceback (most recent call last):
...
heatmap_landmarks.errors.InputError: CardiacGeneratorConfig: unknown config key(s) 'base_widht'; valid keys are ...
"""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from ..errors import InputError
from .cardiac_generator import CardiacGenerator, CardiacGeneratorConfig, FeatureFilterBlock
from .common import prepare_for_inference, set_dropout
from .config_base import ModelConfig
from .cyclegan import ImagePool, ResnetGenerator, ResnetGeneratorConfig
from .flops import count_parameters, estimate_flops
from .patch_discriminator import PatchDiscriminator, PatchDiscriminatorConfig
from .resnext_unet import ResNeXtBlock, ResNeXtUNet, ResNeXtUNetConfig

#: Registry: architecture name (as written in model cards) -> (config class, network class).
ARCHITECTURES: dict[str, tuple[type[ModelConfig], type[nn.Module]]] = {
    "CardiacGenerator": (CardiacGeneratorConfig, CardiacGenerator),
    "PatchDiscriminator": (PatchDiscriminatorConfig, PatchDiscriminator),
    "ResNeXtUNet": (ResNeXtUNetConfig, ResNeXtUNet),
    "ResnetGenerator": (ResnetGeneratorConfig, ResnetGenerator),
}


def build_model(
    architecture: str,
    config: Mapping[str, Any] | ModelConfig | None = None,
    *,
    architectures: Mapping[str, tuple[type[ModelConfig], type[nn.Module]]] | None = None,
) -> nn.Module:
    """Build a network from its registry key and config.

    Args:
        architecture: a key of :data:`ARCHITECTURES` (or of ``architectures``).
        config: plain dict of config fields (missing ones take defaults;
            unknown ones raise), or an instance of the matching config class.
        architectures: alternative registry with the same layout.

    Returns:
        The network in training mode with freshly initialised weights.

    Raises:
        InputError: unknown architecture, unknown config key or invalid value.
    """
    registry = ARCHITECTURES if architectures is None else architectures
    if architecture not in registry:
        raise InputError(None, f"unknown architecture {architecture!r}; known: {', '.join(sorted(registry))}")
    config_cls, model_cls = registry[architecture]
    if isinstance(config, ModelConfig):
        if not isinstance(config, config_cls):
            raise InputError(None, f"{architecture} needs a {config_cls.__name__}, got {type(config).__name__}")
        cfg = config
    else:
        cfg = config_cls.from_dict(config)
    return model_cls(cfg)


__all__ = [
    "ARCHITECTURES", "CardiacGenerator", "CardiacGeneratorConfig", "FeatureFilterBlock", "ImagePool",
    "ModelConfig", "PatchDiscriminator", "PatchDiscriminatorConfig", "ResNeXtBlock", "ResNeXtUNet",
    "ResNeXtUNetConfig", "ResnetGenerator", "ResnetGeneratorConfig", "build_model", "count_parameters",
    "estimate_flops", "prepare_for_inference", "set_dropout",
]
