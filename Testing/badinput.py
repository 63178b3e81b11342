"""What the bad-input tables share (issue 15): writers of broken files, and the check every refused run passes.

``test_bad_input_io.py`` reads these files through :mod:`heatmap_landmarks.io`;
the per-command tables (``test_bad_input_cli_<command>.py``) give them to the
command line. The files are really written in the test's folder, byte by byte
where a library would refuse to write them. ``Testing/conftest.py`` puts this
folder on ``sys.path``, so a test imports it as ``badinput``.
"""
from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import SimpleITK as sitk

from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.io import write_image

REPO = Path(__file__).resolve().parents[1]
BAD = b"scan\xff\xfe"  # Latin-1 bytes, not UTF-8: what a name copied from an old Windows share looks like


# --------------------------------------------------------------------------- writers of broken files
def ramp(shape, dtype=np.float32):
    return (np.arange(int(np.prod(shape))).reshape(shape) % 251 + 1).astype(dtype)


def volume(path: Path, array=None) -> Path:
    return write_image(path, ramp((4, 16, 16)) if array is None else array, Geometry(spacing=(0.8, 0.9, 5.0)))


def cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return path


def truncated(name: str, fraction: float, array=None):
    """``make(folder) -> path``: a file ``name`` (format from the extension) cut to ``fraction`` of its bytes."""
    def make(d: Path) -> Path:
        if name.endswith((".png", ".jpg")):
            path = write_image(d / name, ramp((1, 64, 64), np.uint8) if array is None else array, Geometry())
        elif name.endswith(".dcm"):
            path = write_dicom(d / name, ramp((32, 32), np.int16))
        else:
            path = volume(d / name, array)
        return cut(path, fraction)
    return make


def nifti_with(value, name="bad.nii", array=None):
    """``make(folder) -> path``: a NIfTI holding one ``value`` (NaN, inf) at voxel (2, 3, 4), or only NaN."""
    def make(d: Path) -> Path:
        a = (ramp((4, 16, 16)) if array is None else np.array(array, np.float32))
        if value == "all-nan":
            a[:] = np.nan
        else:
            a[2, 3, 4] = value
        return write_image(d / name, a, Geometry())
    return make


_LONG_VR = (b"OB", b"OW", b"SQ", b"UN", b"UT")


def _element(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB") else b" "
    head = struct.pack("<HH", group, elem) + vr
    if vr in _LONG_VR:
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def write_dicom(path: Path, pixels, *, tags=None, drop=(), pixel_bytes=None, position=(10.0, -20.0, 30.0),
                instance=1, series="1.2.826.0.1.3680043.8.498.1") -> Path:
    """An explicit-VR little-endian MR slice written byte by byte, so any tag can be missing or wrong.

    (SimpleITK's DICOM writer always fills PixelSpacing, orientation and position
    in from the image, so it cannot make the files GDCM silently "repairs".)
    ``tags``: ``{(group, element): (VR, value)}``; ``drop``: tags to leave out.
    """
    pixels = np.asarray(pixels, np.int16)
    rows, cols = pixels.shape
    sop = f"1.2.826.0.1.3680043.8.498.7.{instance}"
    data = {
        (0x0008, 0x0016): (b"UI", "1.2.840.10008.5.1.4.1.1.4"), (0x0008, 0x0018): (b"UI", sop),
        (0x0008, 0x0060): (b"CS", "MR"), (0x0010, 0x0020): (b"LO", "PHANTOM"), (0x0018, 0x0050): (b"DS", "5"),
        (0x0020, 0x000D): (b"UI", "1.2.826.0.1.3680043.8.498.99"), (0x0020, 0x000E): (b"UI", series),
        (0x0020, 0x0013): (b"IS", str(instance)), (0x0020, 0x0032): (b"DS", "\\".join(f"{v:g}" for v in position)),
        (0x0020, 0x0037): (b"DS", "1\\0\\0\\0\\1\\0"), (0x0028, 0x0002): (b"US", 1),
        (0x0028, 0x0004): (b"CS", "MONOCHROME2"), (0x0028, 0x0010): (b"US", rows), (0x0028, 0x0011): (b"US", cols),
        (0x0028, 0x0030): (b"DS", "0.7\\0.8"), (0x0028, 0x0100): (b"US", 16), (0x0028, 0x0101): (b"US", 16),
        (0x0028, 0x0102): (b"US", 15), (0x0028, 0x0103): (b"US", 1),
        (0x7FE0, 0x0010): (b"OW", pixels.astype("<i2").tobytes() if pixel_bytes is None else pixel_bytes),
    }
    data.update(tags or {})
    for tag in drop:
        data.pop(tag)
    body = b"".join(_element(g, e, vr, struct.pack("<H", v) if vr == b"US" else
                             (v if isinstance(v, bytes) else v.encode())) for (g, e), (vr, v) in sorted(data.items()))
    meta = (_element(2, 1, b"OB", b"\0\1") + _element(2, 2, b"UI", b"1.2.840.10008.5.1.4.1.1.4")
            + _element(2, 3, b"UI", sop.encode()) + _element(2, 0x10, b"UI", b"1.2.840.10008.1.2.1")
            + _element(2, 0x12, b"UI", b"1.2.826.0.1.3680043.8.498.1"))
    path.write_bytes(b"\0" * 128 + b"DICM" + _element(2, 0, b"UL", struct.pack("<I", len(meta))) + meta + body)
    return path


def dicom(name="IM-1.dcm", **kwargs):
    """``make(folder) -> path``: :func:`write_dicom` of a 6 x 8 ramp."""
    return lambda d: write_dicom(d / name, ramp((6, 8), np.int16), **kwargs)


def series_with_truncated_slice(d: Path) -> Path:
    """A folder of five DICOM slices, the third cut at 60 %."""
    folder = d / "series"
    folder.mkdir()
    for k in range(5):
        write_dicom(folder / f"IM-{k}.dcm", ramp((32, 32), np.int16), position=(0, 0, 5.0 * k), instance=k + 1)
    cut(folder / "IM-2.dcm", 0.6)
    return folder


def two_component(constant: bool):
    """``make(folder) -> path``: a 2-component (vector) NIfTI, its second component constant or not."""
    def make(d: Path) -> Path:
        a = np.ones((4, 5, 2), np.float32)
        if not constant:
            a[..., 1] = np.arange(20, dtype=np.float32).reshape(4, 5)
        sitk.WriteImage(sitk.GetImageFromArray(a, isVector=True), str(d / "flow.nii.gz"))
        return d / "flow.nii.gz"
    return make


def symlink_loop(d: Path) -> Path:
    os.symlink(d / "loop-b.nii.gz", d / "loop-a.nii.gz")
    os.symlink(d / "loop-a.nii.gz", d / "loop-b.nii.gz")
    return d / "loop-a.nii.gz"


def newline_name(d: Path) -> Path:
    """A truncated NIfTI whose name holds a newline."""
    return cut(volume(d / "two\nlines.nii"), 0.5)


def truncated_video(path: Path, n: int = 60, shape=(37, 61)) -> Path:
    """An MJPG AVI of ``n`` spot frames (heatmap_landmarks.testing) cut in the middle: its header still declares
    ``n`` frames."""
    from heatmap_landmarks.testing import draw_spot_frame

    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (shape[1], shape[0]))
    for i in range(n):
        writer.write(cv2.cvtColor(draw_spot_frame(shape, [[10 + i % 40, 12]], dtype=np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    return cut(path, 0.5)


def bad_name(folder: Path, suffix: str) -> str:
    """``folder/scan\\xff\\xfe<suffix>``: a path whose last name is not valid UTF-8 (as ``str``, surrogate-escaped)."""
    return os.fsdecode(os.fsencode(folder) + b"/" + BAD + suffix.encode())


# --------------------------------------------------------------------------- label maps (from-segmentation)
def sax_label_slices(n: int = 2) -> np.ndarray:
    """``(n, 64, 64)`` uint8: RV 1 (left), myocardium 2, LV cavity 3 (centre (40, 32) px)."""
    lab = np.zeros((n, 64, 64), np.uint8)
    for z in range(n):
        cv2.circle(lab[z], (40, 32), 12, 2, -1)
        cv2.circle(lab[z], (40, 32), 8, 3, -1)
        cv2.ellipse(lab[z], (22, 32), (8, 14), 0, 0, 360, 1, -1)
    return lab


def write_label_nifti(path, spacing=(1.0, 1.0, 8.0)) -> Path:
    write_image(path, sax_label_slices(), Geometry(spacing=spacing, origin=(0.0, 0.0, 0.0), direction=np.eye(3)),
                kind="3d")
    return Path(path)



# --------------------------------------------------------------------------- running a command and checking it
def snapshot(folder: Path) -> dict:
    """Every entry under ``folder`` (hidden ones too): relative path -> bytes, ``"<dir>"`` or ``"-> target"``."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = Path(root) / name
            key = os.fspath(p.relative_to(folder))
            if p.is_symlink():
                out[key] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[key] = "<dir>"
            else:
                out[key] = p.read_bytes()
    return out


def run_cli(argv, capfd) -> tuple[int, str, str]:
    """``heatmap-landmarks ARGV`` in this process; stdout and stderr as the file descriptors saw them (so library
    output written below Python, e.g. by ITK or FFmpeg, counts too). An argparse refusal is its exit code."""
    from heatmap_landmarks import cli

    try:
        code = cli.main([os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in argv])
    except SystemExit as exited:
        code = exited.code
    out, err = capfd.readouterr()
    return code, out, err


def run_child(argv, *, timeout: float = 300, wrap=None) -> tuple[int, str, str]:
    """``python -m heatmap_landmarks.cli ARGV`` in a child process (a crash there fails the row, not pytest).

    ``wrap(command) -> command`` may put the command inside another one (``unshare``, see conftest.py).
    """
    command = [sys.executable, "-m", "heatmap_landmarks.cli", *(os.fsencode(a) for a in argv)]
    if wrap is not None:
        command = wrap(command)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (os.fspath(REPO), os.environ.get("PYTHONPATH"))
                                                          if p)}
    result = subprocess.run(command, cwd=REPO, capture_output=True, timeout=timeout, env=env)
    return (result.returncode, result.stdout.decode("utf-8", "replace"),
            result.stderr.decode("utf-8", "replace"))


def assert_refused(command: str, code: int, stdout: str, stderr: str, *, expected_code: int = 2,
                   pattern: str = "", names=(), before=None, folder=None, out=None) -> str:
    """What every refused run must show; returns the one line.

    * exit status ``expected_code``, nothing on stdout;
    * stderr is exactly one line, ``heatmap-landmarks <command>: error: ...``, matching ``pattern``, holding each
      of ``names`` (the file or option concerned), no traceback, no hidden staging or temporary name;
    * nothing was left: the tree under ``folder`` is ``before`` (:func:`snapshot`) again, except that ``out``
      may now exist as an empty folder (no files, no hidden staging folder).
    """
    assert code == expected_code, (code, stderr[-2000:])
    assert stdout == "", stdout
    lines = stderr.split("\n")
    assert len(lines) == 2 and lines[1] == "" and "\r" not in stderr, repr(stderr[-2000:])
    line = lines[0]
    prefix = f"heatmap-landmarks {command}: error: " if expected_code == 2 else f"heatmap-landmarks {command}: "
    assert line.startswith(prefix), line
    assert "Traceback" not in stderr and line.isprintable(), repr(line)
    assert re.search(pattern, line), (pattern, line)
    for name in names:
        assert name in line, (name, line)
    assert not re.search(r"\.partial-|\.sutures-partial-|\.tmp-|\.old-", line), line  # never a staging name
    if before is not None:
        after = snapshot(folder)
        if out is not None:
            key = os.fspath(Path(out).relative_to(folder))
            if key not in before and after.get(key) == "<dir>":
                del after[key]  # created, but empty: any entry inside it would remain in ``after``
        assert after == before, sorted(set(after) ^ set(before)) or "a file was changed"
    return line


def write_edited_card(folder: Path, card_path, edit) -> Path:
    """``folder/bad_card.json``: a copy of the model card ``card_path`` (its weights copied beside it), changed by
    ``edit(card_dict)``; returns its path."""
    import json
    import shutil

    folder.mkdir()
    card = json.loads(Path(card_path).read_text(encoding="utf-8"))
    shutil.copy(Path(card_path).with_suffix(".safetensors"), folder / card["weights_file"])
    edit(card)
    (folder / "bad_card.json").write_text(json.dumps(card), encoding="utf-8")
    return folder / "bad_card.json"


def assert_refused_on_tmpfs(command: str, argv, *, mount: Path, out: Path, inside: str, options: str, pattern: str,
                            wrap, folder: Path) -> None:
    """Run ``heatmap-landmarks <command> argv`` with a tmpfs (``options``) mounted on ``mount`` (``wrap``: the
    ``mounted_tmpfs`` fixture) and ``--out`` ``out`` on it (``inside``: its name there, "" for the mount itself):
    refused in one line naming ``out`` (never the staging path), at most the empty ``out`` left on the tmpfs, and
    the tree under ``folder`` unchanged."""
    listing = folder / "listing.txt"
    before = snapshot(folder)
    result = run_child([command, *argv, "--quiet"], wrap=wrap(mount, options, listing))
    line = assert_refused(command, *result, pattern=pattern, names=[f"{out}: cannot write the results here"])
    assert "partial" not in line
    left = [entry for entry in listing.read_text().splitlines() if entry and not entry.endswith(":")]
    assert left in ([], [inside] if inside else []), left  # at most the (empty) --out folder itself
    listing.unlink()
    assert snapshot(folder) == before
