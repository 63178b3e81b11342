"""Streaming sources of RGB endoscopic frames: one image, a folder of images, or a video file.

Every source yields :class:`Frame` objects one at a time, in order, and holds
at most one decoded frame: a 10,000-frame video is never loaded whole. Pixels
come out as ``(H, W, 3) float32`` RGB in [0, 1], the input of
:meth:`heatmap_landmarks.inference.Predictor.predict_sutures`.

* Image files (PNG, JPEG) are read with :func:`heatmap_landmarks.io.read_colour_frame`;
  channels follow :mod:`heatmap_landmarks.pixels` (opaque alpha dropped,
  transparency refused, files *stored* grey refused, a grey picture stored as
  three equal channels accepted).
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
from .pixels import GREY_FRAME, unit_rgb

__all__ = [
    "Frame",
    "FrameSource",
    "ImageFrames",
    "FolderFrames",
    "VideoFrames",
    "open_frames",
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
        from .io import read_colour_frame

        return tuple(int(s) for s in read_colour_frame(self.paths[0]).shape[:2])

    def __iter__(self) -> Iterator[Frame]:
        from .io import read_colour_frame

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
        stems: dict = {}
        for p in paths:  # a frame's outputs are named by its stem: two frames must not share one
            stems.setdefault(p.stem, []).append(p.name)
        clash = next((names for names in stems.values() if len(names) > 1), None)
        if clash:
            raise InputError(folder, f"frames {' and '.join(clash)} have the same name stem, so their results would "
                                     f"have the same file names; rename or move one of them")
        super().__init__(paths)
        self.path = folder
        self.name = folder.resolve().name


class VideoFrames(FrameSource):
    """Frames of a video file decoded one by one with ``cv2.VideoCapture``.

    The file is opened when the object is made (so a bad file fails early,
    with one line) and again for each iteration; only the current frame is in
    memory.

    A video that ends before the frame count its container declares (a
    truncated or damaged file) raises a one-line :class:`InputError` at the
    end of the iteration, saying how many frames were declared and decoded,
    unless ``accept_short``; then :attr:`short_note` says so. A shortfall of
    one frame, or 1 % of the count, is within the count's usual inexactness.
    """

    kind = "video"

    def __init__(self, path: PathLike, *, accept_short: bool = False):
        from .io import check_input_path

        super().__init__(check_input_path(path))
        if not self.path.is_file():
            raise InputError(self.path, "is not a video file (a folder?)")
        cap = self._open()
        try:
            self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            ok, first = self._read(cap)
        finally:
            cap.release()
        if not ok or first is None:
            raise InputError(self.path, "no frame could be decoded: the video is empty, corrupt, or uses a codec "
                                        "this OpenCV build cannot decode (try re-encoding it as MJPG .avi or H.264 .mp4)")
        self.frame_shape = tuple(int(s) for s in first.shape[:2])
        self.accept_short = bool(accept_short)
        self.short_note: str | None = None

    def probe(self) -> tuple[int, int]:
        return self.frame_shape  # decoded when the source was made

    def _check_complete(self, decoded: int) -> None:
        declared = self._count
        if declared <= 0 or declared - decoded <= max(1, declared // 100):
            return
        problem = f"the video ended after {decoded} of the {declared} frames its container declares (truncated or damaged)"
        if not self.accept_short:
            raise InputError(self.path, f"{problem}; pass --accept-short-video to use the {decoded} decoded frames")
        self.short_note = f"{problem}: {decoded} frames used"

    def _open(self):
        from .io import LibraryOutput

        with LibraryOutput():  # FFmpeg's messages ("moov atom not found") stay off the terminal
            cap = cv2.VideoCapture(os.fspath(self.path))
        if not cap.isOpened():
            cap.release()
            raise InputError(self.path, "cannot be opened as a video (unsupported container or codec, or not a video file)")
        return cap

    @staticmethod
    def _read(cap):
        """``cap.read()`` with FFmpeg's decoder messages ("dht: invalid len") kept off the terminal."""
        from .io import LibraryOutput

        with LibraryOutput():
            return cap.read()

    def __len__(self) -> int:
        return max(self._count, 1)

    def __iter__(self) -> Iterator[Frame]:
        cap = self._open()
        try:
            i = 0
            while True:
                ok, bgr = self._read(cap)
                if not ok or bgr is None:
                    break
                where = f"{os.fspath(self.path)}#{i}"
                if bgr.ndim == 2 or bgr.shape[2] == 1:
                    raise InputError(where, GREY_FRAME)
                rgb = unit_rgb(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), where)
                yield Frame(i, f"{i:06d}.png", rgb, where)
                i += 1
        finally:
            cap.release()
        self._check_complete(i)


def open_frames(path: PathLike, *, accept_short_video: bool = False) -> FrameSource:
    """The right source for ``path``: an image file, a folder of images, or a video file.

    ``accept_short_video``: keep the frames of a video that ends before its declared frame count
    (see :class:`VideoFrames`) instead of refusing it.

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
        return VideoFrames(p, accept_short=accept_short_video)
    raise InputError(p, f"unsupported input type '{suffix}'; give a frame ({', '.join(IMAGE_EXTENSIONS)}), "
                        f"a folder of frames, or a video ({', '.join(VIDEO_EXTENSIONS)})")
