"""Streaming frame sources (heatmap_landmarks.video): order, laziness, pixels, odd sizes, errors."""
from __future__ import annotations

import inspect
import os

import cv2
import numpy as np
import pytest
import SimpleITK as sitk

from heatmap_landmarks.errors import InputError
from heatmap_landmarks.video import (
    FolderFrames,
    ImageFrames,
    VideoFrames,
    open_frames,
)
from heatmap_landmarks.io import read_colour_frame
from heatmap_landmarks.pixels import stored_channels, unit_rgb


def colour(h, w, seed=0):
    """``(H, W, 3)`` uint8 RGB with distinct channels."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_png_rgb(path, rgb):
    assert cv2.imwrite(os.fspath(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_video(path, frames_rgb, fps=10):
    h, w = frames_rgb[0].shape[:2]
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for f in frames_rgb:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


# --------------------------------------------------------------------------- pixels
@pytest.mark.parametrize("pixels, expected", [
    (np.full((2, 3, 3), 255, np.uint8), 1.0),
    (np.full((2, 3, 3), 65535, np.uint16), 1.0),
    (np.full((2, 3, 3), 0.25, np.float32), 0.25),
    (np.full((2, 3, 3), 127.5, np.float64), 0.5),  # floats up to 255 are 8-bit values
    (np.dstack([np.full((2, 3, 3), 51, np.uint8), np.full((2, 3), 255, np.uint8)]), 0.2),  # opaque alpha dropped
], ids=["uint8", "uint16", "float01", "float255", "rgba-opaque"])
def test_unit_rgb_scales_to_0_1(pixels, expected):
    out = unit_rgb(pixels)
    assert out.shape == (2, 3, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("pixels, message", [
    (np.zeros((4, 4), np.uint8), "greyscale frame"),
    (np.zeros((4, 4, 1), np.uint8), "greyscale frame"),
    (np.zeros((4, 4, 2), np.uint8), "greyscale frame"),
    (np.zeros((4, 4, 5), np.uint8), "expected an .H, W, 3. RGB frame"),
    (np.dstack([np.zeros((4, 4, 3), np.uint8), np.full((4, 4), 254, np.uint8)]), "transparency .alpha below 255 at 16"),
    (np.full((4, 4, 3), np.nan, np.float32), "NaN"),
    (np.full((4, 4, 3), 300.0), "span 300..300"),
    (np.zeros((4, 4, 3), bool), "real numbers"),
    (np.zeros((1, 4, 3), np.uint8), "too small"),
], ids=["2d", "one-channel", "grey-alpha", "five", "transparent", "nan", "range", "bool", "tiny"])
def test_unit_rgb_rejects_with_one_line(pixels, message):
    with pytest.raises(InputError, match=message) as info:
        unit_rgb(pixels, "clip.mp4#3")
    assert str(info.value).startswith("clip.mp4#3: ") and "\n" not in str(info.value)


# --------------------------------------------------------------------------- image files
def test_stored_channels_reads_png_and_jpeg_headers(tmp_path):
    cv2.imwrite(os.fspath(tmp_path / "g.png"), np.zeros((4, 5), np.uint8))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((4, 5, 2), np.uint8), isVector=True), os.fspath(tmp_path / "ga.png"))
    cv2.imwrite(os.fspath(tmp_path / "c.png"), np.zeros((4, 5, 3), np.uint8))
    cv2.imwrite(os.fspath(tmp_path / "a.png"), np.zeros((4, 5, 4), np.uint8))
    cv2.imwrite(os.fspath(tmp_path / "g.jpg"), np.zeros((4, 5), np.uint8))
    cv2.imwrite(os.fspath(tmp_path / "c.jpg"), np.zeros((4, 5, 3), np.uint8))
    (tmp_path / "x.txt").write_text("hello")
    found = {n: stored_channels(tmp_path / n) for n in ("g.png", "ga.png", "c.png", "a.png", "g.jpg", "c.jpg", "x.txt")}
    assert found == {"g.png": 1, "ga.png": 2, "c.png": 3, "a.png": 4, "g.jpg": 1, "c.jpg": 3, "x.txt": None}


def test_read_colour_frame_keeps_rgb_order_and_accepts_grey_stored_as_colour(tmp_path):
    rgb = colour(5, 7)
    frame = read_colour_frame(write_png_rgb(tmp_path / "f.png", rgb))
    np.testing.assert_allclose(frame, rgb / 255.0, atol=1e-6)
    grey3 = np.repeat(colour(5, 7)[..., :1], 3, axis=2)
    assert read_colour_frame(write_png_rgb(tmp_path / "g3.png", grey3)).shape == (5, 7, 3)


@pytest.mark.parametrize("writer, message", [
    (lambda p: cv2.imwrite(os.fspath(p.with_suffix(".png")), np.zeros((6, 8), np.uint8)), "greyscale frame"),
    (lambda p: cv2.imwrite(os.fspath(p.with_suffix(".jpg")), np.zeros((6, 8), np.uint8)), "greyscale frame"),
    (lambda p: sitk.WriteImage(sitk.GetImageFromArray(np.full((6, 8, 2), 255, np.uint8), isVector=True),
                               os.fspath(p.with_suffix(".png"))), "greyscale frame"),
    (lambda p: cv2.imwrite(os.fspath(p.with_suffix(".png")),
                           np.dstack([np.zeros((6, 8, 3), np.uint8), np.full((6, 8), 128, np.uint8)])), "transparency"),
    (lambda p: p.with_suffix(".png").write_bytes(b"\x89PNG\r\n\x1a\nbroken"), "PNG"),
], ids=["grey-png", "grey-jpg", "grey-alpha-png", "rgba-transparent", "corrupt"])
def test_read_colour_frame_refuses_bad_files(tmp_path, writer, message):
    writer(tmp_path / "frame")
    path = next(tmp_path.iterdir())
    with pytest.raises(InputError, match=message) as info:
        read_colour_frame(path)
    assert os.fspath(path) in str(info.value) and "\n" not in str(info.value)


def test_opaque_rgba_png_loses_its_alpha(tmp_path):
    bgra = np.dstack([np.full((6, 8, 3), (10, 20, 30), np.uint8), np.full((6, 8), 255, np.uint8)])
    cv2.imwrite(os.fspath(tmp_path / "a.png"), bgra)
    np.testing.assert_allclose(read_colour_frame(tmp_path / "a.png")[0, 0], np.array([30, 20, 10]) / 255.0, atol=1e-6)


# --------------------------------------------------------------------------- folders
def test_folder_yields_frames_lazily_in_natural_order_with_their_own_sizes(tmp_path):
    sizes = {"frame10.png": (9, 11), "frame2.jpg": (7, 13), "frame1.png": (5, 17)}
    for name, (h, w) in sizes.items():
        if name.endswith(".png"):
            write_png_rgb(tmp_path / name, colour(h, w))
        else:
            cv2.imwrite(os.fspath(tmp_path / name), colour(h, w))
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "sub.png").mkdir()  # a folder named like an image is not a frame
    source = open_frames(tmp_path)
    assert isinstance(source, FolderFrames) and len(source) == 3 and source.name == tmp_path.name
    iterator = iter(source)
    assert inspect.isgenerator(iterator)
    frames = list(iterator)
    assert [f.name for f in frames] == ["frame1.png", "frame2.jpg", "frame10.png"]
    assert [f.index for f in frames] == [0, 1, 2]
    assert [f.rgb.shape[:2] for f in frames] == [(5, 17), (7, 13), (9, 11)]
    assert frames[0].stem == "frame1" and all(f.rgb.dtype == np.float32 for f in frames)


def test_folder_reads_one_frame_at_a_time(tmp_path):
    """A bad third frame only fails when reached: earlier frames were already delivered."""
    write_png_rgb(tmp_path / "000000.png", colour(4, 6))
    write_png_rgb(tmp_path / "000001.png", colour(4, 6))
    (tmp_path / "000002.png").write_bytes(b"not a png at all")
    iterator = iter(open_frames(tmp_path))
    assert next(iterator).name == "000000.png" and next(iterator).name == "000001.png"
    with pytest.raises(InputError, match="000002.png"):
        next(iterator)


@pytest.mark.parametrize("make, message", [
    (lambda d: d, "holds no frames"),
    (lambda d: d / "missing", "does not exist"),
    (lambda d: (d / "a.txt").write_text("x") and d / "a.txt", "unsupported input type '.txt'"),
], ids=["empty-folder", "missing", "unsupported"])
def test_open_frames_errors(tmp_path, make, message):
    with pytest.raises(InputError, match=message):
        open_frames(make(tmp_path))


def test_image_frames_need_distinct_names(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    paths = [write_png_rgb(tmp_path / d / "f.png", colour(3, 3)) for d in ("a", "b")]
    with pytest.raises(InputError, match="share the file name f.png"):
        ImageFrames(paths)


# --------------------------------------------------------------------------- videos
def test_video_frames_stream_in_order_with_frame_names(tmp_path):
    levels = [30, 90, 150, 210]
    frames = [np.dstack([np.full((24, 40), v, np.uint8), np.full((24, 40), 255 - v, np.uint8),
                         np.full((24, 40), 60, np.uint8)]) for v in levels]
    path = write_video(tmp_path / "clip.avi", frames)
    source = open_frames(path)
    assert isinstance(source, VideoFrames) and source.frame_shape == (24, 40) and len(source) == 4
    assert source.name == "clip"
    iterator = iter(source)
    assert inspect.isgenerator(iterator)
    first = next(iterator)
    assert (first.index, first.name, first.source) == (0, "000000.png", f"{os.fspath(path)}#0")
    rest = list(iterator)
    got = [first] + rest
    assert [f.name for f in got] == ["000000.png", "000001.png", "000002.png", "000003.png"]
    for f, v in zip(got, levels):  # MJPG is lossy: a few levels off at most; R and G stay in RGB order
        assert abs(f.rgb[..., 0].mean() * 255 - v) < 6 and abs(f.rgb[..., 1].mean() * 255 - (255 - v)) < 6
    assert [f.name for f in source] == [f.name for f in got]  # a source can be read again


@pytest.mark.parametrize("content, message", [
    (b"", "cannot be opened as a video|no frame could be decoded"),
    (b"\x00\x01garbage" * 100, "cannot be opened as a video|no frame could be decoded"),
], ids=["empty-file", "garbage"])
def test_unreadable_video_is_one_line(tmp_path, content, message):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        open_frames(path)
    assert str(info.value).startswith(os.fspath(path)) and "\n" not in str(info.value)


def test_probe_checks_the_first_frame_only(tmp_path):
    cv2.imwrite(os.fspath(tmp_path / "000000.png"), np.zeros((4, 6), np.uint8))  # grey
    write_png_rgb(tmp_path / "000001.png", colour(4, 6))
    with pytest.raises(InputError, match="000000.png: greyscale"):
        open_frames(tmp_path).probe()
    (tmp_path / "000000.png").unlink()
    assert open_frames(tmp_path).probe() == (4, 6)
    clip = write_video(tmp_path / "clip.avi", [colour(16, 24)] * 2)
    assert open_frames(clip).probe() == (16, 24)


def test_folder_frames_with_the_same_stem_are_refused_at_once(tmp_path):
    """Issue 15, item 15: a.png and a.jpg would write the same result files: refused before any work, in one line."""
    cv2.imwrite(os.fspath(tmp_path / "a.png"), colour(6, 8)[..., ::-1])
    cv2.imwrite(os.fspath(tmp_path / "a.jpg"), colour(6, 8)[..., ::-1])
    cv2.imwrite(os.fspath(tmp_path / "b.png"), colour(6, 8)[..., ::-1])
    with pytest.raises(InputError, match="frames a.jpg and a.png have the same name stem") as err:
        FolderFrames(tmp_path)
    assert "\n" not in str(err.value) and "overwrite" not in str(err.value)
