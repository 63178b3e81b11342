"""Tests of training/datasets: loaders on tiny fixtures in the real formats, errors, reports, splits."""
from __future__ import annotations

import doctest
import importlib.util
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk

from heatmap_landmarks.errors import InputError, OutputExistsError
from heatmap_landmarks.testing import realdata_root
from training.datasets import (
    DatasetReport,
    SubmissionEntry,
    adaptor_folds,
    common,
    iter_acdc_dataset,
    iter_adaptor_dataset,
    iter_stacom_dataset,
    kfold_splits,
    list_adaptor_frames,
    load_acdc_patient,
    load_adaptor_frame,
    load_stacom_study,
    parse_annotations,
    parse_info_cfg,
    read_labelme_stereo,
    read_point_labels,
    read_submission_json,
    report,
    splits,
    stacom,
    train_val_test_split,
    write_submission_json,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _load_make_fixtures():
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_fixtures = _load_make_fixtures()


@pytest.fixture(scope="module", params=["committed", "regenerated"])
def fixtures_root(request, tmp_path_factory):
    """The committed fixtures, and a fresh copy from make_fixtures.py (keeps the two in sync)."""
    if request.param == "committed":
        return FIXTURES
    out = tmp_path_factory.mktemp("fixtures")
    make_fixtures.make_all(str(out))
    return out


def _raises_at(path, line: int | None, fragment: str, func, *args, **kwargs):
    """Assert ``func`` raises InputError naming ``path`` (and ``line``) whose message contains ``fragment``."""
    with pytest.raises(InputError) as info:
        func(*args, **kwargs)
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    assert str(info.value).startswith(where), str(info.value)
    assert fragment in str(info.value), str(info.value)
    return info.value


# -- STACOM ------------------------------------------------------------------------------------

STUDY1_EXPECTED = [
    ("IM-0001-0001.dcm", "sax", {"BCA": (11.5, 9.25), "RVI-1": (7.5, 4.0), "RVI-2": (6.0, 15.5)}, 1000, 1),
    ("IM-0001-0002.dcm", "sax", {"ACA": (12.0, 10.0), "RVI-1": (9.0, 5.0), "RVI-2": (8.0, 14.0)}, 2000, 2),
    ("IM-0002-0001.dcm", "lax", {"MV-1": (10.25, 6.75), "MV-2": (16.5, 7.0)}, 5000, 1),
]


def test_parse_annotations_clean_file(fixtures_root):
    ann = parse_annotations(fixtures_root / "stacom" / "DET0000101" / "Annotations.txt")
    assert ann.patient_id == "DET0000101"
    assert len(ann.entries) == 8
    assert [e.line for e in ann.entries] == [3, 5, 7, 8, 9, 10, 12, 13]
    assert list(ann.images) == [name for name, *_ in STUDY1_EXPECTED]
    for name, view, landmarks, _, _ in STUDY1_EXPECTED:
        image = ann.images[name]
        assert image.view == view
        assert {k: (e.x, e.y) for k, e in image.entries.items()} == landmarks


def test_parse_annotations_crlf_comments_tabs_lowercase(fixtures_root):
    path = fixtures_root / "stacom" / "DET0000202" / "Annotations.txt"
    assert b"\r\n" in path.read_bytes()  # the fixture really is a Windows file
    ann = parse_annotations(path)
    assert ann.patient_id == "DET0000202"
    xy = {name: {k: (e.x, e.y) for k, e in image.entries.items()} for name, image in ann.images.items()}
    assert xy == {"SA_0005.dcm": {"RVI-1": (3.0, 12.0), "RVI-2": (4.5, 2.0)},
                  "LA_2CH.dcm": {"MV-1": (5.0, 9.0), "MV-2": (18.75, 10.5)}}
    assert ann.images["LA_2CH.dcm"].entries["MV-2"].line == 11


def test_load_stacom_study_images_landmarks_and_tags(fixtures_root):
    folder = fixtures_root / "stacom" / "DET0000101"
    samples = load_stacom_study(folder)
    assert len(samples) == 3  # the unannotated IM-0001-0003.dcm is not a sample
    for sample, (name, view, landmarks, offset, instance) in zip(samples, STUDY1_EXPECTED):
        assert os.path.basename(sample.source) == name
        assert sample.view == view and sample.patient_id == "DET0000101"
        assert sample.image.shape == (20, 24) and sample.image.dtype == np.float32
        assert sample.image[3, 5] == offset + 35  # row 3, column 5: not transposed
        # PixelSpacing is (row, column) = (1.5, 1.25) in DICOM; spacing_xy is (column, row).
        np.testing.assert_allclose(sample.spacing_xy, [1.25, 1.5])
        assert set(sample.landmarks) == set(landmarks)
        for key, xy in landmarks.items():
            assert sample.landmarks[key].dtype == np.float32
            np.testing.assert_array_equal(sample.landmarks[key], xy)
        assert sample.instance_number == instance and sample.trigger_time_ms == 0.0
        assert sample.series_uid.startswith("1.2.826.0.1.3680043.2.1125.9.101.")
    # DICOM ImagePositionPatient (-50, -40, 30) LPS is the RAS centre (50, 40, 30) of pixel (0, 0).
    np.testing.assert_allclose(samples[0].geometry.pixel_to_ras([[0, 0, 0]])[0], [50.0, 40.0, 30.0], atol=1e-4)
    assert samples[0].rvi_order_consistent is True and samples[2].rvi_order_consistent is None
    np.testing.assert_array_equal(samples[2].points(["MV-1", "MV-2", "BCA"])[:2], [[10.25, 6.75], [16.5, 7.0]])
    assert np.isnan(samples[2].points(["BCA"])).all()


def test_iter_stacom_dataset_counts(fixtures_root):
    rep = DatasetReport("STACOM")
    samples = list(iter_stacom_dataset(fixtures_root / "stacom", report=rep))
    assert [s.patient_id for s in samples] == ["DET0000101"] * 3 + ["DET0000202"] * 2
    assert samples[4].trigger_time_ms == 12.5
    assert rep.loaded == {"study": 2, "sax image": 3, "lax image": 2}
    assert rep.skipped == []
    # DET0000202's SA slice has RVI-1 below RVI-2 in an axial-like view: flagged, not relabelled.
    assert sum(rep.notes.values()) == 1 and samples[3].rvi_order_consistent is False
    np.testing.assert_array_equal(samples[3].landmarks["RVI-1"], [3.0, 12.0])


@pytest.fixture
def study(tmp_path):
    folder = tmp_path / "root" / "DET0000101"
    shutil.copytree(FIXTURES / "stacom" / "DET0000101", folder)
    return folder


GOOD_HEAD = "PatientID: P1\n[RV_INSERTS]\n"
STACOM_ERRORS = [
    # (annotation text, line, message fragment)
    (GOOD_HEAD + "7.5 IM-0001-0001.dcm\n", 3, 'expected "X Y DICOM_filename", got \'7.5 IM-0001-0001.dcm\''),
    (GOOD_HEAD + "a 4 IM-0001-0001.dcm\n", 3, "expected"),
    (GOOD_HEAD + "nan 4 IM-0001-0001.dcm\n", 3, "expected"),
    ("PatientID: P1\n\n7 4 IM-0001-0001.dcm\n", 3, "before any section header"),
    ("PatientID: P1\n[LV_APEX]\n", 2, "unknown section [LV_APEX]"),
    (GOOD_HEAD + "1 1 nothere.dcm\n2 2 nothere.dcm\n", 3, "'nothere.dcm' named here does not exist"),
    (GOOD_HEAD + "1 1 IM-0001-0001.dcm\n", 3, "only 1 point"),
    (GOOD_HEAD + "1 1 IM-0001-0001.dcm\n2 2 IM-0001-0001.dcm\n3 3 IM-0001-0001.dcm\n", 5, "more than 2"),
    (GOOD_HEAD + "30 4 IM-0001-0001.dcm\n2 2 IM-0001-0001.dcm\n", 3, "lies outside IM-0001-0001.dcm (24x20 pixels)"),
    (GOOD_HEAD + "1 1 IM-0001-0001.dcm\n2 2 IM-0001-0001.dcm\n[MITRAL_VALVES]\n"
     "1 1 IM-0001-0001.dcm\n2 2 IM-0001-0001.dcm\n", 6, "both short-axis"),
    ("[BASE_CENTRAL_AXIS]\n1 1 IM-0001-0001.dcm\n2 2 IM-0001-0001.dcm\nPatientID: P1\n", 3, "more than 1"),
    ("PatientID: P1\nPatient ID: P2\n", 2, "second PatientID"),
    ("PatientID:   \n", 1, "no value"),
    ("[RV_INSERTS]\n1 1 IM-0001-0001.dcm\n2 2 IM-0001-0001.dcm\n", None, 'missing "PatientID: <id>" header'),
]


@pytest.mark.parametrize("text,line,fragment", STACOM_ERRORS)
def test_stacom_annotation_errors_name_file_and_line(study, text, line, fragment):
    ann = study / "Annotations.txt"
    ann.write_text(text)
    _raises_at(ann, line, fragment, load_stacom_study, study)


def test_stacom_coordinate_base_constant_shifts_points(study, monkeypatch):
    monkeypatch.setattr(stacom, "COORDINATE_BASE", 1.0)
    sample = load_stacom_study(study)[0]
    np.testing.assert_array_equal(sample.landmarks["BCA"], [10.5, 8.25])


def test_stacom_dicom_name_case_insensitive_fallback(study):
    (study / "Annotations.txt").write_text(GOOD_HEAD + "1 1 im-0001-0001.DCM\n2 2 im-0001-0001.DCM\n")
    (sample,) = load_stacom_study(study)
    assert os.path.basename(sample.source) == "IM-0001-0001.dcm"


def test_stacom_study_without_annotations(study):
    (study / "Annotations.txt").unlink()
    _raises_at(study, None, "has no Annotations.txt", load_stacom_study, study)


def test_stacom_unreadable_dicom_is_input_error(study):
    (study / "IM-0002-0001.dcm").write_bytes(b"not a dicom file")
    _raises_at(study / "IM-0002-0001.dcm", None, "cannot read as DICOM", load_stacom_study, study)


def test_iter_stacom_dataset_skips_and_reports(study):
    root = study.parent
    (root / "notes").mkdir()  # wrong layout: no Annotations.txt
    broken = root / "DET9"
    shutil.copytree(study, broken)
    (broken / "Annotations.txt").write_text(GOOD_HEAD + "bad line\n")
    rep = DatasetReport("STACOM")
    samples = list(iter_stacom_dataset(root, report=rep))
    assert len(samples) == 3
    assert rep.loaded["study"] == 1
    assert rep.skip_counts == {"folder without Annotations.txt": 1, "invalid study": 1}
    assert f"{broken / 'Annotations.txt'}:3:" in [s.reason for s in rep.skipped if s.category == "invalid study"][0]
    assert "skipped 2" in rep.summary()
    with pytest.raises(InputError, match="Annotations.txt:3:"):
        list(iter_stacom_dataset(root, strict=True, report=DatasetReport("x")))


@pytest.mark.parametrize(
    "which,fragment", [("empty", "no study folder"), ("study", "single study folder"), ("file", "is not a folder")]
)
def test_iter_stacom_dataset_wrong_root(study, tmp_path, which, fragment):
    root = {"empty": tmp_path / "empty", "study": study, "file": study / "Annotations.txt"}[which]
    if which == "empty":
        root.mkdir()
    _raises_at(root, None, fragment, lambda: list(iter_stacom_dataset(root)))


# -- ACDC --------------------------------------------------------------------------------------

ACDC_EXPECTED = [  # slice -> (RVI-1, RVI-2)
    ((4.5, 3.5), (7.0, 12.0)),
    ((10.0, 2.0), (43 / 3, 34 / 3)),
    ((3.0, 5.0), (np.nan, np.nan)),
]


def test_parse_info_cfg(fixtures_root):
    info = parse_info_cfg(fixtures_root / "acdc" / "patient001" / "Info.cfg")
    got = (info.ed, info.es, info.group, info.height_cm, info.n_frames, info.weight_kg)
    assert got == (1, 12, "DCM", 184.0, 30, 95.0)
    assert info.extra == {}


def test_load_acdc_patient_centroids(fixtures_root):
    samples = load_acdc_patient(fixtures_root / "acdc" / "patient001")
    assert len(samples) == 3
    for k, (sample, (rvi1, rvi2)) in enumerate(zip(samples, ACDC_EXPECTED)):
        got = (sample.patient_id, sample.frame, sample.phase, sample.slice_index, sample.group)
        assert got == ("patient001", 1, "ED", k, "DCM")
        assert sample.image.shape == (16, 20) and sample.image.dtype == np.float32
        assert sample.image[3, 5] == 100 * k + 35
        np.testing.assert_allclose(sample.spacing_xy, [1.5625, 1.5625])
        np.testing.assert_allclose(sample.points(["RVI-1", "RVI-2"]), [rvi1, rvi2], atol=1e-5)
        assert not sample.mapped_through_ras
        # Origin (-120, -110, 15) LPS -> RAS (120, 110, 15), 10 mm per slice.
        np.testing.assert_allclose(sample.geometry.origin, [120.0, 110.0, 15.0 + 10.0 * k])


@pytest.fixture
def patient(tmp_path):
    folder = tmp_path / "root" / "patient001"
    shutil.copytree(FIXTURES / "acdc" / "patient001", folder)
    return folder


@pytest.mark.parametrize(
    "text,line,fragment",
    [
        ("ED 1\nES: 12\n", 1, 'expected "Key: value"'),
        ("ED: 1\nES: twelve\n", 2, "ES must be a whole number, got 'twelve'"),
        ("ED: 1\nES: 12\nHeight: tall\n", 3, "Height must be a number"),
        ("ED: 1\nES: 12\nED: 2\n", 3, "given twice"),
        ("ED: 1\nGroup: NOR\n", None, 'missing "ES: <frame>"'),
    ],
)
def test_info_cfg_errors(patient, text, line, fragment):
    (patient / "Info.cfg").write_text(text)
    _raises_at(patient / "Info.cfg", line, fragment, load_acdc_patient, patient)


def test_acdc_missing_info_cfg(patient):
    (patient / "Info.cfg").unlink()
    _raises_at(patient, None, "has no Info.cfg", load_acdc_patient, patient)


def _write_labels(path, array, origin=make_fixtures.ACDC_ORIGIN):
    make_fixtures.write_volume(str(path), array, origin=origin)


@pytest.mark.parametrize(
    "edit,fragment",
    [
        (lambda lab: lab[:, :, :19], "label volume shape (x, y, z) = (19, 16, 3) differs from image"),
        (lambda lab: np.where(lab == 2, 3, lab).astype(np.uint8), "label values other than 0/1/2 found: 3"),
        (lambda lab: lab.astype(np.float32) + 0.5 * (lab == 1), "label values other than 0/1/2 found: 1.5"),
        (lambda lab: _with(lab, (2, 10, 10), 1), "slice 2: label 1 (RVI-1) has 2 separate blobs"),
    ],
)
def test_acdc_label_errors(patient, edit, fragment):
    label_path = patient / "patient001_frame01_rvip.nrrd"
    _write_labels(label_path, edit(make_fixtures.acdc_labels()))
    _raises_at(label_path, None, fragment, load_acdc_patient, patient)


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


def test_acdc_float_labels_are_accepted(patient):
    _write_labels(patient / "patient001_frame01_rvip.nrrd", make_fixtures.acdc_labels().astype(np.float32))
    samples = load_acdc_patient(patient)
    np.testing.assert_allclose(samples[0].landmarks["RVI-2"], [7.0, 12.0])


def test_acdc_label_geometry_mismatch_maps_through_ras(patient):
    # Label grid shifted by one column (+x in LPS): label pixel i sits on image pixel i + 1.
    origin = (make_fixtures.ACDC_ORIGIN[0] + make_fixtures.ACDC_SPACING[0],) + make_fixtures.ACDC_ORIGIN[1:]
    _write_labels(patient / "patient001_frame01_rvip.nrrd", make_fixtures.acdc_labels(), origin=origin)
    rep = DatasetReport("ACDC")
    samples = load_acdc_patient(patient, report=rep)
    assert all(s.mapped_through_ras for s in samples)
    np.testing.assert_allclose(samples[0].landmarks["RVI-1"], [5.5, 3.5], atol=1e-4)
    np.testing.assert_allclose(samples[1].landmarks["RVI-2"], [43 / 3 + 1, 34 / 3], atol=1e-4)
    assert sum(rep.notes.values()) == 1


def test_acdc_separate_rvip_folder(patient, tmp_path):
    labels = tmp_path / "rvip" / "patient001"
    labels.mkdir(parents=True)
    shutil.move(patient / "patient001_frame01_rvip.nrrd", labels)
    samples = list(iter_acdc_dataset(patient.parent, rvip_root=tmp_path / "rvip"))
    assert len(samples) == 3 and samples[0].label_source == str(labels / "patient001_frame01_rvip.nrrd")
    _raises_at(patient, None, "no frame image has a matching", load_acdc_patient, patient)


def test_iter_acdc_dataset_skips_and_reports(patient):
    root = patient.parent
    shutil.copy(patient / "patient001_frame01.nii.gz", patient / "patient001_frame12.nii.gz")  # ES without labels
    shutil.copy(patient / "patient001_frame01_rvip.nrrd", patient / "patient001_frame05_rvip.nrrd")  # labels, no image
    bad = root / "patient002"
    shutil.copytree(patient, bad)
    (bad / "Info.cfg").write_text("ED: 1\nES 12\n")
    (root / "README").mkdir()  # not a patient folder: ignored
    rep = DatasetReport("ACDC")
    samples = list(iter_acdc_dataset(root, report=rep))
    assert len(samples) == 3 and {s.patient_id for s in samples} == {"patient001"}
    assert rep.loaded == {"patient": 1, "slice": 3}
    assert rep.skip_counts == {"frame without RV-insertion labels": 1, "labels without image": 1, "invalid patient": 1}
    assert rep.notes == {"slices with both RVIs": 2, "slices with one RVI": 1}
    with pytest.raises(InputError, match="Info.cfg:2:"):
        list(iter_acdc_dataset(root, strict=True))


def test_iter_acdc_dataset_without_patients(tmp_path):
    _raises_at(tmp_path, None, "has no patientXXX folders", lambda: list(iter_acdc_dataset(tmp_path)))


# -- AdaptOR -----------------------------------------------------------------------------------


def test_iter_adaptor_dataset_fixture(fixtures_root):
    rep = DatasetReport("AdaptOR")
    samples = list(iter_adaptor_dataset(fixtures_root / "adaptor", report=rep))
    names = [(s.op, s.video, s.frame_name) for s in samples]
    assert names == [("op01", "video01", "000000.png"), ("op01", "video01", "000001.png")]
    first, second = samples
    assert first.image.shape == (24, 32, 3) and first.image.dtype == np.float32
    np.testing.assert_array_equal(first.image[0, 0], [1.0, 0.0, 0.0])  # red stays red: RGB, not BGR
    np.testing.assert_allclose(first.image[2, 3], make_fixtures.rgb_frame(24, 32, 0)[2, 3] / 255.0)
    np.testing.assert_array_equal(first.points, [[3.5, 4.0], [20.0, 10.25], [31.0, 23.0]])
    assert second.points.shape == (0, 2) and second.view is None
    assert rep.loaded == {"frame": 2, "point": 3} and rep.skipped == []


def test_read_labelme_stereo_splits_views(fixtures_root):
    rep = DatasetReport("labelme")
    left, right = read_labelme_stereo(fixtures_root / "adaptor_labelme" / "stereo_000000.json", op="op01", report=rep)
    assert (left.view, right.view, left.op) == ("left", "right", "op01")
    np.testing.assert_array_equal(left.points, [[5.0, 4.0], [31.0, 23.5]])
    np.testing.assert_array_equal(right.points, [[20.5, 6.0], [10.0, 0.0]])  # y >= 24 -> right, minus 24
    assert left.image.shape == right.image.shape == (24, 32, 3)
    np.testing.assert_allclose(right.image[5, 7], make_fixtures.rgb_frame(24, 32, 3)[5, 7] / 255.0)
    np.testing.assert_allclose(left.image[5, 7], make_fixtures.rgb_frame(24, 32, 2)[5, 7] / 255.0)
    assert rep.notes == {"labelme shapes ignored (shape_type 'rectangle')": 1}


@pytest.fixture
def video(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "adaptor", root)
    return root / "op01" / "video01"


def _frame(video):
    return list_adaptor_frames(video.parent.parent)[0]


@pytest.mark.parametrize(
    "label,fragment",
    [
        ({"imageHeight": 24, "imageWidth": 32}, 'has no "points" key'),
        ({"points": [{"x": 40, "y": 3}]}, "point 0 (40, 3) lies outside the image 000000.png (32x24 pixels)"),
        ({"points": [{"x": 1, "y": -2}]}, "lies outside"),
        ({"points": [{"x": 1}]}, 'point 0 must be {"x": .., "y": ..}'),
        ({"points": [{"x": "1", "y": 2}]}, "point 0 x must be a finite number"),
        ({"points": [], "imageHeight": 24, "imageWidth": 64}, "imageHeight x imageWidth 24x64 disagrees with"),
        ({"points": [], "imageHeight": 24}, "only one of imageHeight/imageWidth"),
    ],
)
def test_adaptor_label_errors(video, label, fragment):
    path = video / "point_labels" / "000000.json"
    path.write_text(json.dumps(label))
    _raises_at(path, None, fragment, load_adaptor_frame, _frame(video))


def test_adaptor_invalid_json(video):
    path = video / "point_labels" / "000000.json"
    path.write_text('{"points": [\n')
    _raises_at(path, None, "is not valid JSON (line 2", read_point_labels, path)


def test_adaptor_grayscale_frame_refused(video):
    path = video / "images" / "000000.png"
    cv2.imwrite(str(path), np.full((24, 32), 128, np.uint8))
    _raises_at(path, None, "greyscale frame", load_adaptor_frame, _frame(video))


def test_adaptor_opaque_rgba_frame_drops_alpha(video):
    path = video / "images" / "000000.png"
    bgra = np.zeros((24, 32, 4), np.uint8)
    bgra[..., 2:] = 255  # opaque red
    cv2.imwrite(str(path), bgra)
    sample = next(iter_adaptor_dataset(video.parent.parent))
    np.testing.assert_array_equal(sample.image[0, 0], [1.0, 0.0, 0.0])
    bgra[0, 0, 3] = 7  # one transparent pixel: refused rather than guessed
    cv2.imwrite(str(path), bgra)
    _raises_at(path, None, "transparency", load_adaptor_frame, _frame(video))


def test_iter_adaptor_dataset_skips_and_reports(video):
    (video / "images" / "000002.png").write_bytes((video / "images" / "000000.png").read_bytes())  # no label
    (video / "point_labels" / "000009.json").write_text('{"points": []}')  # no image
    cv2.imwrite(str(video / "images" / "000001.png"), np.zeros((24, 32), np.uint8))  # grayscale
    (video.parent / "video02").mkdir()  # no images/ folder
    rep = DatasetReport("AdaptOR")
    samples = list(iter_adaptor_dataset(video.parent.parent, report=rep))
    assert [s.frame_name for s in samples] == ["000000.png"]
    assert rep.skip_counts == {
        "image without label": 1, "label without image": 1, "invalid frame": 1, "folder without images/": 1
    }
    assert rep.loaded == {"frame": 1, "point": 3}
    with pytest.raises(InputError, match="greyscale"):
        list(iter_adaptor_dataset(video.parent.parent, strict=True))


@pytest.mark.parametrize("which,fragment", [("empty", "no <op>/<video>/images/"), ("video", "single video folder")])
def test_adaptor_wrong_root(video, tmp_path, which, fragment):
    root = tmp_path / "empty" if which == "empty" else video
    root.mkdir(exist_ok=True)
    _raises_at(root, None, fragment, list_adaptor_frames, root)


@pytest.mark.parametrize(
    "edit,target,fragment",
    [
        (lambda d: d.pop("shapes"), "json", 'has no "shapes" list'),
        (lambda d: d["shapes"][0].update(points=[[1, 2], [3, 4]]), "json", "shape 0: a point shape needs"),
        (lambda d: d["shapes"][0].update(points=[[40, 2]]), "json", "point 0 (40, 2) lies outside"),
        (lambda d: d.update(imageHeight=47), "json", "imageHeight x imageWidth 47x32 disagrees"),
    ],
)
def test_labelme_errors(tmp_path, edit, target, fragment):
    folder = tmp_path / "labelme"
    shutil.copytree(FIXTURES / "adaptor_labelme", folder)
    path = folder / "stereo_000000.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    _raises_at(path, None, fragment, read_labelme_stereo, path)


def test_labelme_odd_height(tmp_path):
    folder = tmp_path / "labelme"
    shutil.copytree(FIXTURES / "adaptor_labelme", folder)
    path = folder / "stereo_000000.json"
    data = json.loads(path.read_text())
    del data["imageHeight"]
    path.write_text(json.dumps(data))
    cv2.imwrite(str(folder / "stereo_000000.png"), np.zeros((47, 32, 3), np.uint8))
    _raises_at(folder / "stereo_000000.png", None, "height 47 is odd", read_labelme_stereo, path)


# -- submission JSON -----------------------------------------------------------------------------


def _predictions():
    return [
        SubmissionEntry("op01", "video01", "000000.png", np.array([[3.5, 4.0], [20.0, 10.25]], np.float32)),
        SubmissionEntry("op01", "video01", "000001.png", np.zeros((0, 2), np.float32)),
        SubmissionEntry("op02", "video03", "000100.png", [[1.125, 2.0]]),
    ]


def test_submission_round_trip_and_format(tmp_path):
    path = tmp_path / "submission.json"
    write_submission_json(_predictions(), path)
    raw = json.loads(path.read_text())
    assert raw[0] == {"folderName": "op01", "subfolderName": "video01", "imageFileName": "000000.png",
                      "points": [{"x": 3.5, "y": 4.0}, {"x": 20.0, "y": 10.25}]}
    assert raw[1]["points"] == []
    back = read_submission_json(path)
    for a, b in zip(back, _predictions()):
        assert (a.op, a.video, a.image_file_name) == (b.op, b.video, b.image_file_name)
        np.testing.assert_array_equal(a.points, b.points)
    assert os.listdir(tmp_path) == ["submission.json"]  # no temporary files left behind


def test_submission_refuses_overwrite_and_duplicates(tmp_path):
    path = tmp_path / "submission.json"
    path.write_text("[]")
    with pytest.raises(OutputExistsError):
        write_submission_json(_predictions(), path)
    assert path.read_text() == "[]"
    write_submission_json(_predictions(), path, overwrite=True)
    assert len(read_submission_json(path)) == 3
    dup = _predictions() + [_predictions()[0]]
    fragment = "duplicate prediction for op01/video01/000000.png"
    _raises_at(path, None, fragment, write_submission_json, dup, path, overwrite=True)
    assert len(read_submission_json(path)) == 3 and sorted(os.listdir(tmp_path)) == ["submission.json"]


@pytest.mark.parametrize(
    "content,fragment",
    [
        ({"a": 1}, "must hold a JSON list"),
        ([{"folderName": "a", "subfolderName": "b", "points": []}], "entry 0 lacks imageFileName"),
        ([{"folderName": "a", "subfolderName": "b", "imageFileName": "c", "points": [{"x": 1}]}], "entry 0 point 0"),
        ([{"folderName": "", "subfolderName": "b", "imageFileName": "c", "points": []}], "entry 0: SubmissionEntry.op"),
    ],
)
def test_read_submission_errors(tmp_path, content, fragment):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(content))
    _raises_at(path, None, fragment, read_submission_json, path)


# -- splits ------------------------------------------------------------------------------------


def _patients(n: int) -> list:
    return [f"p{g:03d}" for g in range(n) for _ in range(1 + g % 3)]  # 1..3 samples per patient


def _check_partition(split, groups):
    parts = [set(split.train_groups), set(split.val_groups), set(split.test_groups)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set().union(*parts) == set(groups)
    assert sorted(split.train + split.val + split.test) == list(range(len(groups)))
    for indices, part in zip((split.train, split.val, split.test), parts):
        assert {groups[i] for i in indices} == part


def test_train_val_test_split_proportions_and_determinism():
    groups = _patients(100)
    split = train_val_test_split(groups, seed=3)
    _check_partition(split, groups)
    assert (len(split.train_groups), len(split.val_groups), len(split.test_groups)) == (56, 14, 30)
    assert split == train_val_test_split(list(groups), seed=3)
    assert split.test_groups != train_val_test_split(groups, seed=4).test_groups
    # Sample order does not matter, only the set of groups.
    assert train_val_test_split(groups[::-1], seed=3).test_groups == split.test_groups


def test_kfold_every_patient_tested_once():
    groups = _patients(23)
    folds = kfold_splits(groups, 5, seed=1)
    tested = [g for f in folds for g in f.test_groups]
    assert sorted(tested) == sorted(set(groups))
    assert {len(f.test_groups) for f in folds} == {4, 5}
    for f in folds:
        _check_partition(f, groups)
        assert len(f.val_groups) == round(0.2 * (23 - len(f.test_groups)))
    assert [f.test for f in folds] == [f.test for f in kfold_splits(groups, 5, seed=1)]


@pytest.mark.parametrize("domain,k,n_ops", [("sim", 5, 10), ("intraop", 4, 4)])
def test_adaptor_folds_keep_surgeries_whole(domain, k, n_ops):
    sizes = [192, 374, 250, 300, 210, 260, 330, 280, 240, 272][:n_ops]
    ops = [f"{domain}{o:02d}" for o, size in enumerate(sizes) for _ in range(size)]
    folds = adaptor_folds(ops, domain)
    assert len(folds) == k
    assert sorted(g for f in folds for g in f.test_groups) == sorted(set(ops))
    for f in folds:
        _check_partition(f, ops)
        assert f.val_groups == []
    frames = [len(f.test) for f in folds]
    assert max(frames) - min(frames) <= max(sizes)


@pytest.mark.parametrize(
    "call,fragment",
    [
        (lambda: kfold_splits(["a", "b"], 3), "needs at least 3 groups"),
        (lambda: adaptor_folds(["a"] * 5, "real"), "domain must be one of"),
        (lambda: train_val_test_split(["a", "a"]), "at least 2 groups"),
        (lambda: train_val_test_split(["a", "b"], test_fraction=1.0), "fraction must be in [0, 1)"),
    ],
)
def test_split_errors(call, fragment):
    with pytest.raises(InputError, match=fragment.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        call()


@pytest.mark.parametrize("module", [splits, report, common])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_stacom_dicom_fixture_tags_are_realistic():
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(FIXTURES / "stacom" / "DET0000101" / "IM-0001-0002.dcm"))
    reader.ReadImageInformation()
    keys = ("0008|0060", "0010|0020", "0020|0013", "0028|0030", "0018|0050", "0018|1060")
    tags = {k: reader.GetMetaData(k).strip() for k in keys}
    assert tags == {"0008|0060": "MR", "0010|0020": "DET0000101", "0020|0013": "2", "0028|0030": "1.5\\1.25",
                    "0018|0050": "8", "0018|1060": "0"}


# -- ACDC expert masks -> landmarks ---------------------------------------------------------------
def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[1]) ** 2 + (xx - centre[0]) ** 2 <= radius ** 2


def _acdc_mask_slice(shape=(48, 40), lv=(24.0, 24.0)):
    """ACDC values: RV crescent on the left (1), myocardium ring (2), LV cavity (3)."""
    mask = np.zeros(shape, np.uint8)
    ring = _disc(shape, lv, 14) & ~_disc(shape, lv, 9)
    mask[ring & (np.mgrid[: shape[0], : shape[1]][1] < lv[0] - 4)] = 1
    mask[_disc(shape, lv, 9)] = 2
    mask[_disc(shape, lv, 6)] = 3
    return mask


def _write_acdc_gt_patient(folder: Path, masks: np.ndarray, *, group="NOR", spacing=(1.5, 1.5, 10.0)):
    folder.mkdir(parents=True)
    (folder / "Info.cfg").write_text(f"ED: 1\nES: 5\nGroup: {group}\nHeight: 170\nNbFrame: 10\nWeight: 70\n")
    image = np.where(masks == 3, 200.0, np.where(masks == 2, 60.0, np.where(masks == 1, 180.0, 20.0)))
    for stem, array in ((f"{folder.name}_frame01", image.astype(np.float32)), (f"{folder.name}_frame01_gt", masks)):
        img = sitk.GetImageFromArray(array)
        img.SetSpacing(spacing)
        sitk.WriteImage(img, str(folder / f"{stem}.nii.gz"))


def test_acdc_gt_masks_give_rvi_and_lvc(tmp_path):
    stack = np.stack([_acdc_mask_slice(), np.zeros((48, 40), np.uint8), _acdc_mask_slice()])
    stack[2][stack[2] == 1] = 0  # a slice whose RV does not reach the LV: no insertions, LVC kept
    _write_acdc_gt_patient(tmp_path / "patient001", stack)
    rep = DatasetReport("ACDC")
    samples = list(iter_acdc_dataset(tmp_path, labels="gt", report=rep))
    assert [s.slice_index for s in samples] == [0, 1, 2] and all(s.absent_known for s in samples)
    first = samples[0].landmarks
    assert first["LVC"].tolist() == [24.0, 24.0]
    assert first["RVI-1"][1] < 24 < first["RVI-2"][1]  # anterior (up) is RVI-1
    assert all(np.isnan(samples[1].landmarks[n]).all() for n in ("RVI-1", "RVI-2", "LVC"))
    assert np.isnan(samples[2].landmarks["RVI-1"]).all() and np.isfinite(samples[2].landmarks["LVC"]).all()
    assert samples[0].label.shape == (48, 40) and samples[0].n_slices == 3 and samples[0].group == "NOR"
    assert rep.notes["slices with both RVIs"] == 1 and rep.notes["slices without RVI"] == 2
    assert rep.notes["slices without LV cavity"] == 1


def test_acdc_gt_bad_mask_values_name_the_file(tmp_path):
    stack = _acdc_mask_slice()[None].copy()
    stack[0, 0, 0] = 7
    _write_acdc_gt_patient(tmp_path / "patient001", stack)
    with pytest.raises(InputError, match="mask values other than 0/1/2/3 found: 7") as info:
        load_acdc_patient(tmp_path / "patient001", labels="gt")
    assert "patient001_frame01_gt.nii.gz" in str(info.value)


def test_acdc_gt_frame_without_mask_is_reported(tmp_path):
    _write_acdc_gt_patient(tmp_path / "patient001", _acdc_mask_slice()[None])
    (tmp_path / "patient001" / "patient001_frame01_gt.nii.gz").rename(tmp_path / "patient001" / "elsewhere.nii.gz")
    rep = DatasetReport("ACDC")
    with pytest.raises(InputError, match="no frame image has a matching \\*_gt.nii.gz"):
        load_acdc_patient(tmp_path / "patient001", labels="gt", report=rep)
    assert [s.category for s in rep.skipped] == ["frame without masks"]


def test_stratified_split_takes_the_same_number_per_stratum():
    groups = [f"p{i:02d}" for i in range(20) for _ in range(3)]  # 3 slices per patient
    strata = ["ABCD"[i % 4] for i in range(20) for _ in range(3)]
    sp = splits.stratified_split(groups, strata, test_per_stratum=2, val_per_stratum=1, seed=3)
    stratum = {g: s for g, s in zip(groups, strata)}
    for part, n in ((sp.test_groups, 2), (sp.val_groups, 1), (sp.train_groups, 2)):
        assert sorted(stratum[g] for g in part) == sorted("ABCD" * n)
    assert not set(sp.test_groups) & set(sp.val_groups) and not set(sp.train_groups) & set(sp.test_groups)
    assert sorted(sp.train + sp.val + sp.test) == list(range(60))
    again = splits.stratified_split(groups, strata, test_per_stratum=2, val_per_stratum=1, seed=3)
    assert again.test_groups == sp.test_groups


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(test_per_stratum=3, val_per_stratum=2), "has 5 groups; need more than 5"),
        (dict(test_per_stratum=-1, val_per_stratum=1), "must be >= 0"),
    ],
)
def test_stratified_split_errors(kwargs, fragment):
    groups = [f"p{i}" for i in range(10)]
    with pytest.raises(InputError, match=fragment):
        splits.stratified_split(groups, ["A", "B"] * 5, **kwargs)


def test_stratified_split_refuses_a_group_in_two_strata():
    with pytest.raises(InputError, match="has two strata"):
        splits.stratified_split(["p1", "p1", "p2"], ["A", "B", "A"], test_per_stratum=0, val_per_stratum=0)


def test_real_acdc_masks_load(tmp_path):
    root = realdata_root() / "acdc" / "training"
    if not root.is_dir():
        pytest.skip(f"real ACDC folder {root} is absent (only in the development environment)")
    rep = DatasetReport("ACDC")
    samples = list(iter_acdc_dataset(root, labels="gt", report=rep, patients={"patient001", "patient099"}))
    assert rep.loaded["patient"] == 2 and not rep.skipped
    both = [s for s in samples if np.isfinite(s.landmarks["RVI-1"]).all()]
    assert len(both) >= 0.6 * len(samples)
    for s in both:  # ACDC is stored with anterior up and the RV on the left of the LV
        assert s.landmarks["RVI-1"][1] < s.landmarks["RVI-2"][1]
        assert min(s.landmarks["RVI-1"][0], s.landmarks["RVI-2"][0]) < s.landmarks["LVC"][0]
