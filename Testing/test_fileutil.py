"""heatmap_landmarks.fileutil: atomic files and output folders; an output folder's OSError is one line naming it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from heatmap_landmarks.errors import InputError, OutputExistsError
from heatmap_landmarks.fileutil import atomic_path, atomic_text_file, output_error, staged_outputs

READ_ONLY = Path("/sys")  # sysfs refuses new files even to root: a real EACCES without changing permissions


def _refuses_writes(folder: Path) -> bool:
    try:
        with open(folder / ".heatmap-landmarks-probe", "w"):
            pass
    except OSError:
        return True
    os.unlink(folder / ".heatmap-landmarks-probe")
    return False


needs_read_only = pytest.mark.skipif(not READ_ONLY.is_dir() or not _refuses_writes(READ_ONLY),
                                     reason="needs a folder that refuses new files (/sys on Linux)")


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "cine.seq.nrrd"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.endswith(".seq.nrrd") and tmp.parent == tmp_path
            tmp.write_text("half")
            raise RuntimeError("the writer failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["cine.seq.nrrd"]
    with pytest.raises(OutputExistsError):
        with atomic_path(target):
            pass


@needs_read_only
def test_unwritable_folder_is_one_line_naming_the_target():
    def text():
        with atomic_text_file(READ_ONLY / "sutures.csv") as fh:
            fh.write("x")

    def library():
        with atomic_path(READ_ONLY / "overlay.png") as tmp:
            tmp.write_bytes(b"x")

    for write in (text, library):
        with pytest.raises(InputError) as err:
            write()
        text = str(err.value)
        assert text.startswith(f"{READ_ONLY / ''}") and "permission denied" in text and "\n" not in text
        assert ".tmp" not in text
    with pytest.raises(InputError, match=r"^/sys/run: cannot write the results here: "):
        with staged_outputs(READ_ONLY / "run", {"csv": "a.csv"}):
            pass


def test_full_disk_message_names_the_folder_not_the_staging_path(tmp_path):
    with open("/dev/full", "w") as full, pytest.raises(OSError) as caught:
        full.write("x" * 100_000)
        full.flush()
    err = output_error(tmp_path / "out", caught.value)
    assert str(err) == f"{tmp_path / 'out'}: cannot write the results here: no space left on the device"


def test_a_failed_run_leaves_no_folder_it_made_and_keeps_the_users(tmp_path):
    """Issue 15, item 13: an interrupted or failed run leaves no empty --out (nor parents) that it created itself,
    while a folder that was there before, or one that holds something else, stays."""
    out = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(KeyboardInterrupt):
        with staged_outputs(out, {"table": "a.csv"}) as (staging, _):
            (staging / "a.csv").write_text("x")
            raise KeyboardInterrupt
    assert sorted(tmp_path.iterdir()) == []
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(RuntimeError):
        with staged_outputs(mine / "out", {"table": "a.csv"}):
            (mine / "notes.txt").write_text("the user's")  # something else appears meanwhile in a parent
            raise RuntimeError("failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"] and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError):
        with staged_outputs(existing, {"table": "a.csv"}):
            raise RuntimeError("failed")
    assert existing.is_dir() and list(existing.iterdir()) == []
    with staged_outputs(tmp_path / "ok", {"table": "a.csv"}) as (staging, published):
        (staging / "a.csv").write_text("x")
    assert (tmp_path / "ok" / "a.csv").read_text() == "x" and published["table"] == tmp_path / "ok" / "a.csv"
