"""Small, exactly known inputs and models for the module's tests (Slicer self-test and pytest).

* :func:`save_identity_checkpoint` writes a real :class:`CardiacGenerator`
  checkpoint (safetensors + model card, through ``save_checkpoint``) whose
  weights are set by hand so that the network returns its input image:
  a stride-2 2x2 average followed by bilinear x2 upsampling (the half-pixel
  shifts of the two cancel). Fed an image of Gaussian blobs it "detects" the
  blob centres, so tests know the right answer without a trained model and
  still run the whole real pipeline (card, sha256, preprocessing, torch,
  decoding, naming, geometry).
* :func:`blob_frame` draws such images.

Nothing here imports Qt; torch is imported only when a checkpoint is made.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

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

    from heatmap_landmarks.checkpoint import ModelCard, save_checkpoint
    from heatmap_landmarks.models import build_model

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
    >>> frame.shape, np.unravel_index(int(frame.argmax()), frame.shape)
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
