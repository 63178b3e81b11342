"""``heatmap-landmarks cardiac`` and ``demo`` on small files, with real inference through hand-set models.

The models (``heatmap_landmarks.testing.save_identity_checkpoint``) copy
their input, so an image of Gaussian blobs is "detected" at the blob centres
and every output can be checked against known positions.
"""
from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk

ROOT = Path(__file__).resolve().parents[1]

from heatmap_landmarks.testing import blob_frame, blob_points, save_identity_checkpoint  # noqa: E402
from heatmap_landmarks import cli, mrml  # noqa: E402
from heatmap_landmarks.cli._common import input_stem  # noqa: E402
from heatmap_landmarks.cli.cardiac import LANDMARK_COLUMNS, MEASUREMENT_COLUMNS, output_names, read_landmark_csv  # noqa: E402,E501
from heatmap_landmarks.render import contact_sheet  # noqa: E402
from heatmap_landmarks.errors import InputError  # noqa: E402
from heatmap_landmarks.geometry import Geometry  # noqa: E402
from heatmap_landmarks.io import read_image, write_image  # noqa: E402

OBLIQUE = Geometry(spacing=(1.0, 1.0, 7.0), origin=(12.0, -30.0, 44.0),
                   direction=np.array([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0], [0.0, 0.8, -0.6]]))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("models")
    return {view: save_identity_checkpoint(folder, view) for view in ("sax", "lax")}


def read_csv(path) -> tuple[list, list]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def lax_cine(n: int = 5):
    truth = [blob_points("lax", (0.0, 1.5 * t)) for t in range(n)]
    return np.stack([blob_frame((64, 64), list(p.values())) for p in truth]), truth


def run(argv, capsys) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cine_nifti_all_outputs(tmp_path, models, capsys):
    frames, truth = lax_cine(5)
    write_image(tmp_path / "cine.nii.gz", frames, OBLIQUE, kind="2d+t")
    out = tmp_path / "out"
    code, stdout, _ = run(["cardiac", tmp_path / "cine.nii.gz", "--view", "lax", "--out", out,
                           "--weights", models["lax"], "--quiet"], capsys)
    assert code == 0, stdout
    names = output_names("cine")
    assert sorted(p.name for p in out.iterdir()) == sorted(names.values())  # nothing else (no staging left)

    header, rows = read_csv(out / names["csv"])
    assert tuple(header) == LANDMARK_COLUMNS == ("time", "slice", "label", "x", "y", "r", "a", "s", "confidence")
    assert [(int(r["time"]), r["label"]) for r in rows] == [(t, k) for t in range(5) for k in ("MV-1", "MV-2")]
    assert {r["slice"] for r in rows} == {"0"}
    image = read_image(tmp_path / "cine.nii.gz")
    for r in rows:
        t, (x, y) = int(r["time"]), truth[int(r["time"])][r["label"]]
        assert abs(float(r["x"]) - x) < 0.2 and abs(float(r["y"]) - y) < 0.2
        np.testing.assert_allclose([float(r[k]) for k in "ras"], image.points_to_ras([[float(r["x"]), float(r["y"])]], t)[0],
                                   atol=1e-3)
        assert 0.9 < float(r["confidence"]) <= 1.0

    markups = mrml.load_markups_json(out / names["markups"], scene=mrml.new_headless_scene(slice_views=False))
    points, labels, descriptions = mrml.fiducials_to_arrays(markups)
    assert labels == [r["label"] for r in rows]
    np.testing.assert_allclose(points, [[float(r[k]) for k in "ras"] for r in rows], atol=1e-3)
    assert descriptions[2].startswith("time 1;") and mrml.parse_confidence(descriptions[2]) > 0.9

    heat = read_image(out / names["heatmap"])
    assert heat.kind == "2d+t" and heat.array.shape == frames.shape
    assert heat.geometry.almost_equal(image.geometry, atol=1e-4)
    assert 0.9 < heat.array.max() <= 1.0 and heat.array.min() >= 0.0

    header, measurements = read_csv(out / names["measurements"])
    assert tuple(header) == MEASUREMENT_COLUMNS
    diameters = [float(m["value"]) for m in measurements if m["measurement"] == "mitral annulus diameter"]
    assert len(diameters) == 5 and np.allclose(diameters, np.hypot(27.0, 3.0), atol=0.2)
    excursion = {m["measurement"]: float(m["value"]) for m in measurements if m["time"] == "-1"}
    assert excursion["MV-1 excursion"] == pytest.approx(6.0, abs=0.2)

    sheet = cv2.imread(str(out / names["overlay"]))
    assert sheet is not None and sheet.shape[2] == 3 and sheet.shape[0] >= 256
    assert "view lax" in stdout and "MV-1 excursion" in stdout


@pytest.mark.parametrize("rotations", [[], ["--rotations", "4"]])
def test_png_single_slice(tmp_path, models, capsys, rotations):
    """Also with 4 test-time rotations: the input-copying model is rotation-equivariant, so the points stay."""
    truth = blob_points("sax")
    frame = blob_frame((64, 64), list(truth.values()))
    cv2.imwrite(str(tmp_path / "slice.png"), np.rint(frame / frame.max() * 255).astype(np.uint8))
    code, stdout, _ = run(["cardiac", tmp_path / "slice.png", "--view", "sax", "--out", tmp_path / "o",
                           "--weights", models["sax"], "--quiet", *rotations], capsys)
    assert code == 0
    _, rows = read_csv(tmp_path / "o" / "slice_landmarks.csv")
    assert [r["label"] for r in rows] == ["RVI-1", "RVI-2", "LVC"]
    for r in rows:
        assert abs(float(r["x"]) - truth[r["label"]][0]) < 0.2 and abs(float(r["y"]) - truth[r["label"]][1]) < 0.2
    assert "named LVC" in stdout  # the single-slice naming is explained


def test_dicom_file_geometry(tmp_path, models, capsys):
    truth = blob_points("sax", (4.0, -2.0))
    frame = np.rint(blob_frame((64, 64), list(truth.values()))).astype(np.int16)
    img = sitk.GetImageFromArray(frame[None])
    img.SetSpacing((0.9, 0.9, 6.0))
    for tag, value in (("0020|0032", "-100\\50\\20"), ("0020|0037", "1\\0\\0\\0\\1\\0"), ("0008|0060", "MR")):
        img.SetMetaData(tag, value)  # GDCM writes the patient position only when given as tags
    sitk.WriteImage(img, str(tmp_path / "slice.dcm"))
    code, _, err = run(["cardiac", tmp_path / "slice.dcm", "--view", "sax", "--out", tmp_path / "o",
                        "--weights", models["sax"], "--quiet"], capsys)
    assert code == 0, err
    _, rows = read_csv(tmp_path / "o" / "slice_landmarks.csv")
    image = read_image(tmp_path / "slice.dcm")
    for r in rows:
        x, y = truth[r["label"]]
        assert abs(float(r["x"]) - x) < 0.25 and abs(float(r["y"]) - y) < 0.25
        np.testing.assert_allclose([float(r[k]) for k in "ras"], image.points_to_ras([[float(r["x"]), float(r["y"])]])[0],
                                   atol=1e-3)
    # DICOM is LPS: R = -(x_lps) = 100 - 0.9 x, A = -(y_lps) = -50 - 0.9 y, S = 20.
    r0 = rows[0]
    np.testing.assert_allclose([float(r0["r"]), float(r0["a"]), float(r0["s"])],
                               [100.0 - 0.9 * float(r0["x"]), -50.0 - 0.9 * float(r0["y"]), 20.0], atol=1e-3)


def test_stack_names_bca_aca_and_lv_length(tmp_path, models, capsys):
    drops = [(), (), (), ("RVI-1", "RVI-2")]
    stack = np.stack([blob_frame((64, 64), list(blob_points("sax", (z, 0), drop=d).values()))
                      for z, d in enumerate(drops)])
    write_image(tmp_path / "stack.nrrd", stack, OBLIQUE)
    code, stdout, _ = run(["cardiac", tmp_path / "stack.nrrd", "--view", "sax", "--out", tmp_path / "o",
                           "--weights", models["sax"], "--quiet"], capsys)
    assert code == 0
    _, rows = read_csv(tmp_path / "o" / "stack_landmarks.csv")
    frames = {r["label"]: int(r["slice"]) for r in rows if r["label"] in ("BCA", "ACA")}
    assert frames == {"BCA": 0, "ACA": 3}
    _, measurements = read_csv(tmp_path / "o" / "stack_measurements.csv")
    length = [float(m["value"]) for m in measurements if m["measurement"] == "LV long-axis length"]
    expected = np.linalg.norm(OBLIQUE.pixel_to_ras([[40, 31, 0]]) - OBLIQUE.pixel_to_ras([[43, 31, 3]]))
    assert length == [pytest.approx(expected, abs=0.2)]
    assert "LV long-axis length" in stdout


def test_auto_view_takes_the_cards_view(tmp_path, models, capsys):
    frames, _ = lax_cine(2)
    write_image(tmp_path / "c.mha", frames, OBLIQUE, kind="2d+t")
    code, stdout, _ = run(["cardiac", tmp_path / "c.mha", "--out", tmp_path / "o", "--weights", models["lax"],
                           "--quiet"], capsys)
    assert code == 0 and "view lax" in stdout


def test_refuses_to_overwrite_then_overwrites(tmp_path, models, capsys):
    frames, _ = lax_cine(2)
    write_image(tmp_path / "c.nii.gz", frames, OBLIQUE, kind="2d+t")
    argv = ["cardiac", tmp_path / "c.nii.gz", "--view", "lax", "--out", tmp_path / "o", "--weights", models["lax"],
            "--quiet"]
    assert run(argv, capsys)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "o").iterdir()}
    code, _, err = run(argv, capsys)
    assert code == 2 and "already exists" in err and err.count("\n") == 1
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "o").iterdir()} == before
    assert run(argv + ["--overwrite"], capsys)[0] == 0


def test_progress_bar_unless_quiet(tmp_path, models, capsys):
    frames, _ = lax_cine(3)
    write_image(tmp_path / "c.nii.gz", frames, OBLIQUE, kind="2d+t")
    argv = ["cardiac", tmp_path / "c.nii.gz", "--view", "lax", "--weights", models["lax"]]
    _, _, err = run(argv + ["--out", tmp_path / "a"], capsys)
    assert "3/3" in err and "frame" in err
    _, _, err = run(argv + ["--out", tmp_path / "b", "--quiet"], capsys)
    assert err == ""


def test_demo_with_given_weights(tmp_path, models, capsys):
    out = tmp_path / "demo"
    code, stdout, err = run(["demo", "--out", out, "--weights-sax", models["sax"], "--weights-lax", models["lax"],
                             "--frames", "3", "--slices", "3", "--quiet"], capsys)
    assert code == 0, err
    for name in ("sax_stack", "sax_cine", "lax_cine"):
        assert (out / "inputs" / f"{name}.nii.gz").is_file()
        for file_name in output_names(name).values():
            assert (out / file_name).is_file(), file_name
        assert f"## {name}" in stdout
    assert "| Landmark | Error (px) | Error (mm)" in stdout and "ms/frame" in stdout
    assert read_image(out / "inputs" / "sax_stack.nii.gz").kind == "3d"
    assert read_image(out / "inputs" / "lax_cine.nii.gz").kind == "2d+t"
    code, _, err = run(["demo", "--out", out, "--weights-sax", models["sax"], "--weights-lax", models["lax"],
                        "--frames", "3", "--slices", "3", "--quiet"], capsys)
    assert code == 2 and "already exists" in err


def test_contact_sheet_samples_long_inputs():
    frames = np.random.default_rng(0).random((50, 40, 30)).astype(np.float32)
    rows = [{"frame": 0, "label": "MV-1", "x": 3.0, "y": 4.0}]  # render.contact_sheet: "frame" indexes frames
    sheet = contact_sheet(frames, np.zeros_like(frames), rows, tile=64)
    assert sheet.dtype == np.uint8 and sheet.shape == (6 * 64, 6 * 64, 3)  # 36 tiles at most


@pytest.mark.parametrize("path, stem", [("a/cine.nii.gz", "cine"), ("b/x.nrrd", "x"), ("c/dicom_dir", "dicom_dir"),
                                        ("d/im.PNG", "im"), ("e/IM0001", "IM0001")])
def test_input_stem(path, stem):
    assert input_stem(path) == stem


def test_landmark_csv_reader_reads_new_and_old_columns(tmp_path):
    """read_landmark_csv: time/slice columns, and the one 'frame' column of files before version 0.2."""
    new = tmp_path / "new.csv"
    new.write_text("time,slice,label,x,y,r,a,s,confidence\n2,3,RVI-1,1.5,2.5,10,20,30,0.9\n")
    [row] = read_landmark_csv(new)
    assert (row["time"], row["slice"], row["label"], row["x"]) == (2, 3, "RVI-1", 1.5)
    old = tmp_path / "old.csv"
    old.write_text("frame,label,x,y,r,a,s,confidence\n4,MV-1,1,2,3,4,5,\n")
    with pytest.raises(InputError, match="old 'frame' column"):
        read_landmark_csv(old)
    [row] = read_landmark_csv(old, frame_is="time")
    assert (row["time"], row["slice"]) == (4, 0) and math.isnan(row["confidence"])
    assert (read_landmark_csv(old, frame_is="slice")[0]["slice"]) == 4


# --------------------------------------------------------------------------- many inputs (issue 16, item 1)
def test_batch_of_inputs_one_process_summary_and_bad_input_skipped(tmp_path, models, capsys):
    """Several inputs: each into its own subfolder, one summary.csv; a bad one is one line and skipped, exit 2."""
    frames, _ = lax_cine(2)
    paths = []
    for name in ("a", "b", "c"):
        paths.append(write_image(tmp_path / f"{name}.nii.gz", frames, OBLIQUE, kind="2d+t"))
    (tmp_path / "broken.nii.gz").write_bytes(b"not an image")
    listing = tmp_path / "more.txt"
    listing.write_text("# two more\nc.nii.gz\n\nbroken.nii.gz  # this one is bad\n")
    out = tmp_path / "out"
    code, stdout, stderr = run(["cardiac", paths[0], paths[1], f"@{listing}", "--view", "lax", "--out", out,
                                "--weights", models["lax"], "--quiet"], capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and "broken.nii.gz" in stderr and "Traceback" not in stderr
    assert "3 of 4 input(s) done, 1 failed" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["a", "b", "c", "summary.csv"]  # nothing for the bad one
    assert sorted(p.name for p in (out / "b").iterdir()) == sorted(output_names("b").values())
    header, rows = read_csv(out / "summary.csv")
    assert tuple(header) == ("input", "output", "status", "seconds", "message")
    assert [(Path(r["input"]).name, r["output"], r["status"]) for r in rows] == [
        ("a.nii.gz", "a", "ok"), ("b.nii.gz", "b", "ok"), ("c.nii.gz", "c", "ok"),
        ("broken.nii.gz", "broken", "error")]
    assert "view lax, 4 landmark(s)" in rows[0]["message"] and "broken.nii.gz" in rows[3]["message"]
    # The summary is an output like the others: not replaced without --overwrite, and refused before any work.
    code, _, stderr = run(["cardiac", paths[0], paths[1], "--view", "lax", "--out", out, "--weights", models["lax"],
                           "--quiet"], capsys)
    assert code == 2 and "summary.csv: already exists" in stderr


def test_shard_takes_every_nth_input_and_names_its_summary(tmp_path, models, capsys):
    frames, _ = lax_cine(2)
    paths = [write_image(tmp_path / f"p{i}.nii.gz", frames, OBLIQUE, kind="2d+t") for i in range(5)]
    out = tmp_path / "out"
    for i in (0, 1):
        code, _, err = run(["cardiac", *paths, "--shard", f"{i}/2", "--view", "lax", "--out", out,
                            "--weights", models["lax"], "--quiet"], capsys)
        assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["p0", "p1", "p2", "p3", "p4", "summary-shard-0-of-2.csv",
                                                     "summary-shard-1-of-2.csv"]
    _, rows = read_csv(out / "summary-shard-1-of-2.csv")
    assert [r["output"] for r in rows] == ["p1", "p3"]
    for bad in ("2/2", "x/3", "1"):
        with pytest.raises(SystemExit) as exited:  # argparse refuses it: one line, status 2
            cli.main(["cardiac", *map(str, paths), "--shard", bad, "--out", str(out)])
        err = capsys.readouterr().err
        assert exited.value.code == 2 and "--shard" in err and err.count("\n") == 1


def test_batch_same_stems_and_name_refused(tmp_path, models, capsys):
    frames, _ = lax_cine(2)
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    one = write_image(tmp_path / "x" / "cine.nii.gz", frames, OBLIQUE, kind="2d+t")
    two = write_image(tmp_path / "y" / "cine.nii.gz", frames, OBLIQUE, kind="2d+t")
    code, _, err = run(["cardiac", one, two, "--name", "n", "--out", tmp_path / "o", "--view", "lax",
                        "--weights", models["lax"], "--quiet"], capsys)
    assert code == 2 and "--name" in err
    code, _, err = run(["cardiac", one, two, "--out", tmp_path / "o", "--view", "lax", "--weights", models["lax"],
                        "--quiet"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["cine", "cine-2", "summary.csv"]
