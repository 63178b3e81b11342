"""Small real models and frames with known answers, for tests and self-tests.

Nothing here imports Slicer or Qt, and torch only when a checkpoint is made,
so the core tests, the CLI tests and both modules' self-tests share it.

Sutures: :func:`make_spot_detector` saves a genuine :class:`~heatmap_landmarks.models.ResNeXtUNet`
checkpoint (safetensors + model card, loaded by the normal
:class:`~heatmap_landmarks.inference.SuturePredictor`) whose weights are set by
hand instead of trained: its heatmap is ``sigmoid(gain * (red - level))``
pixel by pixel. Frames drawn by :func:`draw_spot_frame` (bright red discs on
a dark red background) therefore give one heatmap blob per disc, centred on
the disc, and an even background gives no point at all. Tests can run the
whole pipeline (preprocessing, network, decoding, Slicer nodes, files) on
tiny frames and check exact positions, without waiting for trained weights.

Cardiac: :func:`save_identity_checkpoint` writes a real :class:`CardiacGenerator`
checkpoint (safetensors + model card, through ``save_checkpoint``) whose
weights are set by hand so that the network returns its input image:
a stride-2 2x2 average followed by bilinear x2 upsampling (the half-pixel
shifts of the two cancel). Fed an image of Gaussian blobs (:func:`blob_frame`,
at :func:`blob_points`) it "detects" the blob centres, so tests know the right
answer without a trained model and still run the whole real pipeline (card,
sha256, preprocessing, torch, decoding, naming, geometry).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import PathLike

__all__ = ["make_spot_detector", "draw_spot_frame", "realdata_root", "SAX_BLOBS", "LAX_BLOBS",
           "save_identity_checkpoint", "blob_frame", "blob_points"]

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


# -- cardiac: input-copying models and Gaussian-blob frames ------------------------------

#: Blob positions (x, y) px on a 64 x 64 short-axis test frame: RVI-1 (up), RVI-2 (down), LV centre (right).
SAX_BLOBS = {"RVI-1": (20.0, 16.0), "RVI-2": (17.0, 46.0), "LVC": (40.0, 31.0)}
#: Blob positions (x, y) px on a 64 x 64 long-axis test frame: MV-1 (image left), MV-2 (right).
LAX_BLOBS = {"MV-1": (18.0, 30.0), "MV-2": (45.0, 33.0)}


def save_identity_checkpoint(folder, view: str = "sax", *, size: int = 64, spacing_mm: float = 1.0,
                             gain: float = 1.0, name: str | None = None) -> Path:
    """Write an input-copying cardiac model; returns the model card path.

    Args:
        view: "sax" (landmarks RVI-1, RVI-2, LVC) or "lax" (MV-1, MV-2).
        size: network input side (pixels); ``spacing_mm``: its pixel size.
        gain: output = gain x normalised input; below 1 lowers the confidence
            (used to make one model lose the automatic view choice).
    """
    import torch

    from .checkpoint import ModelCard, save_checkpoint
    from .models import build_model

    names = ["RVI-1", "RVI-2", "LVC"] if view == "sax" else ["MV-1", "MV-2"]
    config = {"base_width": 2, "max_width": 2, "depth": 1, "ffe_blocks": 0, "encoder_convs": 1, "dropout": 0.0}
    model = build_model("CardiacGenerator", config)
    with torch.no_grad():
        state = model.state_dict()
        conv = torch.zeros_like(state["encoder.0.0.weight"])
        conv[0, 0, 1:3, 1:3] = 0.25  # mean of pixels (2i, 2i+1): sample at 2i + 0.5
        bn_eps = model.encoder[0][1].eps
        head = torch.zeros_like(state["head.1.weight"])
        head[0, 0, 1, 1] = float(gain)
        state.update({
            "encoder.0.0.weight": conv,
            "encoder.0.1.weight": torch.ones_like(state["encoder.0.1.weight"]),
            "encoder.0.1.bias": torch.zeros_like(state["encoder.0.1.bias"]),
            "encoder.0.1.running_mean": torch.zeros_like(state["encoder.0.1.running_mean"]),
            "encoder.0.1.running_var": torch.full_like(state["encoder.0.1.running_var"], 1.0 - bn_eps),
            "head.1.weight": head,
            "head.1.bias": torch.zeros_like(state["head.1.bias"]),
        })
        model.load_state_dict(state)
    card = ModelCard(
        name=name or f"identity-{view}", task="cardiac", view=view, architecture="CardiacGenerator", config=config,
        landmark_names=names, heatmap_mode="single", sigma2=5.0, input_size=[int(size), int(size)],
        input_spacing_mm=float(spacing_mm), normalisation={"method": "percentile", "low": 1.0, "high": 99.0},
        decoder={"level": 0.5, "min_confidence": 0.1}, training_data="none: weights set by hand for tests",
        notes="returns its input; for tests only")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _, card_path = save_checkpoint(model, card, folder / (name or f"identity_{view}"))
    return card_path


def blob_frame(shape=(64, 64), points=None, *, sigma: float = 2.0, amplitude: float = 1000.0,
               background: float = 20.0) -> np.ndarray:
    """``(H, W)`` float32 image: Gaussian blobs at ``points`` ((N, 2) x, y px; NaN rows skipped) on a flat background.

    >>> frame = blob_frame((16, 20), [[5.0, 8.0]])
    >>> frame.shape, tuple(int(i) for i in np.unravel_index(int(frame.argmax()), frame.shape))
    ((16, 20), (8, 5))
    """
    h, w = (int(v) for v in shape)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    image = np.full((h, w), float(background))
    for x, y in np.asarray(points if points is not None else [], dtype=np.float64).reshape(-1, 2):
        if np.isfinite(x) and np.isfinite(y):
            image += amplitude * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2.0 * sigma ** 2))
    return image.astype(np.float32)


def blob_points(view: str, shift=(0.0, 0.0), *, drop=()) -> dict:
    """The standard blob positions of ``view`` moved by ``shift`` (x, y) px, without the names in ``drop``."""
    base = SAX_BLOBS if view == "sax" else LAX_BLOBS
    return {k: (v[0] + shift[0], v[1] + shift[1]) for k, v in base.items() if k not in drop}
