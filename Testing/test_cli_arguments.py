"""Command-line arguments: --spacing, --series-uid, assumed-value notes, a closed stdout and --timings. Label maps go
through ``from-segmentation`` (no model), images through ``cardiac`` with the input-copying test model. Refused
values (--spacing, --name, --batch-size, a name that is not UTF-8, an unknown --series-uid) are rows of the
per-command tables ``test_bad_input_cli_<command>.py``."""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]

from badinput import sax_label_slices, write_label_nifti  # noqa: E402
from heatmap_landmarks.testing import blob_frame, blob_points, save_identity_checkpoint  # noqa: E402
from heatmap_landmarks import cli  # noqa: E402
from heatmap_landmarks.cli._common import EXIT_BROKEN_PIPE  # noqa: E402
from heatmap_landmarks.geometry import Geometry  # noqa: E402
from heatmap_landmarks.io import write_image  # noqa: E402

UID_A, UID_B = "1.2.826.0.1.3680043.8.498.41", "1.2.826.0.1.3680043.8.498.42"


def write_dicom_series(folder: Path, labels: np.ndarray, uid: str, prefix: str) -> None:
    """One DICOM file per slice, identity orientation, 1 mm pixels, 8 mm apart, SeriesInstanceUID ``uid``."""
    for k, pixels in enumerate(labels):
        img = sitk.GetImageFromArray(pixels.astype(np.int16))
        for key, value in {"0008|0060": "MR", "0008|0016": "1.2.840.10008.5.1.4.1.1.4",
                           "0020|000d": "1.2.826.0.1.3680043.8.498.40", "0020|000e": uid,
                           "0008|103e": f"series {prefix}", "0020|0032": f"0\\0\\{8 * k}",
                           "0020|0037": "1\\0\\0\\0\\1\\0", "0028|0030": "1\\1", "0018|0050": "8",
                           "0010|0020": "PHANTOM"}.items():
            img.SetMetaData(key, value)
        writer = sitk.ImageFileWriter()
        writer.KeepOriginalImageUIDOn()
        writer.SetFileName(str(folder / f"{prefix}{k}.dcm"))
        writer.Execute(img)


def run(argv, capsys) -> tuple[int, str, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit:  # argparse refusals
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def one_line(err: str, *fragments) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], err


# --------------------------------------------------------------------------- --spacing
def test_spacing_scales_points_and_is_noted(tmp_path, capsys):
    labels = write_label_nifti(tmp_path / "seg.nii.gz")
    code, _, err = run(["from-segmentation", labels, "--out", tmp_path / "a"], capsys)
    assert code == 0, err
    code, out, err = run(["from-segmentation", labels, "--out", tmp_path / "b", "--spacing", "2", "0.5"], capsys)
    assert code == 0, err
    plain, scaled = read_rows(tmp_path / "a" / "seg_landmarks.csv"), read_rows(tmp_path / "b" / "seg_landmarks.csv")
    assert [r["label"] for r in plain] == [r["label"] for r in scaled] and plain
    for p, s in zip(plain, scaled):
        assert (p["x"], p["y"]) == (s["x"], s["y"])  # the same pixels...
        # ...at column * 2 mm and row * 0.5 mm (identity direction, origin 0: r ~ x, a ~ y up to sign).
        assert float(s["r"]) == pytest.approx(2.0 * float(p["r"]), abs=1e-3)
        assert float(s["a"]) == pytest.approx(0.5 * float(p["a"]), abs=1e-3)
        assert float(s["s"]) == pytest.approx(float(p["s"]), abs=1e-3)
    notes = (tmp_path / "b" / "seg_notes.txt").read_text(encoding="utf-8")
    assert "note: " in err and "replaced by the given 2 x 0.5 mm" in err
    assert "replaced by the given 2 x 0.5 mm" in notes
    assert "replaced by the given" not in out  # printed once, on stderr


def test_png_without_spacing_gets_a_note_and_spacing_removes_it(tmp_path, capsys):
    """A PNG has no pixel size: the assumed 1 mm is a note on stderr and in the notes file, unless --spacing."""
    cv2.imwrite(str(tmp_path / "seg.png"), sax_label_slices(1)[0])
    code, out, err = run(["from-segmentation", tmp_path / "seg.png", "--out", tmp_path / "a"], capsys)
    assert code == 0, err
    assumed = [line for line in err.splitlines() if line.startswith("note: ")]
    assert assumed and any("spacing" in line.lower() for line in assumed), err
    notes = (tmp_path / "a" / "seg_notes.txt").read_text(encoding="utf-8")
    for line in assumed:
        assert line in notes
    code, _, err = run(["from-segmentation", tmp_path / "seg.png", "--out", tmp_path / "b", "--spacing", "0.7", "0.7"],
                       capsys)
    assert code == 0, err
    assert not any("spacing" in line.lower() for line in err.splitlines() if line.startswith("note: ")), err


@pytest.fixture(scope="module")
def lax_model(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    return save_identity_checkpoint(tmp_path_factory.mktemp("models"), "lax")


def test_cardiac_png_spacing_and_notes(tmp_path, lax_model, capsys):
    frame = blob_frame((64, 64), list(blob_points("lax").values()))
    cv2.imwrite(str(tmp_path / "lax.png"), np.clip(frame / frame.max() * 255, 0, 255).astype(np.uint8))
    argv = ["cardiac", tmp_path / "lax.png", "--view", "lax", "--weights", lax_model, "--quiet"]
    code, _, err = run([*argv, "--out", tmp_path / "a"], capsys)
    assert code == 0, err
    assert any(line.startswith("note: ") and "spacing" in line.lower() for line in err.splitlines()), err
    code, _, err = run([*argv, "--out", tmp_path / "b", "--spacing", "0.5", "0.25"], capsys)
    assert code == 0, err
    plain, scaled = read_rows(tmp_path / "a" / "lax_landmarks.csv"), read_rows(tmp_path / "b" / "lax_landmarks.csv")
    assert len(plain) == len(scaled) == 2
    # The PNG's frame has identity direction and origin 0: r = -x * SX, a = -y * SY (mm). The points move a
    # little with the spacing because the model resamples the frame to its own pixel size.
    for rows, (sx, sy) in ((plain, (1.0, 1.0)), (scaled, (0.5, 0.25))):
        for r in rows:
            assert float(r["r"]) == pytest.approx(-sx * float(r["x"]), abs=1e-3)
            assert float(r["a"]) == pytest.approx(-sy * float(r["y"]), abs=1e-3)


# --------------------------------------------------------------------------- --series-uid
def test_series_uid_chooses_the_series(tmp_path, capsys):
    folder = tmp_path / "dicom"
    folder.mkdir()
    write_dicom_series(folder, sax_label_slices(2), UID_A, "a")
    write_dicom_series(folder, np.zeros((3, 64, 64), np.uint8), UID_B, "b")
    code, _, err = run(["from-segmentation", folder, "--out", tmp_path / "o", "--series-uid", UID_A], capsys)
    assert code == 0, err
    rows = read_rows(tmp_path / "o" / "dicom_landmarks.csv")
    assert {r["slice"] for r in rows} == {"0", "1"} and {"RVI-1", "RVI-2"} <= {r["label"] for r in rows}


# --------------------------------------------------------------------------- closed stdout
def test_closed_stdout_ends_quietly(tmp_path):
    """``heatmap-landmarks ... | head -0``: the reader is gone before the summary is printed."""
    labels = write_label_nifti(tmp_path / "seg.nii.gz")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from heatmap_landmarks.cli import main; "
                             "sys.exit(main(sys.argv[1:]))", "from-segmentation", str(labels), "--out",
                             str(tmp_path / "o")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the child has imported numpy
    _, stderr = proc.communicate(timeout=300)
    stderr = stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr and "Exception ignored" not in stderr, stderr
    assert proc.returncode == EXIT_BROKEN_PIPE, (proc.returncode, stderr)
    assert (tmp_path / "o" / "seg_landmarks.csv").is_file()  # the work itself was done and published


def test_timings_breakdown_on_stderr(tmp_path, capsys):
    """Issue 16, item 4: --timings prints one line on stderr with each phase, the rest and the total."""
    card = save_identity_checkpoint(tmp_path / "m", "lax")
    frames = np.stack([blob_frame((64, 64), list(blob_points("lax", (0.0, t)).values())) for t in range(3)])
    path = write_image(tmp_path / "c.nii.gz", frames, Geometry(), kind="2d+t")
    code = cli.main(["cardiac", str(path), "--view", "lax", "--out", str(tmp_path / "o"), "--weights", str(card),
                     "--quiet", "--timings"])
    err = capsys.readouterr().err
    assert code == 0
    [line] = [l for l in err.splitlines() if l.startswith("timings: ")]
    for phase in ("model load", "read", "preprocess", "forward", "decode", "write", "other", "total"):
        assert f" {phase} " in line, line
    numbers = {k.strip(): float(v) for k, v in re.findall(r"([a-z -]+?) ([0-9.]+) s", line[9:])}
    parts = [v for k, v in numbers.items() if k != "total"]
    assert all(v >= 0 for v in parts) and sum(parts) <= numbers["total"] + 0.01 * len(parts)  # 2-decimal rounding
