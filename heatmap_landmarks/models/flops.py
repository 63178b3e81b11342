"""Parameter counts and FLOP estimates (the one home of model-size reporting)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter scalars (buffers such as BN running stats excluded).

    >>> count_parameters(nn.Conv2d(2, 3, 3))  # 3*2*3*3 weights + 3 biases
    57
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _conv_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(module, nn.ConvTranspose2d):
        # Every input pixel is scattered through the full (cout/groups) x k x k kernel.
        x = inputs[0]
        per_input = module.out_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return x.numel() * per_input
    if isinstance(module, nn.Conv2d):
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return output.numel() * per_output
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def estimate_flops(model: nn.Module, input_shape: Sequence[int] | Sequence[Sequence[int]]) -> int:
    """FLOPs of one forward pass, counted as 2 x multiply-accumulates.

    Only ``Conv2d``, ``ConvTranspose2d`` and ``Linear`` layers are counted
    (biases, norms, activations, pooling and resampling are ignored: they are
    memory-bound and small in FLOPs). ``input_shape`` is one shape such as
    ``(1, 1, 256, 256)`` or, for a model taking several inputs (the
    conditional discriminator), a list of shapes. The count includes the batch
    dimension, so pass batch 1 for a per-frame figure. Runs one forward pass on
    zeros in eval mode, without gradients; the model's mode is restored.

    >>> estimate_flops(nn.Conv2d(1, 4, 3, padding=1), (1, 1, 8, 8))  # 2 * 8*8*4 * 1*3*3
    4608
    """
    shapes = [tuple(input_shape)] if isinstance(input_shape[0], int) else [tuple(s) for s in input_shape]
    try:
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        total += _conv_macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*[torch.zeros(s, device=device, dtype=dtype) for s in shapes])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return 2 * total
