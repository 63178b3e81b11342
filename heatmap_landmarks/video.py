"""Streaming sources of RGB endoscopic frames: one image, a folder of images, or a video file.

Every source yields :class:`Frame` objects one at a time, in order, and holds
at most one decoded frame: a 10,000-frame video is never loaded whole. Pixels
come out as ``(H, W, 3) float32`` RGB in [0, 1], the input of
:meth:`heatmap_landmarks.inference.Predictor.predict_sutures`.

* Image files (PNG, JPEG) are read with :func:`heatmap_landmarks.io.read_rgb_frame`
  (alpha: dropped when fully opaque, an error otherwise). Images *stored* with
  one grey channel (or grey + alpha) are refused: the suture model needs
  colour. A grey picture stored as three equal channels is accepted.
* A folder yields its PNG/JPEG files in natural order (``frame2`` before
  ``frame10``); other files are ignored; an empty folder is an error.
* A video (``.mp4``, ``.avi``, ...) is decoded by OpenCV's ``VideoCapture``
  frame by frame. Frame ``i`` is named ``"{i:06d}.png"`` (the AdaptOR frame
  naming), so outputs of videos and of extracted frame folders agree.
* A path whose name is not valid UTF-8 is refused before OpenCV sees it
  (OpenCV crashes on it): :func:`heatmap_landmarks.io.check_path_name`.

Frame sizes need not be multiples of 32 and may differ between images of a
folder: the network input is padded (never resized) in preprocessing.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import InputError, PathLike

__all__ = [
    "Frame",
    "FrameSource",
    "ImageFrames",
    "FolderFrames",
    "VideoFrames",
    "open_frames",
    "read_colour_frame",
    "rgb_to_unit_float",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
]

#: Still-image files accepted as frames.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
#: Video containers handed to OpenCV (what decodes depends on the OpenCV build).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")


@dataclass(eq=False)
class Frame:
    """One decoded frame.

    Attributes:
        index: 0-based position in the source.
        name: file name used for outputs, e.g. ``"000012.png"`` (unique per source).
        rgb: ``(H, W, 3)`` float32 RGB in [0, 1].
        source: where it came from (image path, or ``"video.mp4#12"``), for messages.
    """

    index: int
    name: str
    rgb: np.ndarray
    source: str

    @property
    def stem(self) -> str:
        """``name`` without its extension (``"000012"``)."""
        return os.path.splitext(self.name)[0]


# ---------------------------------------------------------------------------
# pixels
# ---------------------------------------------------------------------------
def _grey_error(source) -> InputError:
    return InputError(source, "greyscale frame (one channel); the suture model needs RGB colour frames "
                              "(a grey picture stored as three equal R, G, B channels is accepted)")


def rgb_to_unit_float(pixels, source=None) -> np.ndarray:
    """``(H, W, 3|4)`` RGB(A) pixels of any real dtype -> ``(H, W, 3)`` float32 in [0, 1].

    Integers are divided by their type's maximum (255 for uint8). Floats must
    already lie in [0, 1], except that floats spanning up to 255 are taken as
    8-bit values. A 4th (alpha) channel is dropped when fully opaque; any
    transparency is an error. One channel (grey) is an error: the suture model
    needs colour (store grey as three equal channels if that is really meant).

    >>> rgb_to_unit_float(np.full((2, 2, 4), 255, np.uint8))[0, 0].tolist()
    [1.0, 1.0, 1.0]
    >>> rgb_to_unit_float(np.zeros((2, 2), np.uint8), "f.png")
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: f.png: greyscale frame (one channel); the suture model needs RGB colour frames (a grey picture stored as three equal R, G, B channels is accepted)
    """
    a = np.asarray(pixels)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 2)):
        raise _grey_error(source)
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


def _png_channels(head: bytes) -> int | None:
    # IHDR colour type, byte 25: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA.
    if len(head) < 26 or head[12:16] != b"IHDR":
        return None
    return {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(head[25])


def _jpeg_channels(path: Path) -> int | None:
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

    Read from the file header without decoding the pixels.
    """
    path = Path(path)
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


def read_colour_frame(path: PathLike) -> np.ndarray:
    """Read a PNG/JPEG colour frame as ``(H, W, 3)`` float32 RGB in [0, 1].

    Like :func:`heatmap_landmarks.io.read_rgb_frame` but files stored in grey
    (one channel, or grey + alpha) are refused with a clear message.

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "grey.png")
    >>> _ = cv2.imwrite(p, np.zeros((4, 6), np.uint8))
    >>> read_colour_frame(p)
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: ...grey.png: greyscale frame (one channel); the suture model needs RGB colour frames (a grey picture stored as three equal R, G, B channels is accepted)
    """
    from .io import read_rgb_frame  # first: its errors name bad names, missing and corrupt files precisely

    frame = read_rgb_frame(path)
    if stored_channels(path) in (1, 2):
        raise _grey_error(os.fspath(path))
    return frame


# ---------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------
class FrameSource:
    """Base of the frame sources: iterate to get :class:`Frame` objects lazily.

    Attributes:
        path: the image, folder or video.
        kind: ``"image"``, ``"folder"`` or ``"video"``.
        name: short name for output files (the file stem or the folder name).
    """

    kind = ""

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self.name = self.path.stem if self.path.is_file() else self.path.name

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def __len__(self) -> int:
        """Number of frames (for videos: the container's count, which can be approximate)."""
        raise NotImplementedError

    def probe(self) -> tuple[int, int]:
        """Read (and check) the first frame now; returns its ``(H, W)``.

        Lets a program refuse an unusable input before it loads a model;
        later frames are still checked when they are reached.
        """
        raise NotImplementedError

    def rgb_frames(self) -> Iterator[np.ndarray]:
        """Only the pixels, for ``Predictor.predict_sutures``."""
        for frame in self:
            yield frame.rgb


class ImageFrames(FrameSource):
    """A list of image files, in the given order.

    >>> import tempfile
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.png")
    >>> _ = cv2.imwrite(p, np.full((3, 5, 3), 255, np.uint8))
    >>> [(f.index, f.name, f.rgb.shape) for f in ImageFrames([p])]
    [(0, 'a.png', (3, 5, 3))]
    """

    kind = "image"

    def __init__(self, paths):
        from .io import check_path_name

        paths = [check_path_name(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
        if not paths:
            raise InputError(None, "no image files given")
        super().__init__(paths[0])
        names = [p.name for p in paths]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})[0]
            raise InputError(paths[0].parent, f"two frames share the file name {dup}; outputs are named after frames")
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def probe(self) -> tuple[int, int]:
        return tuple(int(s) for s in read_colour_frame(self.paths[0]).shape[:2])

    def __iter__(self) -> Iterator[Frame]:
        for i, p in enumerate(self.paths):
            yield Frame(i, p.name, read_colour_frame(p), os.fspath(p))


def _natural_key(name: str):
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", name) if t]


class FolderFrames(ImageFrames):
    """The PNG/JPEG files of a folder, in natural order (``frame2`` before ``frame10``)."""

    kind = "folder"

    def __init__(self, folder: PathLike):
        from .io import check_input_path

        folder = check_input_path(folder)
        if not folder.is_dir():
            raise InputError(folder, "is not a folder")
        try:
            entries = sorted(os.listdir(folder), key=_natural_key)
        except OSError as err:
            raise InputError(folder, f"cannot list the folder ({err.strerror})") from None
        paths = [folder / n for n in entries
                 if not n.startswith(".") and n.lower().endswith(IMAGE_EXTENSIONS) and (folder / n).is_file()]
        if not paths:
            raise InputError(folder, f"holds no frames (no {', '.join(IMAGE_EXTENSIONS)} files)")
        super().__init__(paths)
        self.path = folder
        self.name = folder.resolve().name


class VideoFrames(FrameSource):
    """Frames of a video file decoded one by one with ``cv2.VideoCapture``.

    The file is opened when the object is made (so a bad file fails early,
    with one line) and again for each iteration; only the current frame is in
    memory.
    """

    kind = "video"

    def __init__(self, path: PathLike):
        from .io import check_input_path

        super().__init__(check_input_path(path))
        if not self.path.is_file():
            raise InputError(self.path, "is not a video file (a folder?)")
        cap = self._open()
        try:
            self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            ok, first = cap.read()
        finally:
            cap.release()
        if not ok or first is None:
            raise InputError(self.path, "no frame could be decoded: the video is empty, corrupt, or uses a codec "
                                        "this OpenCV build cannot decode (try re-encoding it as MJPG .avi or H.264 .mp4)")
        self.frame_shape = tuple(int(s) for s in first.shape[:2])

    def probe(self) -> tuple[int, int]:
        return self.frame_shape  # decoded when the source was made

    def _open(self):
        cap = cv2.VideoCapture(os.fspath(self.path))
        if not cap.isOpened():
            cap.release()
            raise InputError(self.path, "cannot be opened as a video (unsupported container or codec, or not a video file)")
        return cap

    def __len__(self) -> int:
        return max(self._count, 1)

    def __iter__(self) -> Iterator[Frame]:
        cap = self._open()
        try:
            i = 0
            while True:
                ok, bgr = cap.read()
                if not ok or bgr is None:
                    break
                where = f"{os.fspath(self.path)}#{i}"
                if bgr.ndim == 2 or bgr.shape[2] == 1:
                    raise _grey_error(where)
                rgb = rgb_to_unit_float(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), where)
                yield Frame(i, f"{i:06d}.png", rgb, where)
                i += 1
        finally:
            cap.release()


def open_frames(path: PathLike) -> FrameSource:
    """The right source for ``path``: an image file, a folder of images, or a video file.

    Raises:
        InputError: missing path, unsupported file type, empty folder, or a
            video OpenCV cannot decode.

    >>> import tempfile
    >>> open_frames(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    heatmap_landmarks.errors.InputError: ...: holds no frames (no .png, .jpg, .jpeg files)
    """
    from .io import check_input_path

    p = check_input_path(path)  # also refuses names OpenCV would crash on
    if p.is_dir():
        return FolderFrames(p)
    suffix = p.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return ImageFrames([p])
    if suffix in VIDEO_EXTENSIONS:
        return VideoFrames(p)
    raise InputError(p, f"unsupported input type '{suffix}'; give a frame ({', '.join(IMAGE_EXTENSIONS)}), "
                        f"a folder of frames, or a video ({', '.join(VIDEO_EXTENSIONS)})")
