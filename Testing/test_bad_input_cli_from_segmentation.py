"""``heatmap-landmarks from-segmentation`` on bad and edge inputs: one table row per case of issue 15's catalogue.

Each row says how the bad label map (or image, or setting) is made, really
written in ``tmp_path``, the exit status and a pattern for the one stderr
line; every row must then show (:func:`badinput.assert_refused`) exactly one
line ``heatmap-landmarks from-segmentation: error: ...`` naming the file or
option concerned, no traceback, nothing on stdout, and nothing left behind
(no result, no hidden staging folder; ``--out`` may exist, empty). Rows
marked ``child`` run in a separate process, because the bug they guard
against killed the process. No model is run, so no weights are involved.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from badinput import (assert_refused, bad_name, dicom, newline_name, nifti_with, ramp, run_child, run_cli,
                      sax_label_slices, snapshot, symlink_loop, truncated, two_component, write_dicom,
                      write_label_nifti)
from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.io import write_image

UID_A, UID_B = "1.2.826.0.1.3680043.8.498.41", "1.2.826.0.1.3680043.8.498.42"
GRID = Geometry(spacing=(1.0, 1.0, 8.0), origin=(0.0, 0.0, 0.0), direction=np.eye(3))


def labels(*argv):
    """A good label map ``seg.nii.gz`` with the extra arguments ``argv``."""
    return lambda d: [write_label_nifti(d / "seg.nii.gz"), *argv]


def image(make, *argv):
    """The label map made by ``make(folder) -> path`` (a broken-file writer of ``badinput``), then ``argv``."""
    return lambda d: [make(d), *argv]


def float_labels(d: Path) -> Path:
    bad = sax_label_slices().astype(np.float32)
    bad[1, 5, 7] = 1.5
    return write_image(d / "float.nii.gz", bad, GRID)


def nan_mha(d: Path) -> Path:
    bad = sax_label_slices().astype(np.float32)
    bad[1, 3, 3] = np.nan
    return write_image(d / "nan.mha", bad, GRID)


def other_image(shape, spacing=(1.0, 1.0, 8.0)):
    def make(d: Path) -> list:
        grid = Geometry(spacing=spacing, origin=GRID.origin, direction=GRID.direction)
        return [write_label_nifti(d / "seg.nii.gz"), "--image", write_image(d / "img.nii.gz",
                                                                            np.zeros(shape, np.int16), grid)]
    return make


def two_series(d: Path) -> Path:
    folder = d / "dicom"
    folder.mkdir()
    lab = sax_label_slices(2).astype(np.int16)
    for k in range(2):
        write_dicom(folder / f"a{k}.dcm", lab[k], position=(0, 0, 8.0 * k), instance=k + 1, series=UID_A)
        write_dicom(folder / f"b{k}.dcm", lab[k], position=(0, 0, 8.0 * k), instance=k + 3, series=UID_B)
    return folder


def non_utf8_labels(d: Path) -> list:
    path = bad_name(d, ".nii.gz")
    with open(path, "wb") as f:
        f.write(write_label_nifti(d / "ok.nii.gz").read_bytes())
    os.unlink(d / "ok.nii.gz")
    return [path]


def out_inside_file(d: Path) -> list:
    (d / "notes.txt").write_text("mine")
    return [write_label_nifti(d / "seg.nii.gz"), "--out", d / "notes.txt" / "out"]


def out_is_file(d: Path) -> list:
    (d / "o").write_text("x")
    return [write_label_nifti(d / "seg.nii.gz"), "--out", d / "o"]


ROWS = [
    # pytest.param(make(tmp_path) -> argv, expected exit, pattern of the line, names it must hold, child)
    # item 1: names that are not UTF-8 crashed SimpleITK (SIGABRT)
    pytest.param(non_utf8_labels, 2, r"not valid UTF-8", ["scan\\xff\\xfe"], True, id="non-utf8-labelmap-name"),
    # item 2: truncated NIfTI was read with zeros for the missing part
    pytest.param(image(truncated("cut.nii", 0.5, sax_label_slices(4).astype(np.float32))), 2, r"truncated",
                 ["cut.nii"], False, id="nii-cut-50"),
    pytest.param(image(truncated("cut.nii.gz", 0.9, sax_label_slices(4).astype(np.float32))), 2, r"truncated",
                 ["cut.nii.gz"], False, id="nii.gz-cut-90"),
    # item 4: NaN in NIfTI became 0 (in MetaImage it was already refused)
    pytest.param(image(nifti_with(np.nan, "nan.nii.gz", sax_label_slices(4))), 2, r"1 NaN", ["nan.nii.gz"], False,
                 id="nii-nan"),
    pytest.param(image(nan_mha), 2, r"NaN", ["nan.mha"], False, id="mha-nan"),
    # item 5: short DICOM pixel data was read as garbage
    pytest.param(image(dicom("short.dcm", pixel_bytes=ramp((3, 8), np.int16).astype("<i2").tobytes())), 2,
                 r"pixel data too short", ["short.dcm"], False, id="dcm-short-pixel-data"),
    # item 7: output folders that cannot take the results
    pytest.param(out_inside_file, 2, r"cannot write the results here: a part of the path is a file",
                 ["notes.txt/out"], False, id="out-inside-a-file"),
    pytest.param(out_is_file, 2, r"is a file", ["/o:"], False, id="out-is-a-file"),
    # item 10: --name was taken as a path
    *[pytest.param(labels("--name", name), 2, r"--name.*plain file name", ["--name"], False, id=f"name-{label}")
      for name, label in (("../x", "parent"), ("a/b", "sub"), (".", "dot"), ("..", "dotdot"), ("/tmp/abs", "abs"),
                          ("", "empty"))],
    # item 12: a folder of two DICOM series (--series-uid did not exist)
    pytest.param(image(two_series), 2, r"2 DICOM series.*--series-uid", [UID_A, UID_B], False,
                 id="two-series-without-uid"),
    pytest.param(image(two_series, "--series-uid", "9.9.9"), 2, r"9\.9\.9", ["dicom"], False,
                 id="two-series-unknown-uid"),
    pytest.param(lambda d: [write_label_nifti(d / "seg.nii.gz"), "--image", two_series(d), "--image-series-uid",
                            "9.9.9"], 2, r"9\.9\.9", ["dicom"], False, id="image-two-series-unknown-uid"),
    # item 15: the one-line promise (newlines in names, the wrong reason)
    pytest.param(image(newline_name), 2, r"truncated", ["two\\nlines.nii"], False, id="newline-in-name"),
    pytest.param(image(symlink_loop), 2, r"^(?!.*does not exist).*symbolic link loop", ["loop-a.nii.gz"], False,
                 id="symlink-loop"),
    pytest.param(image(two_component(False)), 2, r"^(?!.*transparency).*2-component", ["flow.nii.gz"], False,
                 id="nii-2-component"),
    # --spacing must be finite and positive (issue 15, item 5: --spacing replaces an assumed value)
    *[pytest.param(labels("--spacing", *v), 2, r"--spacing.*mm > 0", ["--spacing"], False,
                   id=f"spacing-{'-'.join(v)}") for v in (("0", "1"), ("1", "-2"), ("nan", "1"), ("1", "inf"),
                                                          ("x", "1"))],
    # other bad label maps and settings (held before issue 15; kept in the table)
    pytest.param(lambda d: [d / "nowhere.nii.gz"], 2, r"does not exist", ["nowhere.nii.gz"], False, id="missing"),
    pytest.param(image(float_labels), 2, r"non-integer values", ["float.nii.gz"], False, id="non-integer"),
    pytest.param(labels("--labels", "1,2,5"), 2, r"no voxel has the LV cavity 5 label value", ["seg.nii.gz"],
                 False, id="absent-label-value"),
    pytest.param(labels("--labels", "1,2"), 2, r"expected three whole numbers", ["--labels"], False,
                 id="labels-text"),
    pytest.param(labels("--labels", "1,1,3"), 2, r"three distinct positive integers", ["--labels"], False,
                 id="labels-repeated"),
    pytest.param(other_image((2, 40, 64)), 2, r"another grid", ["img.nii.gz"], False, id="image-other-shape"),
    pytest.param(other_image((2, 64, 64), (1.3, 1.0, 8.0)), 2, r"mm apart in the two", ["img.nii.gz"], False,
                 id="image-other-spacing"),
    pytest.param(lambda d: [write_label_nifti(d / "seg.nii.gz"), "--image", d / "nowhere.nii.gz"], 2,
                 r"does not exist", ["nowhere.nii.gz"], False, id="image-missing"),
]


@pytest.mark.parametrize("make, code, pattern, names, child", ROWS)
def test_bad_input_one_line_nothing_left(make, code, pattern, names, child, tmp_path, capfd):
    argv = [os.fspath(a) if isinstance(a, Path) else a for a in make(tmp_path)]
    if "--out" not in argv:
        argv += ["--out", os.fspath(tmp_path / "out")]
    out = Path(argv[argv.index("--out") + 1])
    argv = ["from-segmentation", *argv]
    before = snapshot(tmp_path)
    result = run_child(argv) if child else run_cli(argv, capfd)
    assert_refused("from-segmentation", *result, expected_code=code, pattern=pattern, names=names, before=before,
                   folder=tmp_path, out=out)

