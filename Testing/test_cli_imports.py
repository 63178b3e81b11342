"""What the command line imports: never slicer/vtk, and torch only when a model is run.

Each case runs ``heatmap_landmarks.cli.main`` in a fresh interpreter and
reports which heavy packages ended up in ``sys.modules``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

from heatmap_landmarks.testing import blob_frame, blob_points, save_identity_checkpoint  # noqa: E402
from heatmap_landmarks.geometry import Geometry  # noqa: E402
from heatmap_landmarks.io import write_image  # noqa: E402

HEAVY = ("slicer", "vtk", "vtkmodules", "torch", "safetensors")
PROBE = r"""
import json, sys
from heatmap_landmarks.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def run_cli(*argv) -> tuple[int, list[str], str]:
    """``(exit code, heavy modules imported, stderr)`` of ``heatmap-landmarks ARGV`` in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", PROBE, *map(str, argv)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["code"], report["loaded"], result.stderr


def sax_labels(path) -> Path:
    """A 2-slice label map (RV 1, myocardium 2, LV 3) on an identity header."""
    import cv2

    lab = np.zeros((2, 64, 64), np.uint8)
    for z in range(2):
        cv2.circle(lab[z], (40, 32), 12, 2, -1)
        cv2.circle(lab[z], (40, 32), 8, 3, -1)
        cv2.ellipse(lab[z], (22, 32), (8, 14), 0, 0, 360, 1, -1)
    write_image(path, lab, Geometry(spacing=(1.0, 1.0, 8.0), origin=(0.0, 0.0, 0.0), direction=np.eye(3)),
                kind="3d")
    return Path(path)


def test_cardiac_writes_markups_without_slicer_or_vtk(tmp_path):
    card = save_identity_checkpoint(tmp_path / "models", "lax")
    frames = np.stack([blob_frame((64, 64), list(blob_points("lax").values())) for _ in range(2)])
    write_image(tmp_path / "cine.nii.gz", frames, Geometry(spacing=(1.0, 1.0, 6.0)), kind="2d+t")
    code, loaded, stderr = run_cli("cardiac", tmp_path / "cine.nii.gz", "--view", "lax", "--weights", card,
                                   "--out", tmp_path / "out", "--quiet")
    assert code == 0, stderr
    assert "slicer" not in loaded and "vtk" not in loaded and "vtkmodules" not in loaded, loaded
    assert "torch" in loaded  # the model did run in that interpreter
    document = json.loads((tmp_path / "out" / "cine.mrk.json").read_text(encoding="utf-8"))
    assert [c["label"] for c in document["markups"][0]["controlPoints"]] == ["MV-1", "MV-2"] * 2


def test_from_segmentation_imports_no_torch_slicer_or_vtk(tmp_path):
    labels = sax_labels(tmp_path / "seg.nii.gz")
    code, loaded, stderr = run_cli("from-segmentation", labels, "--out", tmp_path / "out")
    assert code == 0, stderr
    assert loaded == [], loaded
    assert (tmp_path / "out" / "seg.mrk.json").is_file()


@pytest.mark.parametrize("argv", [
    ["--help"], ["cardiac", "--help"], ["sutures", "--help"], ["from-segmentation", "--help"], ["demo", "--help"],
    ["--version"],
], ids=lambda a: " ".join(a))
def test_help_imports_no_torch(argv):
    code, loaded, _ = run_cli(*argv)
    assert code == 0 and loaded == [], loaded


def _bad_inputs(tmp):
    """``(argv, fragment of the error)`` for bad inputs that must be refused before torch is imported."""
    tmp = Path(tmp)
    good = sax_labels(tmp / "seg.nii.gz")
    (tmp / "notes.txt").write_text("x")
    (tmp / "file").write_text("x")
    (tmp / "broken.json").write_text("{not json")
    return {
        "missing input": (["cardiac", tmp / "none.nii.gz", "--out", tmp / "o"], "does not exist"),
        "unknown type": (["cardiac", tmp / "notes.txt", "--out", tmp / "o"], "unsupported file type"),
        "missing weights": (["cardiac", good, "--out", tmp / "o", "--weights", tmp / "none.json"], "not found"),
        "invalid card": (["cardiac", good, "--out", tmp / "o", "--weights", tmp / "broken.json"], "not valid JSON"),
        "batch size -4": (["cardiac", good, "--out", tmp / "o", "--batch-size", "-4"], "--batch-size"),
        "batch size 0": (["cardiac", good, "--out", tmp / "o", "--batch-size", "0"], "--batch-size"),
        "out is a file": (["cardiac", good, "--out", tmp / "file"], "must be a folder"),
        "sutures missing": (["sutures", tmp / "none.png", "--out", tmp / "o"], "does not exist"),
        "sutures batch 0": (["sutures", tmp / "none.png", "--out", tmp / "o", "--batch-size", "0"], "--batch-size"),
        "sutures out is a file": (["sutures", _png(tmp), "--out", tmp / "file"], "must be a folder"),
        "segmentation missing": (["from-segmentation", tmp / "none.nii.gz", "--out", tmp / "o"], "does not exist"),
        "segmentation labels": (["from-segmentation", good, "--out", tmp / "o", "--labels", "1,2"], "--labels"),
        "demo frames 0": (["demo", "--frames", "0", "--out", tmp / "d"], "--frames"),
        "demo batch 0": (["demo", "--batch-size", "0", "--out", tmp / "d"], "--batch-size"),
    }


def _png(tmp: Path) -> Path:
    import cv2

    path = tmp / "frame.png"
    cv2.imwrite(str(path), np.zeros((16, 16, 3), np.uint8))
    return path


BAD_CASES = [
    "missing input", "unknown type", "missing weights", "invalid card", "batch size -4", "batch size 0", "out is a file",
    "sutures missing", "sutures batch 0", "sutures out is a file", "segmentation missing", "segmentation labels",
    "demo frames 0", "demo batch 0"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_one_line_exit_2_no_torch(case, tmp_path):
    argv, fragment = _bad_inputs(tmp_path)[case]
    code, loaded, stderr = run_cli(*argv)
    assert code == 2, stderr
    assert loaded == [], loaded
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], stderr
