"""A loaded checkpoint and its forward pass: the part of inference that every task shares.

:class:`Predictor` loads a model card's network (safetensors, sha256-checked),
picks the device and runs batches through it, averaged over test-time
quarter turns when asked. Each task subclasses it with its own preprocessing
and decoding (:class:`heatmap_landmarks.cardiac.CardiacPredictor`,
:class:`heatmap_landmarks.sutures.SuturePredictor`), and :class:`PredictorCache`
keeps loaded predictors between runs. Nothing here knows Slicer.

Imports only numpy at load time; torch comes in with the first predictor.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

from .catalog import resolve_weights
from .errors import InputError
from .timing import phase

__all__ = ["Cancelled", "DEVICES", "Predictor", "PredictorCache", "average_quarter_turns", "select_device"]

ProgressCallback = Callable[[int, int], None]  # (frames done, frames total)
CancelCheck = Callable[[], bool]


class Cancelled(Exception):
    """Raised between batches when the caller's ``should_cancel()`` returned True."""


def average_quarter_turns(forward: Callable[[np.ndarray], np.ndarray], batch: np.ndarray,
                          rotations: int) -> np.ndarray:
    """Test-time averaging of ``forward`` over 1, 2 or 4 quarter turns of the image grid.

    Args:
        forward: ``(B, C_in, h, w)`` float32 -> ``(B, C_out, h, w)`` heatmaps.
        batch: ``(B, C_in, h, w)``; ``h == w`` for 4 rotations.
        rotations: 1 (plain), 2 (0 and 180 degrees) or 4 (0, 90, 180, 270 degrees).
    Returns:
        ``(B, C_out, h, w)`` float32, the mean of the turned-back outputs.

    ``np.rot90`` permutes pixels exactly (no resampling), so every heatmap is
    turned back onto the input grid without loss. In-plane rotations keep the
    image's handedness, so no landmark identity changes (unlike mirrors).

    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> bool(np.array_equal(average_quarter_turns(lambda b: b * 2, x, 4), x * 2))
    True
    """
    if rotations not in (1, 2, 4):
        raise ValueError(f"rotations must be 1, 2 or 4, got {rotations!r}")
    if rotations == 1:
        return forward(batch)
    total = None
    for k in range(0, 4, 4 // rotations):
        y = np.rot90(forward(np.ascontiguousarray(np.rot90(batch, k, axes=(2, 3)))), -k, axes=(2, 3))
        total = y if total is None else total + y
    return np.ascontiguousarray(total / rotations, dtype=np.float32)


#: The devices a user may choose (Slicer panels, CLI); "auto" is CUDA when available, else CPU.
DEVICES = ("cpu", "cuda", "auto")


def select_device(device: str = "cpu") -> "torch.device":
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` -> torch.device; a clear error if CUDA is absent."""
    import torch

    if not isinstance(device, str) or not (device in DEVICES or device.startswith("cuda:")):
        raise InputError(None, f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise InputError(None, f"device '{device}' requested but CUDA is not available in this torch build ({torch.__version__}); use --device cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InputError(None, f"unknown device '{device}': {err}") from None


class Predictor:
    """A loaded checkpoint: network, card, device, batch size and test-time rotations.

    Args:
        weights: path to a model card (``.json``) or weights (``.safetensors``)
            file, or a catalogue key such as ``"cardiac_sax"``.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        batch_size: frames per forward pass.
        rotations: cardiac test-time augmentation: average the heatmaps of the frame turned
            by 0, 90, 180 and 270 degrees (4), by 0 and 180 degrees (2), or not at all (1).
            None = the card's ``rotations`` (default 1). Costs that many forward passes.

    Subclasses set :attr:`task_name`; loading a card of another task is then a one-line error.
    """

    #: The card task this predictor runs (None: any), and how messages call it.
    task_name: str | None = None
    task_label: str = ""

    def __init__(self, weights: str | os.PathLike = "cardiac_sax", *, device: str = "cpu", batch_size: int = 8,
                 fast: bool = True, rotations: int | None = None):
        from .checkpoint import load_card, load_checkpoint

        if batch_size < 1:
            raise InputError(None, f"batch size must be >= 1, got {batch_size}")
        self.weights_path = resolve_weights(weights)
        card = load_card(self.weights_path)  # a bad or unreadable card fails here, in one line, before torch
        with phase("imports"):
            import torch

            from .models.common import prepare_for_inference
        self.device = select_device(device)
        with phase("model load"):
            self.model, self.card = load_checkpoint(self.weights_path, device=str(self.device), card=card)
        if self.task_name is not None and self.card.task != self.task_name:
            raise InputError(self.weights_path, f"is a '{self.card.task}' model, not a {self.task_label or self.task_name} model")
        self.model.eval()
        # Batch norm folded into the convs and NHWC layout: ~2x faster on CPU
        # (oneDNN); outputs agree with the plain model to float32 rounding.
        with phase("model load"):
            self._net = prepare_for_inference(self.model) if fast else self.model
        self._channels_last = fast
        self.batch_size = int(batch_size)
        self._torch = torch
        if rotations is None:
            rotations = self.card.rotations
        if rotations not in (1, 2, 4):
            raise InputError(self.weights_path, f"rotations must be 1, 2 or 4, got {rotations!r}")
        size = tuple(self.card.input_size or ())
        if rotations == 4 and (len(size) != 2 or size[0] != size[1]):
            raise InputError(self.weights_path, f"4 rotations need a square network grid, this card's is {list(size)}")
        self.rotations = int(rotations)

    # -- helpers ---------------------------------------------------------
    @property
    def task(self) -> str:
        return self.card.task

    @property
    def names(self) -> list:
        return list(self.card.landmark_names)

    def forward(self, batch: np.ndarray) -> np.ndarray:
        """``(B, C_in, h, w)`` float32 -> ``(B, C_out, h, w)`` float32 heatmaps in [0, 1]."""
        torch = self._torch
        with phase("forward"), torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            if self._channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = self._net(x)
            if self.card.task == "sutures":
                y = torch.sigmoid(y)  # trained on logits
            else:
                y = y.clamp_(0.0, 1.0)  # regression targets live in [0, 1]
            return y.float().cpu().numpy()

    def forward_averaged(self, batch: np.ndarray) -> np.ndarray:
        """:meth:`forward` averaged over ``self.rotations`` quarter turns (:func:`average_quarter_turns`)."""
        return average_quarter_turns(self.forward, batch, self.rotations)


class PredictorCache:
    """Loaded predictors kept between runs, so that repeated runs (Slicer's Apply, a batch) load once.

    Keyed by (predictor class, resolved weights path, its modification time, device, batch size,
    rotations): a retrained file at the same path is loaded again.

    Args:
        max_items: keep at most this many (the oldest is dropped); None keeps all.
    """

    def __init__(self, max_items: int | None = None):
        self._items: dict = {}
        self.max_items = max_items

    def get(self, weights, *, device: str = "cpu", batch_size: int = 8, rotations: int | None = None,
            factory: Callable[..., "Predictor"] | None = None) -> "Predictor":
        """The predictor of ``factory(path, device=, batch_size=, rotations=)`` (default :class:`Predictor`)."""
        factory = factory or Predictor
        path = resolve_weights(weights)
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            mtime = None
        key = (factory, str(path), mtime, str(device), int(batch_size), rotations)
        if key not in self._items:
            if self.max_items is not None:
                while len(self._items) >= max(self.max_items, 1):
                    self._items.pop(next(iter(self._items)))
            self._items[key] = factory(path, device=device, batch_size=batch_size, rotations=rotations)
        return self._items[key]

    def clear(self) -> None:
        self._items.clear()
