"""Tests of heatmap_landmarks.io: every format round trip with exact RAS, bad inputs, real DICOMs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from heatmap_landmarks.errors import InputError, OutputExistsError
from heatmap_landmarks.geometry import LPS_TO_RAS, Geometry
from heatmap_landmarks.io import Image, read_image, read_image_series, read_rgb_frame, write_image
from heatmap_landmarks.testing import realdata_root


# ---------------------------------------------------------------------------
# fixtures / helpers
# ---------------------------------------------------------------------------
def _rotation(axis, angle) -> np.ndarray:
    a = np.asarray(axis, float)
    a /= np.linalg.norm(a)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


OBLIQUE = Geometry(spacing=(0.7, 0.9, 2.5), origin=(12.5, -40.25, 73.0), direction=_rotation((1, 2, 3), 0.7))
PIXELS = np.array([[0, 0, 0], [3, 1, 0], [0, 4, 1], [5, 3, 2], [2.5, 1.5, 0.5]])


def _ramp(shape, dtype=np.float32) -> np.ndarray:
    return (np.arange(int(np.prod(shape))).reshape(shape) * 3 + 7).astype(dtype)


def _assert_ras(read: Geometry, expected: Geometry, pixels=PIXELS, atol=1e-4):
    np.testing.assert_allclose(read.pixel_to_ras(pixels), expected.pixel_to_ras(pixels), atol=atol)


def _assert_one_line_error(err: pytest.ExceptionInfo, name: str, *words: str):
    text = str(err.value)
    assert "\n" not in text
    assert name in text, text
    for w in words:
        assert w.lower() in text.lower(), text


def _ds(values) -> str:
    """DICOM decimal-string list (each value at most 16 characters)."""
    return "\\".join(f"{float(v):.10g}" for v in values)


def _write_dicom_slice(path: Path, pixels: np.ndarray, geometry: Geometry, k: float, **tags):
    """One MR slice whose position/orientation/spacing come from ``geometry`` (RAS) at frame ``k``."""
    img = sitk.GetImageFromArray(pixels.astype(np.int16))
    img.SetSpacing([float(s) for s in geometry.spacing[:2]])
    position_lps = LPS_TO_RAS @ geometry.pixel_to_ras([[0.0, 0.0, k]])[0]
    row_lps = LPS_TO_RAS @ geometry.direction[:, 0]
    col_lps = LPS_TO_RAS @ geometry.direction[:, 1]
    uid = tags.pop("series_uid", "1.2.826.0.1.3680043.8.498.1")
    meta = {
        "0008|0060": "MR",
        "0008|0016": "1.2.840.10008.5.1.4.1.1.4",
        "0020|000d": "1.2.826.0.1.3680043.8.498.99",
        "0020|000e": uid,
        "0008|103e": tags.pop("description", "sax cine"),
        "0020|0032": _ds(position_lps),
        "0020|0037": _ds([*row_lps, *col_lps]),
        "0028|0030": _ds([geometry.spacing[1], geometry.spacing[0]]),  # DICOM: row spacing, then column spacing
        "0018|0050": _ds([geometry.spacing[2]]),
        "0010|0020": "PHANTOM",
    }
    for key, value in tags.items():
        meta[key.replace("_", "|")] = str(value)
    for key, value in meta.items():
        img.SetMetaData(key, value)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetFileName(str(path))
    writer.Execute(img)


def _realdata() -> Path:
    return realdata_root()


def _real_dicoms():
    folder = _realdata() / "kaggle_dsb_sax"
    return sorted(folder.glob("*.dcm")) if folder.is_dir() else []


# ---------------------------------------------------------------------------
# round trips of every format
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["vol.nii", "vol.nii.gz", "vol.nrrd", "vol.nhdr", "vol.mha", "vol.mhd"])
def test_volume_round_trip_exact_geometry(tmp_path, name):
    array = _ramp((3, 5, 6))
    out = write_image(tmp_path / name, array, OBLIQUE)
    img = read_image(out)
    assert img.kind == "3d" and img.array.dtype == np.float32 and img.array.shape == (3, 5, 6)
    np.testing.assert_array_equal(img.array, array)
    _assert_ras(img.geometry, OBLIQUE)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


@pytest.mark.parametrize("name", ["one.nii.gz", "one.nrrd", "one.mha"])
def test_single_frame_volume_is_2d_and_keeps_k_axis(tmp_path, name):
    img = read_image(write_image(tmp_path / name, _ramp((1, 4, 5)), OBLIQUE))
    assert img.kind == "2d" and img.n_frames == 1 and img.shape_hw == (4, 5)
    _assert_ras(img.geometry, OBLIQUE, PIXELS[:2])
    np.testing.assert_allclose(img.geometry.direction[:, 2], OBLIQUE.direction[:, 2], atol=1e-6)


@pytest.mark.parametrize("name", ["flat.nii.gz", "flat.mha", "flat.nrrd"])
@pytest.mark.parametrize("direction_lps", [[0.6, 0.8, -0.8, 0.6], [0.6, 0.8, 0.8, -0.6]])
def test_true_2d_file_gets_unit_k_spacing_and_right_handed_normal(tmp_path, name, direction_lps):
    pixels = _ramp((4, 5))
    flat = sitk.GetImageFromArray(pixels)
    flat.SetSpacing((0.7, 0.9))
    flat.SetOrigin((12.5, -3.0))
    flat.SetDirection(direction_lps)
    sitk.WriteImage(flat, str(tmp_path / name))
    img = read_image(tmp_path / name)
    assert img.kind == "2d" and img.array.shape == (1, 4, 5)
    np.testing.assert_array_equal(img.array[0], pixels)
    assert img.geometry.spacing.tolist() == pytest.approx([0.7, 0.9, 1.0])
    assert np.linalg.det(img.geometry.direction) == pytest.approx(1.0)
    for ij in ([0, 0], [4, 3], [2, 1]):
        lps = flat.TransformContinuousIndexToPhysicalPoint([float(v) for v in ij])
        np.testing.assert_allclose(img.pixel_to_ras([[*ij, 0]])[0], [-lps[0], -lps[1], 0.0], atol=1e-4)


@pytest.mark.parametrize("name", ["cine.nii.gz", "cine.nrrd", "cine.mha"])
def test_4d_single_slice_is_2d_plus_t(tmp_path, name):
    array = _ramp((4, 5, 6))
    img = read_image(write_image(tmp_path / name, array, OBLIQUE, kind="2d+t"))
    assert img.kind == "2d+t" and img.array.shape == (4, 5, 6)
    np.testing.assert_array_equal(img.array, array)
    _assert_ras(img.geometry, OBLIQUE, PIXELS[:2])
    # every time frame lies on the k = 0 plane
    np.testing.assert_allclose(img.pixel_to_ras([[3, 1, 3]]), OBLIQUE.pixel_to_ras([[3, 1, 0]]), atol=1e-4)


def test_slicer_sequence_nrrd_with_list_axis_is_2d_plus_t(tmp_path):
    frames = _ramp((5, 3, 4))  # (t, y, x)
    header = ("NRRD0004\ntype: float\ndimension: 4\nspace: left-posterior-superior\nsizes: 5 4 3 1\n"
              "space directions: none (0.7,0,0) (0,0.9,0) (0,0,2.5)\nkinds: list domain domain domain\n"
              "endian: little\nencoding: raw\nspace origin: (10,20,30)\n\n")
    path = tmp_path / "seq.nrrd"
    path.write_bytes(header.encode() + np.ascontiguousarray(frames.transpose(1, 2, 0)).astype("<f4").tobytes())
    img = read_image(path)
    assert img.kind == "2d+t" and img.array.shape == (5, 3, 4)
    np.testing.assert_array_equal(img.array, frames)
    np.testing.assert_allclose(img.pixel_to_ras([[1, 2, 4]]), [[-10.7, -21.8, 30.0]], atol=1e-6)


def test_nrrd_rgb_volume_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (2, 4, 5, 3)).astype(np.uint8)
    img = read_image(write_image(tmp_path / "c.nrrd", rgb, OBLIQUE))
    assert img.is_rgb and img.array.shape == (2, 4, 5, 3)
    np.testing.assert_array_equal(img.array, rgb.astype(np.float32))


def test_dicom_file_round_trip_anisotropic_oblique(tmp_path):
    pixels = _ramp((5, 7), np.int16)
    _write_dicom_slice(tmp_path / "slice.dcm", pixels, OBLIQUE, 0.0)
    img = read_image(tmp_path / "slice.dcm")
    assert img.kind == "2d" and img.array.shape == (1, 5, 7)
    np.testing.assert_array_equal(img.array[0], pixels)
    assert img.spacing_xy == pytest.approx((0.7, 0.9))
    assert img.geometry.spacing[2] == pytest.approx(2.5)  # SliceThickness, not SimpleITK's default 1
    _assert_ras(img.geometry, OBLIQUE, PIXELS[:2])
    assert np.linalg.det(img.geometry.direction) == pytest.approx(1.0)
    assert img.metadata["modality"] == "MR"


def test_dicom_series_folder_sorted_along_normal(tmp_path):
    volume = _ramp((4, 5, 6), np.int16)
    # file names and instance numbers in an order unrelated to position
    for k, name in zip(range(4), ["c.dcm", "a.dcm", "d.dcm", "b.dcm"]):
        _write_dicom_slice(tmp_path / name, volume[k], OBLIQUE, float(k), **{"0020_0013": 10 - k})
    img = read_image(tmp_path)
    assert img.kind == "3d" and img.array.shape == (4, 5, 6)
    np.testing.assert_array_equal(img.array, volume)
    _assert_ras(img.geometry, OBLIQUE)
    assert img.metadata["series_uid"] == "1.2.826.0.1.3680043.8.498.1"


def test_dicom_cine_folder_is_2d_plus_t_sorted_by_trigger_time(tmp_path):
    frames = _ramp((5, 4, 6), np.int16)
    times = [0.0, 41.5, 83.0, 124.5, 166.0]
    # files written in reverse time order with reversed names
    for t in reversed(range(5)):
        _write_dicom_slice(tmp_path / f"IM{4 - t:03d}.dcm", frames[t], OBLIQUE, 0.0,
                           **{"0018_1060": times[t], "0020_0013": t + 1})
    img = read_image(tmp_path)
    assert img.kind == "2d+t" and img.array.shape == (5, 4, 6)
    np.testing.assert_array_equal(img.array, frames)
    np.testing.assert_allclose(img.frame_times_ms, times)
    _assert_ras(img.geometry, OBLIQUE, PIXELS[:2])
    assert img.frame_geometry(4).almost_equal(img.frame_geometry(0))
    assert img.geometry.spacing[2] == pytest.approx(2.5)


def test_dicom_3d_plus_t_folder_errors_and_series_reader_splits(tmp_path):
    vols = _ramp((2, 3, 4, 5), np.int16)  # (t, z, y, x)
    for t in range(2):
        for z in range(3):
            _write_dicom_slice(tmp_path / f"t{t}z{z}.dcm", vols[t, z], OBLIQUE, float(z),
                               **{"0018_1060": 50.0 * t, "0020_0013": 1 + t + 2 * z})
    with pytest.raises(InputError) as err:
        read_image(tmp_path)
    _assert_one_line_error(err, tmp_path.name, "3D+t", "sequence")
    series = read_image_series(tmp_path)
    assert [im.kind for im in series] == ["3d", "3d"]
    for t, im in enumerate(series):
        np.testing.assert_array_equal(im.array, vols[t])
        _assert_ras(im.geometry, OBLIQUE, PIXELS[:3])


def test_png_round_trip_grey_and_rgb(tmp_path):
    grey = _ramp((1, 6, 9), np.uint8)
    img = read_image(write_image(tmp_path / "g.png", grey, OBLIQUE))
    assert img.kind == "2d" and not img.is_rgb
    np.testing.assert_array_equal(img.array, grey)
    # PNG keeps the pixel size but no placement: Slicer's default (LPS identity) geometry
    expected = Geometry(spacing=(0.7, 0.9, 1.0), direction=np.diag([-1.0, -1.0, 1.0]))
    _assert_ras(img.geometry, expected, PIXELS[:2], atol=1e-3)
    rgb = np.random.default_rng(1).integers(0, 255, (1, 6, 9, 3)).astype(np.uint8)
    img = read_image(write_image(tmp_path / "c.png", rgb, OBLIQUE))
    assert img.is_rgb and img.array.shape == (1, 6, 9, 3)
    np.testing.assert_array_equal(img.array, rgb)


def test_png_16bit_round_trip(tmp_path):
    a = np.array([[[0, 65535], [300, 4]]], np.uint16)
    img = read_image(write_image(tmp_path / "d.png", a, Geometry()))
    np.testing.assert_array_equal(img.array, a)


@pytest.mark.parametrize("name", ["f.jpg", "f.jpeg"])
def test_jpeg_round_trip_within_jpeg_tolerance(tmp_path, name):
    yy, xx = np.mgrid[0:32, 0:48]
    smooth = np.stack([xx * 4, yy * 6, 255 - xx * 4], axis=-1)[None].astype(np.uint8)
    img = read_image(write_image(tmp_path / name, smooth, Geometry()))
    assert img.is_rgb and img.array.shape == (1, 32, 48, 3)
    assert np.abs(img.array - smooth).mean() < 3.0
    grey = np.repeat((xx * 5)[None, ..., None], 3, axis=-1).astype(np.uint8)
    img = read_image(write_image(tmp_path / ("g" + name), grey, Geometry()), rgb="grey")
    assert img.array.shape == (1, 32, 48)
    assert np.abs(img.array[0] - xx * 5).mean() < 3.0


# ---------------------------------------------------------------------------
# colour handling and read_rgb_frame
# ---------------------------------------------------------------------------
def _write_png(path: Path, array: np.ndarray) -> Path:
    sitk.WriteImage(sitk.GetImageFromArray(array, isVector=array.ndim == 3), str(path))
    return path


def test_grey_stored_as_rgba_with_opaque_alpha_becomes_one_channel(tmp_path):
    grey = _ramp((4, 5), np.uint8)
    rgba = np.stack([grey, grey, grey, np.full_like(grey, 255)], axis=-1)
    path = _write_png(tmp_path / "greyrgba.png", rgba)
    for mode in ("auto", "grey"):
        img = read_image(path, rgb=mode)
        assert img.array.shape == (1, 4, 5)
        np.testing.assert_array_equal(img.array[0], grey)
    assert read_image(path, rgb="keep").array.shape == (1, 4, 5, 3)


def test_colour_png_with_opaque_alpha_keeps_rgb_order(tmp_path):
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red
    rgba[..., 2] = 10
    rgba[..., 3] = 255
    path = _write_png(tmp_path / "red.png", rgba)
    frame = read_rgb_frame(path)
    assert frame.shape == (3, 4, 3) and frame.dtype == np.float32
    np.testing.assert_allclose(frame[0, 0], [200 / 255, 0.0, 10 / 255], atol=1e-6)
    assert read_image(path).array.shape == (1, 3, 4, 3)


def test_read_rgb_frame_repeats_grey(tmp_path):
    path = _write_png(tmp_path / "g.png", np.full((2, 3), 51, np.uint8))
    frame = read_rgb_frame(path)
    assert frame.shape == (2, 3, 3)
    np.testing.assert_allclose(frame, 0.2, atol=1e-6)


# ---------------------------------------------------------------------------
# bad inputs: one line, names the file and the problem
# ---------------------------------------------------------------------------
def test_missing_path(tmp_path):
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "nope.nii.gz")
    _assert_one_line_error(err, "nope.nii.gz", "does not exist")


def test_empty_folder(tmp_path):
    folder = tmp_path / "emptydir"
    folder.mkdir()
    with pytest.raises(InputError) as err:
        read_image(folder)
    _assert_one_line_error(err, "emptydir", "empty folder")


def test_folder_without_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError) as err:
        read_image(tmp_path)
    _assert_one_line_error(err, tmp_path.name, "no DICOM")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(InputError) as err:
        read_image(path)
    _assert_one_line_error(err, "notes.txt", "unsupported", ".txt")


@pytest.mark.parametrize("name", ["broken.nii.gz", "broken.nrrd", "broken.mha", "broken.png", "broken.dcm"])
def test_corrupt_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not an image" * 20)
    with pytest.raises(InputError) as err:
        read_image(path)
    _assert_one_line_error(err, name, "cannot read")


def test_empty_image(tmp_path):
    path = tmp_path / "empty.mha"
    path.write_bytes(b"ObjectType = Image\nNDims = 2\nDimSize = 0 4\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n")
    with pytest.raises(InputError) as err:
        read_image(path)
    _assert_one_line_error(err, "empty.mha", "empty image", "0 pixels")


@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_non_finite_pixels(tmp_path, bad, word):
    a = _ramp((2, 3, 4))
    a[1, 2, 3] = bad
    path = write_image(tmp_path / "bad.nrrd", a, Geometry())
    with pytest.raises(InputError) as err:
        read_image(path)
    _assert_one_line_error(err, "bad.nrrd", word)


def test_4d_vector_image(tmp_path):
    img = sitk.GetImageFromArray(np.zeros((2, 2, 3, 4, 3), np.float32), isVector=True)
    assert img.GetDimension() == 4
    sitk.WriteImage(img, str(tmp_path / "vec4d.nrrd"))
    with pytest.raises(InputError) as err:
        read_image(tmp_path / "vec4d.nrrd")
    _assert_one_line_error(err, "vec4d.nrrd", "4D", "vector")


@pytest.mark.parametrize("name", ["vol4d.nii.gz", "vol4d.nrrd"])
def test_3d_plus_t_file_errors_and_series_reader_splits(tmp_path, name):
    data = _ramp((3, 2, 4, 5))  # (t, z, y, x)
    img = sitk.GetImageFromArray(data, isVector=False)
    img.SetSpacing((0.7, 0.9, 2.5, 40.0))
    sitk.WriteImage(img, str(tmp_path / name))
    with pytest.raises(InputError) as err:
        read_image(tmp_path / name)
    _assert_one_line_error(err, name, "3D+t", "sequence", "split")
    vols = read_image_series(tmp_path / name)
    assert len(vols) == 3 and all(v.kind == "3d" for v in vols)
    np.testing.assert_array_equal(vols[2].array, data[2])


def test_png_with_transparency(tmp_path):
    rgba = np.full((4, 5, 4), 255, np.uint8)
    rgba[0, 0, 3] = 128
    path = _write_png(tmp_path / "alpha.png", rgba)
    with pytest.raises(InputError) as err:
        read_image(path)
    _assert_one_line_error(err, "alpha.png", "transparency")
    with pytest.raises(InputError):
        read_rgb_frame(path)


def test_grey_alpha_png_with_transparency(tmp_path):
    la = np.full((4, 5, 2), 255, np.uint8)
    la[..., 1] = 0
    path = _write_png(tmp_path / "la.png", la)
    with pytest.raises(InputError) as err:
        read_image(path)
    _assert_one_line_error(err, "la.png", "transparency")


def test_colour_image_requested_as_grey(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 1] = 100
    path = _write_png(tmp_path / "colour.png", rgb)
    with pytest.raises(InputError) as err:
        read_image(path, rgb="grey")
    _assert_one_line_error(err, "colour.png", "channels differ", "greyscale")


def test_multi_series_folder_lists_series_and_series_uid_chooses(tmp_path):
    a, b = "1.2.826.0.1.3680043.8.498.11", "1.2.826.0.1.3680043.8.498.22"
    for k in range(3):
        _write_dicom_slice(tmp_path / f"a{k}.dcm", _ramp((4, 5), np.int16), OBLIQUE, float(k),
                           series_uid=a, description="short axis stack")
    for k in range(2):
        _write_dicom_slice(tmp_path / f"b{k}.dcm", _ramp((4, 5), np.int16) + 1, OBLIQUE, float(k),
                           series_uid=b, description="localizer")
    with pytest.raises(InputError) as err:
        read_image(tmp_path)
    _assert_one_line_error(err, tmp_path.name, "2 DICOM series", a, b, "short axis stack", "localizer",
                           "3 files", "2 files", "series_uid=")
    img = read_image(tmp_path, series_uid=b)
    assert img.array.shape == (2, 4, 5) and img.metadata["series_description"] == "localizer"
    with pytest.raises(InputError) as err:
        read_image(tmp_path, series_uid="9.9.9")
    _assert_one_line_error(err, tmp_path.name, "9.9.9", a, b)


def test_folder_mixing_patients(tmp_path):
    for k in range(2):
        _write_dicom_slice(tmp_path / f"p{k}.dcm", _ramp((4, 5), np.int16), OBLIQUE, float(k),
                           **{"0010_0020": f"patient{k}"})
    with pytest.raises(InputError) as err:
        read_image(tmp_path)
    _assert_one_line_error(err, tmp_path.name, "2 patients")


def test_rgb_mode_is_validated(tmp_path):
    with pytest.raises(ValueError, match="rgb must be one of"):
        read_image(tmp_path, rgb="colour")


# ---------------------------------------------------------------------------
# writing rules
# ---------------------------------------------------------------------------
def test_write_refuses_overwrite_and_replaces_atomically(tmp_path):
    path = write_image(tmp_path / "x.nii.gz", np.zeros((1, 2, 2), np.float32), Geometry())
    with pytest.raises(OutputExistsError) as err:
        write_image(path, np.ones((1, 2, 2), np.float32), Geometry())
    _assert_one_line_error(err, "x.nii.gz", "overwrite")
    write_image(path, np.ones((1, 2, 2), np.float32), Geometry(), overwrite=True)
    assert read_image(path).array.max() == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nii.gz"]


@pytest.mark.parametrize("name, array, message", [
    ("x.tif", np.zeros((1, 2, 2), np.float32), "cannot write"),
    ("x.png", np.zeros((1, 2, 2), np.float32), "uint8"),
    ("x.png", np.zeros((2, 2, 2), np.uint8), "one 2D frame"),
    ("x.nrrd", np.zeros((2, 2, 2, 2), np.float32), "(F, H, W)"),
])
def test_write_rejects_bad_requests(tmp_path, name, array, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_image(tmp_path / name, array, Geometry())
    assert list(tmp_path.iterdir()) == []


def test_image_validation():
    with pytest.raises(ValueError, match="float32"):
        Image(np.zeros((1, 2, 2)), Geometry(), "2d")
    with pytest.raises(ValueError, match="kind"):
        Image(np.zeros((1, 2, 2), np.float32), Geometry(), "4d")
    with pytest.raises(ValueError, match="one frame"):
        Image(np.zeros((2, 2, 2), np.float32), Geometry(), "2d")


# ---------------------------------------------------------------------------
# real data (absent on users' clones)
# ---------------------------------------------------------------------------
REAL_DICOMS = _real_dicoms()


def _tag_floats(reader, key):
    return [float(v) for v in reader.GetMetaData(key).strip().split("\\")]


@pytest.mark.parametrize("path", REAL_DICOMS or [None], ids=[p.name for p in REAL_DICOMS] or ["absent"])
def test_real_short_axis_dicom(path):
    if path is None:
        pytest.skip(f"real data folder {_realdata() / 'kaggle_dsb_sax'} is absent (only in the development "
                    f"workspace; set HEATMAP_LANDMARKS_REALDATA to point at it)")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    rows, cols = int(reader.GetMetaData("0028|0010")), int(reader.GetMetaData("0028|0011"))
    row_spacing, col_spacing = _tag_floats(reader, "0028|0030")
    position = np.array(_tag_floats(reader, "0020|0032"))
    orientation = np.array(_tag_floats(reader, "0020|0037"))
    thickness = _tag_floats(reader, "0018|0050")[0]

    img = read_image(path, rgb="grey")
    assert img.kind == "2d" and img.array.shape == (1, rows, cols) and img.array.dtype == np.float32
    assert np.isfinite(img.array).all() and img.array.max() > img.array.min()
    np.testing.assert_allclose(img.geometry.spacing, [col_spacing, row_spacing, thickness], rtol=1e-9)
    flip = np.array([-1.0, -1.0, 1.0])
    np.testing.assert_allclose(img.geometry.origin, position * flip, atol=1e-6)
    row_dir, col_dir = orientation[:3] * flip, orientation[3:] * flip
    np.testing.assert_allclose(img.geometry.direction[:, 0], row_dir, atol=1e-6)
    np.testing.assert_allclose(img.geometry.direction[:, 1], col_dir, atol=1e-6)
    np.testing.assert_allclose(img.geometry.direction[:, 2], np.cross(row_dir, col_dir), atol=1e-5)
    # the far corner pixel, computed straight from the tags
    corner = position + (cols - 1) * col_spacing * orientation[:3] + (rows - 1) * row_spacing * orientation[3:]
    np.testing.assert_allclose(img.pixel_to_ras([[cols - 1, rows - 1, 0]])[0], corner * flip, atol=1e-4)
    assert 0.6 < col_spacing < 1.6 and 180 <= min(rows, cols)


def test_real_endoscopic_png_alpha_dropped():
    path = _realdata() / "adaptor_frame" / "AdaptOR.png"
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent (only in the development workspace)")
    frame = read_rgb_frame(path)
    assert frame.shape == (501, 502, 3) and 0.0 <= frame.min() and frame.max() <= 1.0
    raw = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))  # RGBA, R first
    np.testing.assert_allclose(frame, raw[..., :3] / 255.0, atol=1e-6)
    with pytest.raises(InputError) as err:
        read_image(path, rgb="grey")
    _assert_one_line_error(err, "AdaptOR.png", "channels differ")
