"""``heatmap-landmarks sutures`` on bad and edge inputs: one table row per case of issue 15's catalogue.

Each row says how the bad input is made (really written in ``tmp_path``),
the arguments, the exit status and a pattern for the one stderr line; every
row must then show (:func:`badinput.assert_refused`) exactly one line
``heatmap-landmarks sutures: error: ...`` naming the file or option
concerned, no traceback, nothing on stdout, and nothing left behind: the
folder holds exactly what it held before (no results, no hidden
``.sutures-partial-*`` folder; ``--out`` may exist, empty). Rows marked
``child`` run in a separate process, because the bug they guard against
killed the process (OpenCV segfaulted on names that are not UTF-8).

Runs that need more than one command (two at once, a signal mid-run) and
the real read-only and full file systems (a tmpfs inside ``unshare -rm``)
follow the table. The model is the hand-weighted spot detector of
:mod:`heatmap_landmarks.testing`: one point per red disc.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from badinput import (REPO, assert_refused, assert_refused_on_tmpfs, bad_name, cut, run_child, run_cli, snapshot,
                      truncated_video)
from heatmap_landmarks.adaptor_json import read_point_labels, read_submission_json
from heatmap_landmarks.testing import draw_spot_frame

SHAPE = (37, 61)


# --------------------------------------------------------------------------- inputs
def write_frame(path, centres=((20, 20),), shape=SHAPE):
    rgb = draw_spot_frame(shape, centres, dtype=np.uint8)
    assert cv2.imwrite(os.fspath(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def frame(*argv):
    """A good frame ``ok.png`` with the extra arguments ``argv``."""
    return lambda d, m: [write_frame(d / "ok.png", [[9, 9]]), *argv]


def grey_png(d, m):
    cv2.imwrite(os.fspath(d / "grey.png"), np.zeros(SHAPE, np.uint8))
    return [d / "grey.png"]


def transparent_png(d, m):
    bgra = np.dstack([np.zeros(SHAPE + (3,), np.uint8), np.full(SHAPE, 255, np.uint8)])
    bgra[0, 0, 3] = 10
    cv2.imwrite(os.fspath(d / "rgba.png"), bgra)
    return [d / "rgba.png"]


def empty_folder(d, m):
    (d / "frames").mkdir()
    return [d / "frames"]


def unreadable_video(d, m):
    (d / "clip.mp4").write_bytes(b"this is not a video" * 50)
    return [d / "clip.mp4"]


def folder_with_bad_second_frame(d, m):
    (d / "frames").mkdir()
    write_frame(d / "frames" / "000000.png")
    cv2.imwrite(os.fspath(d / "frames" / "000001.png"), np.zeros(SHAPE, np.uint8))  # grey: fails mid-run
    write_frame(d / "frames" / "000002.png")
    return [d / "frames", "--batch-size", "1"]


def truncated_frame(name: str):
    def make(d, m):
        return [cut(write_frame(d / name, [[20, 20], [40, 10]], shape=(96, 128)), 0.5)]
    return make


def same_stem_frames(d, m):
    (d / "frames").mkdir()
    for name in ("a.png", "a.jpg", "b.png"):
        write_frame(d / "frames" / name)
    return [d / "frames"]


def non_utf8_frame(d, m):
    path = bad_name(d, ".png")
    with open(path, "wb") as f:
        f.write(write_frame(d / "ok.png").read_bytes())
    os.unlink(d / "ok.png")
    return [path]


def folder_with_non_utf8_frame(d, m):
    (d / "frames").mkdir()
    write_frame(d / "frames" / "000000.png")
    with open(bad_name(d / "frames", ".png"), "wb") as f:
        f.write((d / "frames" / "000000.png").read_bytes())
    return [d / "frames"]


def edited_card(edit):
    """A copy of the spot detector's card (``bad_card.json`` beside its weights) changed by ``edit(card_dict)``."""
    def make(d, m):
        folder = d / "card"
        folder.mkdir()
        card = json.loads(Path(m).read_text(encoding="utf-8"))
        shutil.copy(Path(m).with_suffix(".safetensors"), folder / card["weights_file"])
        edit(card)
        (folder / "bad_card.json").write_text(json.dumps(card), encoding="utf-8")
        return [write_frame(d / "ok.png"), "--weights", folder / "bad_card.json"]
    return make


def out_inside_file(d, m):
    (d / "notes.txt").write_text("mine")
    return [write_frame(d / "000000.png", [[10, 12]]), "--out", d / "notes.txt" / "out"]


def out_is_file(d, m):
    (d / "o").write_text("x")
    return [write_frame(d / "ok.png"), "--out", d / "o"]


def point_labels_is_a_file(d, m):
    (d / "out").mkdir()
    (d / "out" / "point_labels").write_text("not a folder")
    return [write_frame(d / "ok.png")]


def earlier_labels_in_out(d, m):
    (d / "out" / "point_labels").mkdir(parents=True)
    (d / "out" / "point_labels" / "other.json").write_text("{}")
    return [write_frame(d / "f.png")]


# --------------------------------------------------------------------------- the table
ROWS = [
    # pytest.param(make(tmp_path, model) -> argv, expected exit, pattern of the line, names it must hold, child)
    # item 1: names that are not UTF-8 crashed OpenCV (SIGSEGV)
    pytest.param(lambda d, m: [write_frame(d / "frame.png"), "--out", bad_name(d, "out")], 2, r"not valid UTF-8",
                 ["scan\\xff\\xfeout"], True, id="non-utf8-out"),
    pytest.param(non_utf8_frame, 2, r"not valid UTF-8", ["scan\\xff\\xfe.png"], True, id="non-utf8-frame-name"),
    pytest.param(folder_with_non_utf8_frame, 2, r"not valid UTF-8", ["scan\\xff\\xfe.png"], True,
                 id="non-utf8-name-in-folder"),
    # item 2: truncated frames (PNG and JPG were already caught; kept in the table)
    pytest.param(truncated_frame("cut.png"), 2, r"truncated", ["cut.png"], False, id="png-cut-50"),
    pytest.param(truncated_frame("cut.jpg"), 2, r"truncated", ["cut.jpg"], False, id="jpg-cut-50"),
    # item 3: results of an earlier run are never replaced or mixed in without --overwrite (races: below)
    pytest.param(earlier_labels_in_out, 2, r"point_labels: already holds results", ["--overwrite"], False,
                 id="earlier-labels-in-out"),
    # item 6: a truncated video was processed up to the break and reported as a success
    pytest.param(lambda d, m: [truncated_video(d / "cut.avi")], 2, r"of the 60 frames its container declares.*--accept-short-video", ["cut.avi"],
                 False, id="video-truncated"),
    # item 7: output folders that cannot take the results (EROFS, ENOSPC: below)
    pytest.param(out_inside_file, 2, r"cannot write the results here: a part of the path is a file",
                 ["notes.txt/out"], False, id="out-inside-a-file"),
    pytest.param(out_is_file, 2, r"is a file; --out must be a folder", ["/o:"], False, id="out-is-a-file"),
    # item 8: a sutures card with an unknown decoder key ("level") passed validation
    pytest.param(edited_card(lambda c: c["decoder"].__setitem__("level", 0.5)), 2, r"unknown setting.*'level'",
                 ["bad_card.json"], False, id="card-unknown-decoder-key"),
    pytest.param(edited_card(lambda c: c["decoder"].__setitem__("threshold", "otsu")), 2,
                 r"decoder\.threshold.*number or null", ["bad_card.json"], False, id="card-threshold-text"),
    # item 11: point_labels as a file failed after the other results were already moved in
    pytest.param(point_labels_is_a_file, 2, r"point_labels: already exists", ["--overwrite"], False,
                 id="point-labels-is-a-file"),
    # item 15: library text before the error, frames with the same stem
    pytest.param(unreadable_video, 2, r"cannot be opened as a video|no frame could be decoded", ["clip.mp4"],
                 False, id="unreadable-video"),
    pytest.param(same_stem_frames, 2, r"^(?!.*overwrite).*frames a\.jpg and a\.png have the same name stem",
                 ["frames"], False, id="same-stem-frames"),
    # item 16: --batch-size 0 was replaced by the default; --opening 100000 ran 46 s, then a cv2 traceback
    *[pytest.param(frame("--batch-size", v), 2, r"--batch-size.*>= 1", ["--batch-size"], False,
                   id=f"batch-size-{v}") for v in ("0", "-4", "two")],
    pytest.param(frame("--opening", "100000"), 2, r"--opening must be .* from 0 to 255", ["--opening"], False,
                 id="opening-huge"),
    # other bad frames and settings (held before issue 15; kept in the table)
    pytest.param(grey_png, 2, r"greyscale frame", ["grey.png"], False, id="grey"),
    pytest.param(grey_png, 2, r"greyscale frame", ["grey.png"], True, id="grey-real-process"),
    pytest.param(transparent_png, 2, r"transparency", ["rgba.png"], False, id="rgba-transparent"),
    pytest.param(empty_folder, 2, r"holds no frames", ["frames"], False, id="empty-folder"),
    pytest.param(lambda d, m: [d / "missing.png"], 2, r"does not exist", ["missing.png"], False, id="missing"),
    pytest.param(folder_with_bad_second_frame, 2, r"000001\.png: greyscale frame", ["000001.png"], False,
                 id="bad-frame-mid-run"),
    pytest.param(frame("--threshold", "2"), 2, r"--threshold must be in", ["--threshold"], False, id="threshold"),
    pytest.param(frame("--weights", "/nowhere/model.json"), 2, r"weights file not found", ["/nowhere/model.json"],
                 False, id="weights-missing"),
]


@pytest.mark.parametrize("make, code, pattern, names, child", ROWS)
def test_bad_input_one_line_nothing_left(make, code, pattern, names, child, tmp_path, spot_model, capfd):
    argv = [os.fspath(a) if isinstance(a, Path) else a for a in make(tmp_path, spot_model)]
    if "--weights" not in argv:
        argv += ["--weights", os.fspath(spot_model)]
    if "--out" not in argv:
        argv += ["--out", os.fspath(tmp_path / "out")]
    out = Path(argv[argv.index("--out") + 1])
    argv = ["sutures", *argv, "--quiet"]
    before = snapshot(tmp_path)
    result = run_child(argv) if child else run_cli(argv, capfd)
    assert_refused("sutures", *result, expected_code=code, pattern=pattern, names=names, before=before,
                   folder=tmp_path, out=out)


# --------------------------------------------------------------------------- item 7: real EROFS, ENOSPC, EPERM
@pytest.mark.parametrize("options, inside, pattern", [
    pytest.param("ro", "out", r"the file system is read-only", id="erofs-new-out"),  # item 7
    pytest.param("ro", "", r"the file system is read-only", id="erofs-existing-out"),  # item 7
    pytest.param("size=16k", "out", r"no space left on the device", id="enospc"),  # item 7: a full disk
])
def test_out_on_a_read_only_or_full_file_system(options, inside, pattern, tmp_path, spot_model, mounted_tmpfs):
    """``--out`` on a real read-only or full tmpfs: exit 2, one line naming ``--out``'s folder (never the hidden
    staging path), and nothing left on the file system."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    out = mount / inside if inside else mount
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(8):
        write_frame(frames / f"{i:06d}.png", [[10 + 5 * i, 12], [30, 20 + i]], shape=(96, 128))
    assert_refused_on_tmpfs("sutures", [frames, "--out", out, "--weights", spot_model], mount=mount, out=out,
                            inside=inside, options=options, pattern=pattern, wrap=mounted_tmpfs, folder=tmp_path)


def test_out_in_an_immutable_folder(tmp_path, spot_model, immutable_folder, capfd):
    """Item 7: an immutable folder (PermissionError / EPERM even for root) as --out, and a new folder inside it."""
    source = write_frame(tmp_path / "000000.png")
    for out in (immutable_folder, immutable_folder / "out"):
        before = snapshot(tmp_path)
        result = run_cli(["sutures", source, "--out", out, "--weights", spot_model, "--quiet"], capfd)
        assert_refused("sutures", *result, pattern=r"cannot write the results here: operation not permitted",
                       names=[f"{out}: "], before=before, folder=tmp_path)


# --------------------------------------------------------------------------- item 3: two runs at once
def test_two_runs_into_one_folder_do_not_mix(tmp_path, spot_model):
    """Two processes at once into one --out: one publishes, the other is refused with one line; nothing mixes."""
    frames = {}
    for name, x in (("a", 10), ("b", 40)):
        folder = tmp_path / name
        folder.mkdir()
        for i in range(6):
            write_frame(folder / f"{i:06d}.png", [[x, 12 + i]])
        frames[name] = folder
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-m", "heatmap_landmarks.cli", "sutures", os.fspath(frames[n]),
                               "--out", os.fspath(out), "--weights", os.fspath(spot_model), "--quiet"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO) for n in "ab"]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 2], results  # without --overwrite the later one is refused
    refused = next(err for code, err in results if code == 2)
    assert refused.strip().count("\n") == 0 and ("already exists" in refused or "already holds" in refused)
    assert refused.startswith("heatmap-landmarks sutures: error: ") and "Traceback" not in refused
    # Whatever was published comes from one run only: every label's x is that run's x.
    xs = {round(float(p[0])) for f in (out / "point_labels").iterdir() for p in read_point_labels(f)[0]}
    assert xs in ({10}, {40}), xs
    submission_x = {round(float(e.points[0][0])) for e in read_submission_json(out / "submission.json")}
    assert submission_x == xs
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


# --------------------------------------------------------------------------- item 13: SIGTERM and SIGINT
@pytest.mark.parametrize("signum, code, words", [
    pytest.param(signal.SIGTERM, 143, "terminated (SIGTERM); nothing was written", id="SIGTERM"),  # item 13
    pytest.param(signal.SIGINT, 130, "interrupted", id="SIGINT"),  # item 13 (held already)
])
def test_signal_mid_run_leaves_nothing(signum, code, words, tmp_path, spot_model):
    """SIGTERM (a scheduler's limit) and Ctrl-C while frames are staged: the signal's exit status, one line, and
    no staging folder, no results."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(120):
        write_frame(frames / f"{i:06d}.png", [[40, 30]], shape=(192, 320))
    out = tmp_path / "out"
    # A job started in the background inherits SIGINT ignored (so that Ctrl-C in its terminal spares it), and
    # Python keeps it ignored: give the child the default disposition, as an interactive command has.
    proc = subprocess.Popen([sys.executable, "-m", "heatmap_landmarks.cli", "sutures", os.fspath(frames), "--out",
                             os.fspath(out), "--weights", os.fspath(spot_model), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        staged = list(out.glob(".sutures-partial-*/point_labels/*.json")) if out.is_dir() else []
        if staged:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.Signals(signum))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert stderr == f"heatmap-landmarks sutures: {words}\n" and stdout == "", stderr
    assert not out.exists()  # the staging folder went, nothing was published, and the --out this run made is gone too
