"""Small real models and frames with known answers, for tests and self-tests.

:func:`make_spot_detector` saves a genuine :class:`~heatmap_landmarks.models.ResNeXtUNet`
checkpoint (safetensors + model card, loaded by the normal
:class:`~heatmap_landmarks.inference.SuturePredictor`) whose weights are set by
hand instead of trained: its heatmap is ``sigmoid(gain * (red - level))``
pixel by pixel. Frames drawn by :func:`draw_spot_frame` (bright red discs on
a dark red background) therefore give one heatmap blob per disc, centred on
the disc, and an even background gives no point at all. Tests can run the
whole pipeline (preprocessing, network, decoding, Slicer nodes, files) on
tiny frames and check exact positions, without waiting for trained weights.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import PathLike

__all__ = ["make_spot_detector", "draw_spot_frame", "realdata_root"]

#: Environment variable that points the tests and evaluation scripts at the real-data folder.
REALDATA_ENV = "HEATMAP_LANDMARKS_REALDATA"


def realdata_root() -> Path:
    """Folder of the real images used for validation (``$HEATMAP_LANDMARKS_REALDATA``, else
    ``../shared/realdata`` beside the repository). It is never part of the project; callers
    skip when it is absent."""
    import os

    env = os.environ.get(REALDATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "realdata"


def make_spot_detector(folder: PathLike, *, name: str = "spot_detector", gain: float = 20.0,
                       level: float = 0.5, decoder: dict | None = None) -> Path:
    """Write a hand-weighted suture checkpoint ``<folder>/<name>.{safetensors,json}``.

    The network is a depth-2 ResNeXtUNet (widths 8/16, bottleneck 32). Only
    the path stem -> last decoder level -> head carries weights: channel 0 of
    the stem copies the red input channel and the head computes
    ``gain * (red - level)``; every other weight is zero and batch norms are
    identities. The card normalises with mean 0 and std 1 (raw RGB in).

    Returns:
        path of the model card (``.json``).

    >>> import tempfile
    >>> from heatmap_landmarks.sutures import SuturePredictor
    >>> card = make_spot_detector(tempfile.mkdtemp())
    >>> frame = draw_spot_frame((40, 70), [[20.0, 10.0], [50.0, 30.0]])
    >>> pred = next(SuturePredictor(card).predict_sutures([frame]))
    >>> sorted(pred.points.round(1).tolist())
    [[20.0, 10.0], [50.0, 30.0]]
    """
    import torch

    from .checkpoint import ModelCard, save_checkpoint
    from .models import ResNeXtUNet, ResNeXtUNetConfig

    config = ResNeXtUNetConfig(encoder_widths=(8, 16), bottleneck_width=32, decoder_widths=(8, 8), cardinality=2)
    model = ResNeXtUNet(config)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.zero_()
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, torch.nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.zero_()
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
        model.stem[0].weight[0, 0, 1, 1] = 1.0  # stem channel 0 <- red (centre tap only: no blur)
        last = model.decoder[-1]
        upsampled = last.convs[0].in_channels - config.encoder_widths[0]
        last.convs[0].weight[0, upsampled, 1, 1] = 1.0  # take skip-0 channel 0, ignore the deep path
        for conv in list(last.convs)[3::3]:
            conv.weight[0, 0, 1, 1] = 1.0
        model.head.weight[0, 0, 0, 0] = float(gain)
        model.head.bias[0] = -float(gain) * float(level)
    card = ModelCard(
        name=name, task="sutures", architecture="ResNeXtUNet", config=config.to_dict(),
        landmark_names=["suture"], heatmap_mode="single", sigma2=5.0, input_size=[64, 96],
        normalisation={"method": "mean_std", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
        decoder=dict(decoder or {"opening_kernel": 3, "cut": True}),
        training_data="none: weights set by hand (red-spot detector for tests)",
        notes=f"heatmap = sigmoid({gain:g} * (red - {level:g}))",
    )
    folder = Path(folder)
    _, card_path = save_checkpoint(model, card, folder / name, overwrite=True)
    return card_path


def draw_spot_frame(shape, centres, *, radius: float = 3.0, background: float = 0.2,
                    dtype=np.float32) -> np.ndarray:
    """An ``(H, W, 3)`` RGB frame: bright red discs at ``centres`` on an even dark-red background.

    Args:
        shape: ``(H, W)``.
        centres: ``(N, 2)`` (x, y) pixels, N >= 0.
        radius: disc radius in pixels (>= 2.5 survives a 3 px opening).
        dtype: ``np.float32`` (values in [0, 1]) or ``np.uint8`` (0..255).

    >>> f = draw_spot_frame((8, 10), [[4, 3]], radius=1.0)
    >>> f.shape, float(f[3, 4, 0]), round(float(f[0, 0, 0]), 3)
    ((8, 10, 3), 1.0, 0.2)
    """
    h, w = (int(v) for v in shape)
    yy, xx = np.mgrid[0:h, 0:w]
    red = np.full((h, w), float(background))
    for x, y in np.asarray(centres, dtype=np.float64).reshape(-1, 2):
        red[(xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2] = 1.0
    frame = np.stack([red, 0.35 * red + 0.1, 0.3 * red + 0.1], axis=-1)
    if np.dtype(dtype) == np.uint8:
        return np.round(frame * 255).astype(np.uint8)
    return frame.astype(dtype)
