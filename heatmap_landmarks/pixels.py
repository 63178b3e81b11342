"""The one channel rule: how stored pixels become a grey image or a colour frame.

Every reader of pictures calls these functions (the file readers in
:mod:`heatmap_landmarks.io` and :mod:`heatmap_landmarks.video`, the Slicer
Logics, the training datasets); none of them decides channels or value
ranges on its own. The rule:

* **Channels.** One channel is grey. Two are grey + alpha in a raster file
  (PNG), and a vector elsewhere (flow, complex parts), which is refused. Three
  are colour, four colour + alpha.
* **Alpha.** A fully opaque alpha channel is dropped. Any transparency is an
  error: the background the pixels were meant on is unknown.
* **Grey stored as colour.** Three equal channels are a grey picture (JPEG:
  within 2 levels, the rounding of its colour transform). Where grey is needed
  they become one channel; where colour is needed they are accepted as colour.
* **Values of a colour frame.** Integers are divided by their type's maximum
  (255 for 8 bits); floats must lie in [0, 1], or in 0..255 (8-bit values
  stored as floats).

Shapes: ``(..., C)`` channels last. This module imports only numpy, so the
Slicer modules can use it before their Python dependencies are installed.
"""
from __future__ import annotations

import os

import numpy as np

from .errors import InputError, PathLike

__all__ = [
    "CHANNEL_MODES",
    "RASTER_FORMATS",
    "greyscale_volume",
    "refuse_grey_file",
    "resolve_channels",
    "stored_channels",
    "unit_rgb",
]

#: What :func:`resolve_channels` does with colour: ``auto`` keeps colour and makes grey-as-RGB one channel,
#: ``grey`` refuses colour, ``keep`` never collapses channels.
CHANNEL_MODES = ("auto", "grey", "keep")

#: File formats whose two-channel pixels are grey + alpha.
RASTER_FORMATS = ("PNG", "JPEG")

#: JPEG's colour transform can leave grey pixels off by this many levels; lossless formats must match exactly.
JPEG_GREY_TOLERANCE = 2

GREY_FRAME = ("greyscale frame (one channel), where RGB colour frames are needed "
              "(a grey picture stored as three equal R, G, B channels is accepted)")


def _opaque_or_error(alpha: np.ndarray, source, what: str) -> None:
    full = np.iinfo(alpha.dtype).max if alpha.dtype.kind in "ui" else alpha.max()
    n_transparent = int(np.count_nonzero(alpha != full))
    if n_transparent:
        raise InputError(source, f"{what} has transparency (alpha below {full:g} at {n_transparent} pixels), which "
                                 f"would change the pixels; flatten it onto a background and save without alpha")


def resolve_channels(array, mode: str = "auto", *, source=None, fmt: str = "volume") -> np.ndarray:
    """``(..., C)`` native pixels -> ``(...)`` grey or ``(..., 3)`` colour, in the native dtype.

    Args:
        array: pixels with channels last; ``C`` in 1..4 (2 only for a raster ``fmt``).
        mode: one of :data:`CHANNEL_MODES`.
        source: what to name in an error (a path, a node name).
        fmt: the file format (``"PNG"``, ``"JPEG"``, ...); decides whether two channels are grey + alpha and how
            exactly three channels must agree to be grey.

    >>> rgb = np.repeat(np.arange(4, dtype=np.uint8).reshape(1, 2, 2, 1), 3, axis=3)
    >>> resolve_channels(rgb).shape, resolve_channels(rgb, "keep").shape
    ((1, 2, 2), (1, 2, 2, 3))
    >>> rgb[0, 0, 0, 1] = 9
    >>> resolve_channels(rgb, "grey", source="scan")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: scan: RGB image whose channels differ, where a greyscale image is needed
    """
    if mode not in CHANNEL_MODES:
        raise ValueError(f"mode must be one of {CHANNEL_MODES}, got {mode!r}")
    a = np.asarray(array)
    n_comp = a.shape[-1]
    if n_comp == 1:
        return a[..., 0]
    if n_comp not in (2, 3, 4) or (n_comp == 2 and fmt not in RASTER_FORMATS):
        raise InputError(source, f"image has {n_comp}-component (vector) pixels; expected greyscale or RGB")
    if n_comp in (2, 4):
        _opaque_or_error(a[..., -1], source, f"{fmt} image")
        a = a[..., :-1]
        if n_comp == 2:
            return a[..., 0]
    tolerance = JPEG_GREY_TOLERANCE if fmt == "JPEG" else 0
    c = a.astype(np.float64) if a.dtype.kind != "f" else a
    spread = max(float(np.abs(c[..., 0] - c[..., 1]).max(initial=0)),
                 float(np.abs(c[..., 1] - c[..., 2]).max(initial=0)))
    if mode == "keep":
        return a
    if spread <= tolerance:
        return a[..., 0] if tolerance == 0 else c.mean(axis=-1)
    if mode == "grey":
        raise InputError(source, "RGB image whose channels differ, where a greyscale image is needed")
    return a


def greyscale_volume(array, source=None) -> np.ndarray:
    """``(Z, H, W)`` scalar or ``(Z, H, W, C)`` vector voxels -> ``(Z, H, W)`` float32 grey.

    A grey image stored as RGB(A) (as many PNGs are) is converted exactly;
    colour that differs between channels, or transparency, is an :class:`InputError`.

    >>> rgb = np.repeat(np.arange(6, dtype=np.uint8).reshape(1, 2, 3, 1), 3, axis=3)
    >>> greyscale_volume(rgb).tolist()
    [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]
    """
    a = np.asarray(array)
    if a.ndim == 4:
        a = resolve_channels(a, "grey", source=source)
    if a.ndim != 3:
        raise InputError(source, f"expected (slices, rows, columns) voxels, got shape {np.shape(array)}")
    if a.dtype.kind not in "uif":
        raise InputError(source, f"voxels must be real numbers, got {a.dtype}")
    return a.astype(np.float32, copy=False)


def unit_rgb(pixels, source=None) -> np.ndarray:
    """``(H, W, 3|4)`` RGB(A) pixels of any real dtype -> ``(H, W, 3)`` float32 in [0, 1].

    One channel (grey) is an error: a colour frame is needed (store grey as
    three equal channels if that is really meant).

    >>> unit_rgb(np.full((2, 2, 4), 255, np.uint8))[0, 0].tolist()
    [1.0, 1.0, 1.0]
    >>> unit_rgb(np.zeros((2, 2), np.uint8), "f.png")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: f.png: greyscale frame (one channel), where RGB colour frames are needed (a grey picture stored as three equal R, G, B channels is accepted)
    """
    a = np.asarray(pixels)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 2)):
        raise InputError(source, GREY_FRAME)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise InputError(source, f"expected an (H, W, 3) RGB frame, got pixel array of shape {a.shape}")
    if a.dtype.kind not in "uif" or a.dtype == bool:
        raise InputError(source, f"pixels must be real numbers, got dtype {a.dtype}")
    if min(a.shape[:2]) < 2:
        raise InputError(source, f"frame is {a.shape[1]}x{a.shape[0]} pixels (W x H); too small")
    if a.dtype.kind in "ui":
        full = float(np.iinfo(a.dtype).max)
    else:
        if not np.isfinite(a).all():
            raise InputError(source, "frame contains NaN or infinite values")
        top = float(a.max())
        full = 1.0 if top <= 1.0 + 1e-6 else 255.0
        if top > 255.0 or float(a.min()) < 0.0:
            raise InputError(source, f"floating-point pixel values span {float(a.min()):g}..{top:g}; "
                                     f"expected [0, 1] (or 0..255)")
    if a.shape[2] == 4:
        alpha = a[..., 3]
        n_transparent = int(np.count_nonzero(alpha < full))
        if n_transparent:
            raise InputError(source, f"RGBA frame with transparency (alpha below {full:g} at {n_transparent} "
                                     f"pixels); flatten it onto a background and save it without alpha")
        a = a[..., :3]
    out = a.astype(np.float32)
    if full != 1.0:
        out *= np.float32(1.0 / full)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0))


# ---------------------------------------------------------------------------
# what a file stores (header only, pixels not decoded)
# ---------------------------------------------------------------------------
def _png_channels(head: bytes) -> int | None:
    # IHDR colour type, byte 25: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA.
    if len(head) < 26 or head[12:16] != b"IHDR":
        return None
    return {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(head[25])


def _jpeg_channels(path) -> int | None:
    """Component count from the first start-of-frame marker of a JPEG file."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)  # SOF sits in the header, well inside 64 KiB
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int(data[i + 9])
        i += 2 + length
    return None


def stored_channels(path: PathLike) -> int | None:
    """Channels a PNG/JPEG file stores (1 grey, 2 grey+alpha, 3 colour, 4 RGBA), None if unknown.

    Read from the file header without decoding the pixels. Decoders hand grey
    files out as three channels, so only the header tells that a file is grey.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError:
        return None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _png_channels(head)
    if head.startswith(b"\xff\xd8\xff"):
        try:
            return _jpeg_channels(path)
        except OSError:
            return None
    return None


def refuse_grey_file(path: PathLike) -> None:
    """Raise the one-line error of a colour reader when ``path`` stores grey (or grey + alpha) pixels."""
    if stored_channels(path) in (1, 2):
        raise InputError(os.fspath(path), GREY_FRAME)
