"""Bad input to heatmap_landmarks.io and .video: one table row per broken file (issue 15).

Each row says how the broken file is made (really written in ``tmp_path``,
byte by byte where a library would refuse to write it) and which words the
one-line :class:`~heatmap_landmarks.errors.InputError` must hold. Every
message must name the file, stay one printable line and, for the values a
reader had to assume instead, end up in :attr:`heatmap_landmarks.io.Image.assumed`.

Names that are not valid UTF-8 used to kill the process (SimpleITK aborts,
OpenCV segfaults), so those rows run in a child interpreter: a crash fails
the row instead of the whole test session.
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from badinput import BAD, bad_name as _bad, cut as _cut, dicom as _dicom, newline_name as _newline_name
from badinput import nifti_with as _nifti_with, ramp as _ramp, series_with_truncated_slice as _series_with_truncated_slice
from badinput import symlink_loop as _symlink_loop, truncated as _truncated, two_component as _two_component
from badinput import volume as _volume, write_dicom
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.io import Image, read_image, read_image_series, read_rgb_frame, write_image
from heatmap_landmarks.testing import realdata_root
from heatmap_landmarks.video import FolderFrames, open_frames

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- writers of broken files
def _dangling_link(d: Path) -> Path:
    os.symlink(d / "gone.nii.gz", d / "link.nii.gz")
    return d / "link.nii.gz"


def _mhd_without_data(d: Path) -> Path:
    path = _volume(d / "vol.mhd")
    (d / "vol.raw").unlink()
    return path


# --------------------------------------------------------------------------- the error table
ERRORS = [
    # (id, make(tmp_path) -> path, words the message must hold, words it must not hold)
    *[(f"nii-cut-{int(f * 100)}", _truncated("cut.nii", f), ["truncated"], []) for f in (0.1, 0.5, 0.9, 0.99)],
    *[(f"nii.gz-cut-{int(f * 100)}", _truncated("cut.nii.gz", f), ["truncated"], []) for f in (0.1, 0.5, 0.9, 0.99)],
    ("nrrd-cut", _truncated("cut.nrrd", 0.5), ["cannot read as NRRD"], []),
    ("mha-cut", _truncated("cut.mha", 0.5), ["not read completely"], ["No such file"]),
    ("png-cut", _truncated("cut.png", 0.5), ["truncated"], []),
    ("jpg-cut", _truncated("cut.jpg", 0.5), ["truncated"], []),
    ("dcm-cut", _truncated("cut.dcm", 0.5), ["truncated"], []),
    ("nii-nan", _nifti_with(np.nan), ["1 NaN"], []),
    ("nii.gz-nan", _nifti_with(np.nan, "bad.nii.gz"), ["1 NaN"], []),
    ("nii-inf", _nifti_with(np.inf), ["1 infinite"], []),
    ("nii.gz-minus-inf", _nifti_with(-np.inf, "bad.nii.gz"), ["1 infinite"], []),
    ("nii-all-nan", _nifti_with("all-nan"), ["1024 NaN"], []),
    ("dcm-short-pixel-data", _dicom(pixel_bytes=_ramp((3, 8), np.int16).astype("<i2").tobytes()),
     ["pixel data too short", "48 bytes", "96 bytes"], []),
    ("dcm-series-truncated-slice", _series_with_truncated_slice, ["IM-2.dcm", "truncated", "slice"], []),
    ("nii-2-component-constant", _two_component(True), ["2-component"], ["transparency"]),
    ("nii-2-component", _two_component(False), ["2-component"], ["transparency"]),
    ("symlink-loop", _symlink_loop, ["symbolic link loop"], ["does not exist"]),
    ("dangling-symlink", _dangling_link, ["symbolic link to", "gone.nii.gz"], []),
    ("mhd-data-file-missing", _mhd_without_data, ["data file vol.raw", "does not exist"], ["No such file"]),
    ("newline-in-name", _newline_name, ["two\\nlines.nii", "truncated"], []),
    ("nul-in-name", lambda d: Path(str(d / "nul") + "\0.nii"), ["NUL"], []),
]


def _assert_one_line(err: InputError, path: Path, words, absent=()):
    text = str(err)
    assert len(text.splitlines()) == 1 and text.isprintable(), repr(text)
    shown = os.path.basename(os.fsdecode(path)).replace("\n", "\\n").replace("\0", "\\x00")
    assert shown in text, text
    for w in words:
        assert w.lower() in text.lower(), text
    for w in absent:
        assert w.lower() not in text.lower(), text


@pytest.mark.parametrize("make, words, absent", [row[1:] for row in ERRORS], ids=[row[0] for row in ERRORS])
def test_bad_input_is_one_clear_line(tmp_path, make, words, absent):
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        read_image(path)
    _assert_one_line(err.value, path, words, absent)


def test_truncated_nifti_says_how_much_is_missing(tmp_path):
    path = _truncated("cut.nii", 0.5)(tmp_path)
    with pytest.raises(InputError, match=r"16 x 16 x 4 voxels \(4096 bytes of data\), but \d+ % of them are missing"):
        read_image(path)


def test_complete_nifti_with_trailing_bytes_still_reads(tmp_path):
    path = _volume(tmp_path / "long.nii")
    path.write_bytes(path.read_bytes() + b"\0" * 64)
    assert read_image(path).array.shape == (4, 16, 16)


def test_multi_series_folder_says_how_to_choose(tmp_path):
    write_dicom(tmp_path / "a.dcm", _ramp((6, 8), np.int16), series="1.2.826.0.1.3680043.8.498.11")
    write_dicom(tmp_path / "b.dcm", _ramp((6, 8), np.int16), series="1.2.826.0.1.3680043.8.498.22", instance=2)
    for uid in (None, "9.9.9"):
        with pytest.raises(InputError) as err:
            read_image(tmp_path, series_uid=uid)
        _assert_one_line(err.value, tmp_path, ["series_uid=", "--series-uid", "1.2.826.0.1.3680043.8.498.22"])


# --------------------------------------------------------------------------- what was assumed
NOTES = [
    # (id, make, words of the one note, expected in-plane spacing (column, row) mm)
    ("dcm-spacing-missing", _dicom("nosp.dcm", drop=[(0x0028, 0x0030)]),
     "PixelSpacing missing in nosp.dcm: 1.0 mm assumed", (1.0, 1.0)),
    ("dcm-spacing-zero", _dicom("zero.dcm", tags={(0x0028, 0x0030): (b"DS", "0\\0")}),
     "PixelSpacing invalid ('0\\0') in zero.dcm: 1.0 mm assumed", (1.0, 1.0)),
    ("dcm-spacing-negative", _dicom("neg.dcm", tags={(0x0028, 0x0030): (b"DS", "-0.7\\-0.8")}),
     "PixelSpacing invalid ('-0.7\\-0.8') in neg.dcm: 1.0 mm assumed", (1.0, 1.0)),
    ("dcm-spacing-text", _dicom("text.dcm", tags={(0x0028, 0x0030): (b"DS", "abc\\def")}),
     "PixelSpacing invalid ('abc\\def') in text.dcm: 1.0 mm assumed", (1.0, 1.0)),
    ("dcm-spacing-one-value", _dicom("one.dcm", tags={(0x0028, 0x0030): (b"DS", "0.7")}),
     "PixelSpacing has one value (0.7) in one.dcm: 0.7 mm assumed for rows and columns", (0.7, 0.7)),
    ("dcm-orientation-missing", _dicom("noiop.dcm", drop=[(0x0020, 0x0037)]),
     "ImageOrientationPatient missing in noiop.dcm: axial orientation (LPS identity) assumed", (0.8, 0.7)),
    ("dcm-orientation-zero", _dicom("iop0.dcm", tags={(0x0020, 0x0037): (b"DS", "0\\0\\0\\0\\0\\0")}),
     "ImageOrientationPatient invalid ('0\\0\\0\\0\\0\\0') in iop0.dcm", (0.8, 0.7)),
    ("dcm-position-missing", _dicom("nopos.dcm", drop=[(0x0020, 0x0032)]),
     "ImagePositionPatient missing in nopos.dcm: origin (0, 0, 0) mm assumed", (0.8, 0.7)),
    ("png-without-spacing", lambda d: _png_without_spacing(d / "frame.png"),
     "no pixel spacing in PNG file frame.png: 1.0 mm assumed", (1.0, 1.0)),
    ("jpeg-without-density", lambda d: _jpeg_without_density(d / "frame.jpg"),
     "no pixel spacing in JPEG file frame.jpg: 1.0 mm assumed", (1.0, 1.0)),
]


def _png_without_spacing(path: Path) -> Path:
    import cv2

    assert cv2.imwrite(os.fspath(path), _ramp((6, 8), np.uint8))  # OpenCV writes no sCAL chunk
    return path


def _jpeg_without_density(path: Path) -> Path:
    import cv2

    assert cv2.imwrite(os.fspath(path), _ramp((6, 8), np.uint8))  # JFIF density unit 0: an aspect ratio only
    return path


@pytest.mark.parametrize("make, note, spacing", [row[1:] for row in NOTES], ids=[row[0] for row in NOTES])
def test_assumed_values_are_recorded(tmp_path, make, note, spacing):
    img = read_image(make(tmp_path))
    assert len(img.assumed) == 1 and note in img.assumed[0], img.assumed
    assert img.assumed[0].isprintable()
    np.testing.assert_allclose(img.spacing_xy, spacing)


def test_complete_files_assume_nothing(tmp_path):
    assert read_image(write_dicom(tmp_path / "ok.dcm", _ramp((6, 8), np.int16))).assumed == []
    assert read_image(write_image(tmp_path / "ok.png", _ramp((1, 6, 8), np.uint8), Geometry())).assumed == []
    assert read_image(_volume(tmp_path / "ok.nii.gz")).assumed == []


def test_negative_pixel_spacing_does_not_mirror_the_image(tmp_path):
    good = read_image(write_dicom(tmp_path / "ok.dcm", _ramp((6, 8), np.int16)))
    neg = read_image(write_dicom(tmp_path / "neg.dcm", _ramp((6, 8), np.int16),
                                 tags={(0x0028, 0x0030): (b"DS", "-0.7\\-0.8")}))
    np.testing.assert_allclose(neg.geometry.direction, good.geometry.direction)  # ITK had flipped both axes
    np.testing.assert_allclose(neg.geometry.origin, good.geometry.origin)


def test_series_notes_one_line_per_problem(tmp_path):
    for k in range(3):
        write_dicom(tmp_path / f"IM-{k}.dcm", _ramp((6, 8), np.int16), position=(0, 0, 4.0 * k), instance=k + 1,
                    drop=[(0x0028, 0x0030)])
    img = read_image(tmp_path)
    assert img.kind == "3d" and img.assumed == [
        "PixelSpacing missing in IM-0.dcm and 2 more files of the series: 1.0 mm assumed"]


def test_explicit_spacing_replaces_the_assumption_and_is_noted_when_it_overrides(tmp_path):
    missing = write_dicom(tmp_path / "nosp.dcm", _ramp((6, 8), np.int16), drop=[(0x0028, 0x0030)])
    img = read_image(missing, spacing_xy=(0.5, 0.6))
    assert img.spacing_xy == (0.5, 0.6) and img.assumed == []
    ok = write_dicom(tmp_path / "ok.dcm", _ramp((6, 8), np.int16))
    img = read_image(ok, spacing_xy=(0.5, 0.6))
    assert img.spacing_xy == (0.5, 0.6)
    assert img.assumed == ["pixel spacing 0.8 x 0.7 mm (column x row) in ok.dcm: replaced by the given 0.5 x 0.6 mm"]
    assert read_image(ok, spacing_xy=(0.8, 0.7)).assumed == []   # the same value is no override
    assert [im.spacing_xy for im in read_image_series(missing, spacing_xy=(2, 3))] == [(2.0, 3.0)]
    for bad in ((0, 1), (1,), ("a", 1), (float("nan"), 1)):
        with pytest.raises(InputError, match="pixel spacing must be two"):
            read_image(ok, spacing_xy=bad)


# --------------------------------------------------------------------------- library chatter
def _nifti_with_odd_sform(path: Path) -> Path:
    """A NIfTI whose sform has unit scales while pixdim says 1.5 x 1.5 x 8 mm (as every ACDC file)."""
    write_image(path, _ramp((3, 8, 8)), Geometry(spacing=(1.5, 1.5, 8.0)))
    raw = bytearray(path.read_bytes())
    raw[252:256] = struct.pack("<hh", 0, 1)                       # qform_code 0, sform_code 1
    raw[280:328] = struct.pack("<12f", -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0)
    path.write_bytes(bytes(raw))
    return path


def test_itk_sform_warning_becomes_a_note_and_nothing_is_printed(tmp_path, capfd):
    img = read_image(_nifti_with_odd_sform(tmp_path / "odd.nii"))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    np.testing.assert_allclose(img.geometry.spacing, [1.5, 1.5, 8.0], rtol=1e-6)
    assert img.assumed == ["NIfTI sform scales (1, 1, 1 mm) differ from pixdim (1.5, 1.5, 8 mm) in odd.nii: "
                           "the pixdim spacing used"]


def test_metaimage_failure_prints_nothing_and_its_reason_is_in_the_message(tmp_path, capfd):
    path = _truncated("cut.mha", 0.6)(tmp_path)
    with pytest.raises(InputError, match="data not read completely") as err:
        read_image(path)
    assert capfd.readouterr() == ("", "")
    assert "No such file" not in str(err.value)


def test_real_acdc_file_reads_without_warnings(capfd):
    folder = realdata_root() / "acdc" / "training" / "patient001"
    files = sorted(folder.glob("patient001_frame*.nii.gz"))
    if not files:
        pytest.skip(f"real data folder {folder} is absent (only in the development workspace)")
    for path in files:
        img = read_image(path)
        assert img.kind == "3d" and np.isfinite(img.array).all()
        assert len(img.assumed) == 1 and "sform scales" in img.assumed[0] and path.name in img.assumed[0]
    assert capfd.readouterr() == ("", "")


def test_library_output_outside_reads_still_reaches_stderr(tmp_path, capfd):
    read_image(_nifti_with_odd_sform(tmp_path / "odd.nii"))
    os.write(2, b"after\n")  # fd 2 is given back after the read
    assert capfd.readouterr().err == "after\n"
    assert sitk.ProcessObject.GetGlobalWarningDisplay()  # and ITK's warnings are switched back on


# --------------------------------------------------------------------------- names that are not UTF-8
def _bad_name_cases(d: Path) -> dict:
    """Real files under names that are not UTF-8; returns {case: (call, path)} for the child process."""
    cases = {}
    good_nii = _volume(d / "good.nii")
    bad_nii = _bad(d, ".nii")
    with open(bad_nii, "wb") as f:
        f.write(good_nii.read_bytes())
    cases["read_image"] = ("read_image", bad_nii)
    cases["write_image"] = ("write_image", _bad(d, ".png"))
    png = write_image(d / "good.png", np.zeros((1, 4, 6, 3), np.uint8), Geometry())
    bad_png = _bad(d, ".png")
    with open(bad_png, "wb") as f:
        f.write(png.read_bytes())
    cases["read_rgb_frame"] = ("read_rgb_frame", bad_png)
    bad_avi = _bad(d, ".avi")
    with open(bad_avi, "wb") as f:
        f.write(b"RIFF" + b"\0" * 200)
    cases["open_frames-video"] = ("open_frames", bad_avi)
    frames = d / "frames"
    frames.mkdir()
    with open(_bad(frames, ".png"), "wb") as f:
        f.write(png.read_bytes())
    cases["FolderFrames"] = ("FolderFrames", os.fspath(frames))
    series = d / "series"
    series.mkdir()
    write_dicom(series / "IM-1.dcm", _ramp((6, 8), np.int16))
    write_dicom(Path(_bad(series, ".dcm")), _ramp((6, 8), np.int16), position=(10, -20, 35), instance=2)
    cases["read_image-dicom-folder"] = ("read_image", os.fspath(series))
    bad_dir = Path(os.fsdecode(os.fsencode(d) + b"/" + BAD))
    bad_dir.mkdir()
    with open(bad_dir / "x.nii", "wb") as f:
        f.write(good_nii.read_bytes())
    cases["read_image-folder-name"] = ("read_image", os.fspath(bad_dir / "x.nii"))
    return cases


_CHILD = r"""
import json, os, sys
import numpy as np
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.geometry import Geometry
from heatmap_landmarks.io import read_image, read_rgb_frame, write_image
from heatmap_landmarks.video import FolderFrames, open_frames
calls = {"read_image": read_image, "read_rgb_frame": read_rgb_frame, "open_frames": open_frames,
         "FolderFrames": FolderFrames,
         "write_image": lambda p: write_image(p, np.zeros((1, 4, 6), np.uint8), Geometry())}
for case, (call, hexpath) in json.loads(sys.argv[1]).items():
    path = os.fsdecode(bytes.fromhex(hexpath))
    try:
        calls[call](path)
        result = "no error"
    except InputError as err:
        result = "InputError: " + str(err)
    except Exception as err:
        result = f"{type(err).__name__}: {err!r}"
    print(json.dumps([case, result]), flush=True)
"""


@pytest.fixture(scope="module")
def bad_name_results(tmp_path_factory):
    d = tmp_path_factory.mktemp("badnames")
    cases = _bad_name_cases(d)
    arg = json.dumps({k: (call, os.fsencode(p).hex()) for k, (call, p) in cases.items()})
    run = subprocess.run([sys.executable, "-c", _CHILD, arg], capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
                         timeout=300)
    results = dict(json.loads(line) for line in run.stdout.splitlines() if line.startswith("["))
    return results, run


BAD_NAME_CASES = ["read_image", "write_image", "read_rgb_frame", "open_frames-video", "FolderFrames",
                  "read_image-dicom-folder", "read_image-folder-name"]


@pytest.mark.parametrize("case", BAD_NAME_CASES)
def test_non_utf8_names_are_refused_before_any_library_sees_them(bad_name_results, case):
    results, run = bad_name_results
    assert case in results, f"the child process died (exit {run.returncode}) before this case: {run.stderr[-300:]}"
    text = results[case]
    assert text.startswith("InputError: "), text
    assert "not valid UTF-8" in text and "scan\\xff\\xfe" in text, text
    assert len(text.splitlines()) == 1 and text.isprintable()


# --------------------------------------------------------------------------- the NIfTI check reads the voxels once
def _itk_only(path: Path):
    from heatmap_landmarks.io import _read_sitk

    return _read_sitk(path, "NiftiImageIO", "NIfTI")


def _oblique() -> Geometry:
    c, s = np.cos(0.4), np.sin(0.4)
    return Geometry(spacing=(0.7, 0.9, 2.5), origin=(12.5, -40.0, 7.0),
                    direction=np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]))


@pytest.mark.parametrize("name, dtype, shape, kind", [
    ("u8.nii.gz", np.uint8, (3, 5, 7), None), ("i16.nii.gz", np.int16, (4, 6, 5), None),
    ("u16.nii.gz", np.uint16, (1, 6, 5), None), ("i32.nii.gz", np.int32, (2, 3, 4), None),
    ("f32.nii.gz", np.float32, (3, 4, 5), None), ("f64.nii", np.float64, (3, 4, 5), None),
    ("f32.nii", np.float32, (2, 4, 5), None), ("i8.nii.gz", np.int8, (2, 4, 5), None),
    ("cine.nii.gz", np.int16, (6, 4, 5), "2d+t"),
])
def test_voxels_read_by_the_check_equal_itks(tmp_path, name, dtype, shape, kind):
    from heatmap_landmarks.io import _check_nifti, _nifti_image

    path = write_image(tmp_path / name, (_ramp(shape, np.float64) - 50).astype(dtype), _oblique(), kind=kind)
    notes, info, data = _check_nifti(path)
    ours, itk = _nifti_image(path, info, data), _itk_only(path)
    assert data is not None or name.endswith(".nii") and dtype not in (np.float32, np.float64)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(itk))
    assert ours.GetPixelID() == itk.GetPixelID() and ours.GetSize() == itk.GetSize()
    for get in ("GetSpacing", "GetOrigin", "GetDirection"):
        np.testing.assert_allclose(getattr(ours, get)(), getattr(itk, get)(), atol=1e-12)


def test_voxels_of_real_nifti_files_equal_itks():
    from heatmap_landmarks.io import _check_nifti, _nifti_image

    root = realdata_root()
    files = sorted((root / "acdc" / "training" / "patient001").glob("*.nii.gz"))[:2] + \
        sorted((root / "mnms2").glob("**/*_LA_CINE.nii.gz"))[:1]
    if not files:
        pytest.skip(f"real data folder {root} is absent (only in the development workspace)")
    for path in files:
        ours, itk = _nifti_image(path, *_check_nifti(path)[1:]), _itk_only(path)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(itk))
        for get in ("GetSpacing", "GetOrigin", "GetDirection"):
            np.testing.assert_allclose(getattr(ours, get)(), getattr(itk, get)(), atol=1e-12)
