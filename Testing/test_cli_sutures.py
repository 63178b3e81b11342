"""``heatmap-landmarks sutures``: frames, folders and videos in; AdaptOR JSON, CSV and overlays out.

The model is :func:`heatmap_landmarks.testing.make_spot_detector` (a real
ResNeXtUNet checkpoint with hand-set weights: one point per bright red disc),
so the written coordinates can be checked exactly. Bad inputs, races and signals are in
``test_bad_input_cli_sutures.py``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk

from badinput import truncated_video
from heatmap_landmarks import cli
from heatmap_landmarks.adaptor_json import read_point_labels, read_submission_json
from heatmap_landmarks.cli.sutures import default_submission_names, overlay_step
from heatmap_landmarks.testing import draw_spot_frame, make_spot_detector
from heatmap_landmarks.video import open_frames

SHAPE = (37, 61)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return make_spot_detector(tmp_path_factory.mktemp("spot_model"))


def write_frame(path, centres, shape=SHAPE):
    rgb = draw_spot_frame(shape, centres, dtype=np.uint8)
    assert cv2.imwrite(os.fspath(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def run(capsys, *argv):
    code = cli.main(["sutures", *map(os.fspath, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def files_under(folder: Path) -> list[str]:
    return sorted(os.fspath(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def by_x(points):
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return p[np.lexsort((p[:, 1], p[:, 0]))]


# --------------------------------------------------------------------------- good inputs
def test_single_frame_writes_labels_submission_csv_and_overlay(tmp_path, detector, capsys):
    frame = write_frame(tmp_path / "000017.png", [[10, 12], [45, 26]])
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, frame, "--out", out, "--weights", detector, "--quiet")
    assert code == 0 and stderr == "" and "1 frame(s), 2 suture point(s)" in stdout
    assert files_under(out) == ["000017_sutures.csv", "overlays/000017.png", "point_labels/000017.json",
                                "submission.json"]
    points, size = read_point_labels(out / "point_labels" / "000017.json")
    assert size == SHAPE
    np.testing.assert_allclose(by_x(points), [[10, 12], [45, 26]], atol=0.05)
    raw = json.loads((out / "point_labels" / "000017.json").read_text())
    assert set(raw) == {"points", "imageHeight", "imageWidth"} and set(raw["points"][0]) == {"x", "y"}
    [entry] = read_submission_json(out / "submission.json")
    assert (entry.op, entry.video, entry.image_file_name) == (tmp_path.parent.name, tmp_path.name, "000017.png")
    rows = (out / "000017_sutures.csv").read_text().splitlines()
    assert rows[0] == "frame,label,x,y,confidence" and [r.split(",")[:2] for r in rows[1:]] == [
        ["000017.png", "S-1"], ["000017.png", "S-2"]]
    overlay = cv2.imread(os.fspath(out / "overlays" / "000017.png"))
    assert overlay.shape == SHAPE + (3,)


def test_folder_in_adaptor_layout(tmp_path, detector, capsys):
    images = tmp_path / "op05" / "video02" / "images"
    images.mkdir(parents=True)
    centres = {"frame2.png": [[20, 20]], "frame10.png": [], "frame1.png": [[10, 10], [50, 30], [30, 15]]}
    for name, c in centres.items():
        write_frame(images / name, c)
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, images, "--out", out, "--weights", detector, "--quiet", "--batch-size", "2")
    assert code == 0 and "3 frame(s), 4 suture point(s)" in stdout
    entries = read_submission_json(out / "submission.json")
    assert [(e.op, e.video, e.image_file_name, len(e.points)) for e in entries] == [
        ("op05", "video02", "frame1.png", 3), ("op05", "video02", "frame2.png", 1), ("op05", "video02", "frame10.png", 0)]
    assert read_point_labels(out / "point_labels" / "frame10.json")[0].shape == (0, 2)
    rows = (out / "images_sutures.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and {r.split(",")[0] for r in rows[1:]} == {"frame1.png", "frame2.png"}
    assert len(files_under(out / "overlays")) == 3


def test_video_is_streamed_and_overlays_thinned(tmp_path, detector, capsys):
    path = tmp_path / "clip.avi"
    centres = [[[10 + 6 * t, 20]] if t != 2 else [] for t in range(5)]
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 40))
    for c in centres:
        writer.write(cv2.cvtColor(draw_spot_frame((40, 64), c, dtype=np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, path, "--out", out, "--weights", detector, "--overlay-every", "2",
                               "--folder-name", "op01", "--subfolder-name", "video09")
    assert code == 0 and "5 frame(s), 4 suture point(s)" in stdout and "frame" in stderr  # tqdm on stderr
    assert files_under(out / "overlays") == ["000000.png", "000002.png", "000004.png"]
    entries = read_submission_json(out / "submission.json")
    assert [e.image_file_name for e in entries] == [f"{t:06d}.png" for t in range(5)]
    assert {(e.op, e.video) for e in entries} == {("op01", "video09")}
    for entry, c in zip(entries, centres):
        np.testing.assert_allclose(entry.points, np.asarray(c, np.float64).reshape(-1, 2), atol=0.5)  # MJPG is lossy


def test_decoding_options(tmp_path, detector, capsys):
    frame = write_frame(tmp_path / "f.png", [[20, 20]])
    code, stdout, _ = run(capsys, frame, "--out", tmp_path / "a", "--weights", detector, "--quiet",
                          "--threshold", "0.9999999", "--opening", "0", "--no-cut", "--overlay-every", "0")
    assert code == 0 and "0 suture point(s)" in stdout and not (tmp_path / "a" / "overlays").exists()


def test_refuses_to_overwrite_unless_asked(tmp_path, detector, capsys):
    frame = write_frame(tmp_path / "f.png", [[20, 20]])
    out = tmp_path / "out"
    assert run(capsys, frame, "--out", out, "--weights", detector, "--quiet")[0] == 0
    before = {p: (out / p).read_bytes() for p in files_under(out)}
    code, _, stderr = run(capsys, frame, "--out", out, "--weights", detector, "--quiet")
    assert code == 2 and stderr.count("\n") == 1 and "already exists; pass --overwrite" in stderr
    assert {p: (out / p).read_bytes() for p in files_under(out)} == before
    write_frame(frame, [[20, 20], [40, 10]])
    assert run(capsys, frame, "--out", out, "--weights", detector, "--quiet", "--overwrite")[0] == 0
    assert len(read_point_labels(out / "point_labels" / "f.json")[0]) == 2


# --------------------------------------------------------------------------- helpers
@pytest.mark.parametrize("layout, expected", [
    ("op03/video07/images", ("op03", "video07")),
    ("study/frames", ("study", "frames")),
])
def test_default_submission_names(tmp_path, layout, expected):
    folder = tmp_path / layout
    folder.mkdir(parents=True)
    write_frame(folder / "000000.png", [])
    assert default_submission_names(open_frames(folder)) == expected


def test_overlay_default_depends_on_length():
    assert [overlay_step(n, None) for n in (1, 100, 101, 10_000)] == [1, 1, 25, 25]
    assert overlay_step(10_000, 1) == 1


# --------------------------------------------------------------------------- publishing (issue 15, item 3)
def test_overwrite_over_a_longer_run_leaves_no_stale_files(tmp_path, detector, capsys):
    """--overwrite replaces point_labels/ and overlays/ whole: frames of the earlier, longer run do not stay."""
    long_run, short_run = tmp_path / "long", tmp_path / "short"
    for folder, n in ((long_run, 5), (short_run, 2)):
        folder.mkdir()
        for i in range(n):
            write_frame(folder / f"{i:06d}.png", [[10 + 3 * i, 12]])
    out = tmp_path / "out"
    assert run(capsys, long_run, "--out", out, "--weights", detector, "--quiet")[0] == 0
    assert len(list((out / "point_labels").iterdir())) == 5
    code, _, _ = run(capsys, short_run, "--out", out, "--weights", detector, "--quiet", "--overwrite")
    assert code == 0
    assert sorted(p.name for p in (out / "point_labels").iterdir()) == ["000000.json", "000001.json"]
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["000000.png", "000001.png"]
    assert [e.image_file_name for e in read_submission_json(out / "submission.json")] == ["000000.png", "000001.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_truncated_video_is_used_when_accepted(tmp_path, detector, capsys):
    """Issue 15, item 6: with --accept-short-video the decoded frames are used and the shortfall is a note.
    (Without it the video is refused: Testing/test_bad_input_cli_sutures.py.)"""
    video = truncated_video(tmp_path / "cut.avi", shape=SHAPE)
    code, stdout, stderr = run(capsys, video, "--out", tmp_path / "out", "--weights", detector, "--quiet",
                               "--accept-short-video")
    decoded = int(stdout.split(" frame(s)")[0])
    assert code == 0 and 0 < decoded < 60
    assert f"note: the video ended after {decoded} of the 60 frames" in stderr
    assert len(list((tmp_path / "out" / "point_labels").iterdir())) == decoded


def test_many_inputs_in_one_process(tmp_path, detector, capsys):
    """Issue 16, item 1: frames, a folder and a bad file in one call; each its own subfolder, a summary, exit 2."""
    single = write_frame(tmp_path / "single.png", [[10, 12]])
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(3):
        write_frame(folder / f"{i:06d}.png", [[20, 12 + i]])
    cv2.imwrite(os.fspath(tmp_path / "grey.png"), np.zeros((20, 30), np.uint8))
    out = tmp_path / "out"
    code, stdout, stderr = run(capsys, single, folder, tmp_path / "grey.png", "--out", out, "--weights", detector,
                               "--quiet")
    assert code == 2 and stderr.count("\n") == 1 and "grey.png: greyscale frame" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip", "single", "summary.csv"]
    assert files_under(out / "clip")[:3] == ["clip_sutures.csv", "overlays/000000.png", "overlays/000001.png"]
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0] == "input,output,status,seconds,message" and len(rows) == 4
    assert ",clip,ok," in rows[2] and "3 frame(s), 3 suture point(s)" in rows[2] and ",grey,error," in rows[3]


def test_ignore_box_drops_points_inside_it(tmp_path, detector, capsys):
    """--ignore-box (a user's overlay region): the points inside are dropped from every output; others stay."""
    frame = write_frame(tmp_path / "000000.png", [[10, 12], [45, 26]])
    code, stdout, _ = run(capsys, frame, "--out", tmp_path / "out", "--weights", detector, "--quiet",
                          "--ignore-box", "40", "20", "60", "36")
    assert code == 0 and "1 suture point(s)" in stdout
    points, _ = read_point_labels(tmp_path / "out" / "point_labels" / "000000.json")
    np.testing.assert_allclose(points, [[10, 12]], atol=0.05)
    code, _, stderr = run(capsys, frame, "--out", tmp_path / "o2", "--weights", detector, "--quiet",
                          "--ignore-box", "60", "20", "40", "36")
    assert code == 2 and "X0 <= X1" in stderr and stderr.count("\n") == 1
