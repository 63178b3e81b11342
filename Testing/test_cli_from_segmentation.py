"""``heatmap-landmarks from-segmentation`` on small label maps written with SimpleITK, and on one real ACDC mask.

The masks are drawn by hand (discs and ellipses), so every output can be checked
against :mod:`heatmap_landmarks.cardiac.segmentation` run on the same slices and against
the geometry of the file.
"""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk

from heatmap_landmarks import cli, mrml
from heatmap_landmarks.cli.cardiac import LANDMARK_COLUMNS, MEASUREMENT_COLUMNS
from heatmap_landmarks.geometry import LPS_TO_RAS, Geometry
from heatmap_landmarks.io import read_image, write_image
from heatmap_landmarks.cardiac.segmentation import (
    ACDC_LABELS,
    ANTERIOR_UP,
    MNMS2_LABELS,
    anterior_direction_xy,
    lax_landmarks_from_labels,
    sax_landmarks_from_labels,
)
from heatmap_landmarks.testing import realdata_root

ROOT = Path(__file__).resolve().parents[1]
NO_ORIENTATION = Geometry(spacing=(1.4, 1.4, 8.0), origin=(0.0, 0.0, 0.0), direction=np.diag([-1.0, -1.0, 1.0]))


def _rotation(ax: float, az: float) -> np.ndarray:
    a, z = np.radians(ax), np.radians(az)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    return rz @ rx


#: An oblique plane with no anatomical meaning (for tests where the naming does not matter).
OBLIQUE = Geometry(spacing=(1.25, 1.25, 8.0), origin=(-40.0, 25.0, 60.0), direction=_rotation(35.0, 50.0))


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _heart_geometry() -> Geometry:
    """An oblique header under which :func:`sax_stack` is a heart in normal position: slices run from the base to
    the apex (left, anterior, inferior), and the RV (on the image left) lies to the patient's right and anterior."""
    k = _unit([-0.55, 0.45, -0.70])
    x = _unit(np.array([-1.0, -1.0, 0.0]) - np.dot([-1.0, -1.0, 0.0], k) * k)  # image +x: patient left, posterior
    return Geometry(spacing=(1.25, 1.25, 8.0), origin=(20.0, -15.0, 40.0),
                    direction=np.column_stack([x, np.cross(k, x), k]))


HEART = _heart_geometry()
#: The same with R and A negated (a turn by 180 degrees about S), as M&Ms-2 patient 001's headers look.
TURNED = Geometry(spacing=HEART.spacing, origin=np.diag([-1.0, -1.0, 1.0]) @ HEART.origin,
                  direction=np.diag([-1.0, -1.0, 1.0]) @ HEART.direction)


def turn(table: dict, z: int) -> float:
    """``((RVI-1 - LV centre) x (RVI-2 - LV centre)) . base-to-apex`` of slice ``z`` of a HEART output, mm^2."""
    centre = next(table[(z, n)] for n in ("BCA", "LVC", "ACA") if (z, n) in table)
    p1, p2, c = (np.array([float(r[k]) for k in "ras"]) for r in (table[(z, "RVI-1")], table[(z, "RVI-2")], centre))
    return float(np.dot(np.cross(p1 - c, p2 - c), HEART.direction[:, 2]))


def sax_slice(rv: bool = True, r_lv: float = 6.0, labels=ACDC_LABELS, shape=(48, 48)) -> np.ndarray:
    """``(H, W)`` uint8: LV cavity and myocardium discs round (22, 24), an RV crescent on the left."""
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    r = np.hypot(xx - 24.0, yy - 22.0)
    out = np.zeros(shape, np.uint8)
    if rv:
        out[(np.hypot(xx - 13.0, yy - 19.0) <= 10.0) & (r > r_lv + 3.0)] = labels.rv
    out[r <= r_lv + 3.0] = labels.myo
    out[r <= r_lv] = labels.lv
    return out


def sax_stack() -> np.ndarray:
    """``(4, 48, 48)``: three slices with an RV (basal) and a smaller apical one without."""
    return np.stack([sax_slice(), sax_slice(r_lv=5.5), sax_slice(r_lv=5.0), sax_slice(rv=False, r_lv=3.0)])


def lax_frame(t: int, labels=MNMS2_LABELS, shape=(56, 56)) -> np.ndarray:
    """``(H, W)`` uint8 4-chamber-like mask: LV cavity open at the base (top), myocardium round it, RV on the left;
    the base moves down by ``t`` px/frame (the valve plane descending in systole)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(float)
    u, v = xx - 30.0, yy - 30.0
    base = -10.0 + t
    out = np.zeros(shape, np.uint8)
    out[((u / 11.0) ** 2 + (v / 18.0) ** 2 <= 1.0) & (v >= base)] = labels.myo
    out[((u / 7.0) ** 2 + (v / 14.0) ** 2 <= 1.0) & (v >= base)] = labels.lv
    out[((u + 18.0) / 4.0) ** 2 + ((v - 2.0) / 12.0) ** 2 <= 1.0] = labels.rv
    return out


def write_sitk(path: Path, array: np.ndarray, geometry: Geometry) -> Path:
    """A 3D label file through SimpleITK (LPS header) with the RAS ``geometry``."""
    img = sitk.GetImageFromArray(array)
    img.SetSpacing([float(s) for s in geometry.spacing])
    img.SetOrigin((LPS_TO_RAS @ geometry.origin).tolist())
    img.SetDirection((LPS_TO_RAS @ geometry.direction).ravel().tolist())
    sitk.WriteImage(img, str(path))
    return path


def read_csv(path) -> tuple[list, list]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [dict(zip(header, row)) for row in reader]


def run(argv, capsys) -> tuple[int, str, str]:
    code = cli.main(["from-segmentation", *(str(a) for a in argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def frame_index(r) -> int:
    """The image frame a CSV row belongs to: its time point in a cine (slice 0), else its slice (time 0)."""
    return int(r["time"]) if r["slice"] == "0" and r["time"] != "0" else int(r["slice"])


def by_frame(rows) -> dict:
    return {(frame_index(r), r["label"]): r for r in rows}


# ---------------------------------------------------------------------------
# short axis
# ---------------------------------------------------------------------------
def test_sax_stack_outputs_match_the_core(tmp_path, capsys):
    stack = sax_stack()
    path = write_sitk(tmp_path / "seg.nii.gz", stack, HEART)
    out = tmp_path / "out"
    code, stdout, err = run([path, "--out", out], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["seg.mrk.json", "seg_landmarks.csv", "seg_measurements.csv",
                                                     "seg_notes.txt"]  # no heatmap, no overlay, no staging left
    header, rows = read_csv(out / "seg_landmarks.csv")
    assert tuple(header) == LANDMARK_COLUMNS
    assert {r["time"] for r in rows} == {"0"}
    assert [(int(r["slice"]), r["label"]) for r in rows] == [
        (0, "RVI-1"), (0, "RVI-2"), (0, "BCA"), (1, "RVI-1"), (1, "RVI-2"), (1, "LVC"),
        (2, "RVI-1"), (2, "RVI-2"), (2, "LVC"), (3, "ACA")]
    assert all(r["confidence"] == "" for r in rows)

    image = read_image(path)
    ant = anterior_direction_xy(image.geometry.direction, image.geometry.spacing[:2])
    assert abs(ant[0]) > 0.3 and abs(ant[1]) > 0.3  # a diagonal: neither image axis is anterior
    table = by_frame(rows)
    for z in range(4):
        found = sax_landmarks_from_labels(stack[z], anterior_xy=ant)
        for name, xy in found.points.items():
            shown = {"LVC": {0: "BCA", 3: "ACA"}.get(z, "LVC")}.get(name, name)
            r = table[(z, shown)]
            np.testing.assert_allclose([float(r["x"]), float(r["y"])], xy, atol=1e-4)
            np.testing.assert_allclose([float(r[k]) for k in "ras"], image.points_to_ras([xy], z)[0], atol=1e-3)
        if "RVI-1" in found.points:
            assert float(table[(z, "RVI-1")]["a"]) > float(table[(z, "RVI-2")]["a"]) + 2.0  # RVI-1 is anterior
            assert turn(table, z) > 0  # and turns the right way round the LV seen from base to apex

    _, measurements = read_csv(out / "seg_measurements.csv")
    assert {m["measurement"] for m in measurements} == {"RV insertion angle", "LV long-axis length"}
    length = float(next(m["value"] for m in measurements if m["measurement"] == "LV long-axis length"))
    bca, aca = (np.array([float(table[key][k]) for k in "ras"]) for key in ((0, "BCA"), (3, "ACA")))
    assert length == pytest.approx(np.linalg.norm(bca - aca), abs=1e-3)

    scene = mrml.new_headless_scene(slice_views=False)
    points, labels, descriptions = mrml.fiducials_to_arrays(mrml.load_markups_json(out / "seg.mrk.json", scene=scene))
    assert labels == [r["label"] for r in rows]
    np.testing.assert_allclose(points, [[float(r[k]) for k in "ras"] for r in rows], atol=1e-3)
    assert descriptions[3].startswith("slice 1")

    assert "turn around the LV centre" in stdout and "were swapped on 0 of them" in stdout
    assert "assumed" not in stdout and "check the header" not in stdout
    notes = (out / "seg_notes.txt").read_text()
    assert "turn around the LV centre" in notes and "RVI-1/RVI-2 absent on slice(s) 3: no RV cavity" in notes


def test_a_turned_header_keeps_the_names_and_is_flagged(tmp_path, capsys):
    """R and A negated (as M&Ms-2 patient 001's headers look): the more-anterior-by-header insertion is now the
    inferior one, but the turn rule is rotation-invariant, so the names stay; the output flags the header."""
    stack = sax_stack()
    assert run([write_sitk(tmp_path / "heart.nii.gz", stack, HEART), "--out", tmp_path / "o"], capsys)[0] == 0
    code, stdout, _ = run([write_sitk(tmp_path / "turned.nii.gz", stack, TURNED), "--out", tmp_path / "o"], capsys)
    assert code == 0
    heart = by_frame(read_csv(tmp_path / "o" / "heart_landmarks.csv")[1])
    turned = by_frame(read_csv(tmp_path / "o" / "turned_landmarks.csv")[1])
    assert heart.keys() == turned.keys()
    for key in heart:
        assert (heart[key]["x"], heart[key]["y"]) == (turned[key]["x"], turned[key]["y"]), key
    assert float(turned[(0, "RVI-1")]["a"]) < float(turned[(0, "RVI-2")]["a"])  # by the header, RVI-1 is posterior
    assert "were swapped on 3 of them" in stdout  # the header's anterior named all three the other way
    assert "RV lies posterior to the LV on 3 of 3 slices" in stdout and "the names above do not depend on it" in stdout


def test_rows_stored_upside_down_with_a_header_that_says_so_give_the_same_anatomical_points(tmp_path, capsys):
    """The same voxels in RAS, stored bottom-up: RVI-1 must be the same physical point although it is now the other
    end of the arc in the array."""
    stack = sax_stack()
    h = stack.shape[1]
    flipped = Geometry(spacing=HEART.spacing, origin=HEART.pixel_to_ras([[0.0, h - 1.0, 0.0]])[0],
                       direction=HEART.direction @ np.diag([1.0, -1.0, 1.0]))
    write_sitk(tmp_path / "up.nii.gz", stack, HEART)
    write_sitk(tmp_path / "down.nii.gz", stack[:, ::-1].copy(), flipped)
    np.testing.assert_allclose(read_image(tmp_path / "down.nii.gz").points_to_ras([[3.0, 5.0]], 1),
                               read_image(tmp_path / "up.nii.gz").points_to_ras([[3.0, h - 1 - 5.0]], 1), atol=1e-4)
    for name in ("up", "down"):
        assert run([tmp_path / f"{name}.nii.gz", "--out", tmp_path / "o"], capsys)[0] == 0
    up = by_frame(read_csv(tmp_path / "o" / "up_landmarks.csv")[1])
    down = by_frame(read_csv(tmp_path / "o" / "down_landmarks.csv")[1])
    assert up.keys() == down.keys()
    for key in up:
        ras_up, ras_down = (np.array([float(t[key][k]) for k in "ras"]) for t in (up, down))
        assert np.linalg.norm(ras_up - ras_down) <= 1.5 * 1.25, key  # ties on the border: at most a pixel apart
    for z in range(3):  # in the array, RVI-1 is where the mirrored RVI-1 of the upright stack is
        assert abs(float(down[(z, "RVI-1")]["y"]) - (h - 1 - float(up[(z, "RVI-1")]["y"]))) <= 1.0


def test_sax_without_orientation_assumes_anterior_up_and_says_so(tmp_path, capsys):
    path = write_sitk(tmp_path / "acdc_like.nii.gz", sax_stack(), NO_ORIENTATION)
    code, stdout, _ = run([path, "--out", tmp_path / "o"], capsys)
    assert code == 0
    _, rows = read_csv(tmp_path / "o" / "acdc_like_landmarks.csv")
    table = by_frame(rows)
    for z in range(3):
        assert float(table[(z, "RVI-1")]["y"]) < float(table[(z, "RVI-2")]["y"])  # the upper one
    assert "anterior up assumed" in stdout
    assert "anterior up assumed" in (tmp_path / "o" / "acdc_like_notes.txt").read_text()


def test_single_oriented_slice_names_by_the_turn_rule(tmp_path, capsys):
    """One slice whose axis runs down to the apex: named by the turn round the LV, as the detection names it, so
    the turned header (R and A negated) gives the same pixels as the upright one."""
    tables = {}
    for name in ("HEART", "TURNED"):
        path = write_sitk(tmp_path / f"{name}.nii.gz", sax_slice()[None], globals()[name])
        code, stdout, _ = run([path, "--out", tmp_path / "o"], capsys)
        assert code == 0
        rows = read_csv(tmp_path / "o" / f"{name}_landmarks.csv")[1]
        assert [r["label"] for r in rows] == ["RVI-1", "RVI-2", "LVC"]
        tables[name] = by_frame(rows)
        assert "turn around the LV centre" in stdout and "named LVC" in stdout
        assert "so it is then the inferior insertion" not in stdout
    assert turn(tables["HEART"], 0) > 0 and float(tables["HEART"][(0, "RVI-1")]["a"]) > float(
        tables["HEART"][(0, "RVI-2")]["a"])
    for key in tables["HEART"]:
        assert (tables["HEART"][key]["x"], tables["HEART"][key]["y"]) == (tables["TURNED"][key]["x"],
                                                                          tables["TURNED"][key]["y"])


def test_single_slice_lying_flat_names_by_the_headers_anterior(tmp_path, capsys):
    """A slice whose axis is horizontal gives no base-to-apex direction: RVI-1 is the insertion with the larger A."""
    flat = Geometry(spacing=(1.25, 1.25, 8.0), direction=np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0],
                                                                    [-1.0, 0.0, 0.0]]).T)
    path = write_sitk(tmp_path / "one.nii.gz", sax_slice()[None], flat)
    code, stdout, _ = run([path, "--out", tmp_path / "o"], capsys)
    assert code == 0
    table = by_frame(read_csv(tmp_path / "o" / "one_landmarks.csv")[1])
    assert float(table[(0, "RVI-1")]["a"]) > float(table[(0, "RVI-2")]["a"])
    assert "RVI-1 is the more anterior one" in stdout


def test_image_on_the_same_grid_gives_an_overlay(tmp_path, capsys):
    stack = sax_stack()
    write_sitk(tmp_path / "seg.nii.gz", stack, OBLIQUE)
    picture = (stack.astype(np.float32) * 40.0 + 10.0).astype(np.int16)
    write_sitk(tmp_path / "img.nii.gz", picture, OBLIQUE)
    code, stdout, err = run([tmp_path / "seg.nii.gz", "--image", tmp_path / "img.nii.gz", "--out", tmp_path / "o",
                             "--name", "case"], capsys)
    assert code == 0, err
    sheet = cv2.imread(str(tmp_path / "o" / "case_overlay.png"))
    assert sheet is not None and sheet.shape[0] >= 256 and sheet.shape[1] >= 512  # 2x2 tiles of 256 px
    assert sheet[:256, :256].std() > 5.0  # a picture, not an empty tile
    assert "case_overlay.png" in stdout


# ---------------------------------------------------------------------------
# long axis
# ---------------------------------------------------------------------------
def test_lax_cine_mnms2_labels(tmp_path, capsys):
    frames = np.stack([lax_frame(t) for t in range(5)])
    path = write_image(tmp_path / "lax.nii.gz", frames, OBLIQUE, kind="2d+t")
    code, stdout, err = run([path, "--view", "lax", "--labels", "3,2,1", "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    _, rows = read_csv(tmp_path / "o" / "lax_landmarks.csv")
    assert [(int(r["time"]), r["label"]) for r in rows] == [(t, k) for t in range(5) for k in ("MV-1", "MV-2")]
    image = read_image(path)
    assert image.kind == "2d+t"
    table = by_frame(rows)
    for t in range(5):
        found = lax_landmarks_from_labels(frames[t], MNMS2_LABELS)
        for name in ("MV-1", "MV-2"):
            r = table[(t, name)]
            np.testing.assert_allclose([float(r["x"]), float(r["y"])], found.points[name], atol=1e-4)
            np.testing.assert_allclose([float(r[k]) for k in "ras"], image.points_to_ras([found.points[name]], t)[0],
                                       atol=1e-3)
        assert float(table[(t, "MV-1")]["x"]) < 30.0 < float(table[(t, "MV-2")]["x"])  # septal = the RV side
    _, measurements = read_csv(tmp_path / "o" / "lax_measurements.csv")
    diameters = [float(m["value"]) for m in measurements if m["measurement"] == "mitral annulus diameter"]
    expected = [np.linalg.norm(np.array([float(table[(t, "MV-1")][k]) for k in "ras"])
                               - np.array([float(table[(t, "MV-2")][k]) for k in "ras"])) for t in range(5)]
    np.testing.assert_allclose(diameters, expected, atol=1e-3)
    excursion = {m["measurement"]: float(m["value"]) for m in measurements if m["time"] == "-1"}
    assert excursion["annulus midpoint excursion"] == pytest.approx(4 * 1.25, abs=1.0)  # the base moved 4 px
    assert "assumed" not in stdout  # anterior plays no part on the long axis


# ---------------------------------------------------------------------------
# outputs (bad inputs: test_bad_input_cli_from_segmentation.py)
# ---------------------------------------------------------------------------
def test_refuses_to_overwrite_then_overwrites(tmp_path, capsys):
    path = write_sitk(tmp_path / "seg.nii.gz", sax_stack(), OBLIQUE)
    argv = [path, "--out", tmp_path / "o"]
    assert run(argv, capsys)[0] == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "o").iterdir()}
    code, _, err = run(argv, capsys)
    assert code == 2 and "already exists" in err and err.count("\n") == 1
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "o").iterdir()} == before
    assert run([*argv, "--overwrite"], capsys)[0] == 0


NO_TORCH = r"""
import importlib.abc, sys
tried = []
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'safetensors'}:
            tried.append(name)
            raise ImportError('blocked for this test: ' + name)
sys.meta_path.insert(0, Block())
from heatmap_landmarks import cli
code = cli.main(sys.argv[1:])
print('exit', code, 'tried', sorted(set(tried)), 'loaded', 'torch' in sys.modules)
"""


def test_runs_without_torch(tmp_path):
    path = write_sitk(tmp_path / "seg.nii.gz", sax_stack(), OBLIQUE)
    result = subprocess.run([sys.executable, "-c", NO_TORCH, "from-segmentation", str(path), "--out",
                             str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "exit 0 tried [] loaded False" in result.stdout, result.stdout + result.stderr
    assert (tmp_path / "o" / "seg_landmarks.csv").is_file()


# ---------------------------------------------------------------------------
# a real ACDC mask
# ---------------------------------------------------------------------------
ACDC_PATIENT = realdata_root() / "acdc" / "training" / "patient001"


@pytest.mark.skipif(not (ACDC_PATIENT / "patient001_frame01_gt.nii.gz").is_file(),
                    reason=f"real ACDC data absent ({ACDC_PATIENT}); it lives only in the development checkout's "
                           f"shared/realdata, never in the repository")
def test_real_acdc_mask(tmp_path, capsys):
    labelmap = ACDC_PATIENT / "patient001_frame01_gt.nii.gz"
    code, stdout, err = run([labelmap, "--image", ACDC_PATIENT / "patient001_frame01.nii.gz",
                             "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    assert "anterior up assumed" in stdout  # ACDC headers carry no orientation
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == sorted(f"patient001_frame01_gt{s}" for s in (".mrk.json", "_landmarks.csv",
                                                                   "_measurements.csv", "_notes.txt", "_overlay.png"))
    _, rows = read_csv(tmp_path / "o" / "patient001_frame01_gt_landmarks.csv")
    table = by_frame(rows)
    labels = np.rint(read_image(labelmap).array).astype(np.int64)
    n_rvi = 0
    for z in range(labels.shape[0]):
        found = sax_landmarks_from_labels(labels[z], ACDC_LABELS, anterior_xy=ANTERIOR_UP)
        if "RVI-1" in found.points:
            n_rvi += 1
            for name in ("RVI-1", "RVI-2"):
                np.testing.assert_allclose([float(table[(z, name)]["x"]), float(table[(z, name)]["y"])],
                                           found.points[name], atol=1e-4)
            assert float(table[(z, "RVI-1")]["y"]) < float(table[(z, "RVI-2")]["y"])
    assert n_rvi >= 7
    # ACDC stacks run from base to apex, and the RV is largest basally.
    assert {(k[0], k[1]) for k in table if k[1] in ("BCA", "ACA")} == {(1, "BCA"), (9, "ACA")}
    _, measurements = read_csv(tmp_path / "o" / "patient001_frame01_gt_measurements.csv")
    length = [float(m["value"]) for m in measurements if m["measurement"] == "LV long-axis length"]
    assert len(length) == 1 and 60.0 < length[0] < 110.0
    assert tuple(read_csv(tmp_path / "o" / "patient001_frame01_gt_measurements.csv")[0]) == MEASUREMENT_COLUMNS
