"""Bad model cards, AdaptOR/labelme JSON and STACOM annotations: one table row per broken file (issue 15).

Each row used to pass the reader and fail later with a traceback (or come
back silently wrong: ``1e300`` as float32 ``inf``, ``1_0`` as 10, a DICOM
outside the study). Now the reader refuses it with one
:class:`~heatmap_landmarks.errors.InputError` line that names the file and
the field. The property-based versions are in ``test_fuzz_parsers.py``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from heatmap_landmarks.adaptor_json import read_point_labels, read_reference_points, read_submission_json
from heatmap_landmarks.catalog import WEIGHTS_DIR
from heatmap_landmarks.checkpoint import load_card
from heatmap_landmarks.errors import CheckpointError, InputError
from training.datasets import load_stacom_study, parse_annotations, read_labelme_stereo

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEEP = 100_000


def _deep(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def _one_line(err: InputError, name: str, *words: str) -> str:
    text = str(err)
    assert len(text.splitlines()) == 1 and text.isprintable(), repr(text)
    assert name in text, text
    for w in words:
        assert w in text, text
    return text


# --------------------------------------------------------------------------- model cards
def _card(name: str) -> dict:
    return json.loads((WEIGHTS_DIR / f"{name}.json").read_text())


def _edit(name: str, edit):
    def make() -> str:
        card = _card(name)
        edit(card)
        return json.dumps(card)
    return make


def _set(section: str, key: str, value):
    return lambda card: card[section].__setitem__(key, value)


CARDS = [
    # (id, card text maker, the field named in the message, other words)
    ("rotations-text", _edit("cardiac_sax", _set("decoder", "rotations", "four")), "decoder.rotations", "1, 2, 4"),
    ("rotations-3", _edit("cardiac_lax", _set("decoder", "rotations", 3)), "decoder.rotations", "1, 2, 4"),
    ("min-confidence-null", _edit("cardiac_sax", _set("decoder", "min_confidence", None)),
     "decoder.min_confidence", "must be a number"),
    ("min-confidence-text", _edit("cardiac_sax", _set("decoder", "min_confidence", "high")),
     "decoder.min_confidence", "must be a number"),
    ("level-zero", _edit("cardiac_lax", _set("decoder", "level", 0)), "decoder.level", "(0, 1]"),
    ("pair-confidence-2", _edit("cardiac_sax", _set("decoder", "rvi_pair_confidence", 2.0)),
     "decoder.rvi_pair_confidence", "[0, 1]"),
    ("sutures-level", _edit("sutures", _set("decoder", "level", 0.5)), "'level'", "unknown setting"),
    ("sutures-threshold-text", _edit("sutures", _set("decoder", "threshold", "otsu")),
     "decoder.threshold", "number or null"),
    ("sutures-cut-1", _edit("sutures", _set("decoder", "cut", 1)), "decoder.cut", "true or false"),
    ("sutures-opening-float", _edit("sutures", _set("decoder", "opening_kernel", 2.5)),
     "decoder.opening_kernel", "whole number"),
    ("normalisation-low-text", _edit("cardiac_sax", _set("normalisation", "low", "x")),
     "normalisation.low", "must be a number"),
    ("normalisation-percentiles-reversed", _edit("cardiac_lax", _set("normalisation", "low", 99.5)),
     "normalisation", "low < high"),
    ("normalisation-mean-two", _edit("sutures", _set("normalisation", "mean", [0.5, 0.5])),
     "normalisation.mean", "three numbers"),
    ("normalisation-std-zero", _edit("sutures", _set("normalisation", "std", [0.2, 0.0, 0.2])),
     "normalisation.std", "positive"),
    ("normalisation-method-task", _edit("cardiac_sax", lambda c: c.__setitem__(
        "normalisation", {"method": "mean_std", "mean": [0.5] * 3, "std": [0.2] * 3})), "'mean_std'", "'cardiac'"),
    ("base-width-million", _edit("cardiac_sax", _set("config", "base_width", 10**6)), "config.base_width", "4096"),
    ("base-width-huge-int", _edit("cardiac_sax", _set("config", "base_width", 10**400)), "config.base_width", "4096"),
    ("widths-at-the-cap", _edit("cardiac_sax", lambda c: c["config"].update(base_width=4096, max_width=4096)),
     "parameters", "100,000,000"),
    ("config-width-text", _edit("sutures", _set("config", "bottleneck_width", "wide")),
     "bottleneck_width", "integer"),
    ("input-size-huge", _edit("cardiac_sax", lambda c: c.__setitem__("input_size", [100000, 100000])),
     "input_size", "4096"),
    ("sigma2-huge-int", _edit("sutures", lambda c: c.__setitem__("sigma2", 10**400)), "sigma2", "positive number"),
    ("spacing-1e300", _edit("cardiac_sax", lambda c: c.__setitem__("input_spacing_mm", 1e300)),
     "input_spacing_mm", "at most 100"),
    ("tether-without-spacing", _edit("cardiac_sax", lambda c: (c["decoder"].__setitem__("rvi_max_distance_mm", 60.0),
                                                                c.__setitem__("input_spacing_mm", None))),
     "decoder.rvi_max_distance_mm", "input_spacing_mm"),
    ("metrics-nested-100000", lambda: json.dumps(_card("sutures"))[:-1] + ', "notes2": ' + _deep() + "}",
     "nested 100001 levels", "at most 32"),
    ("integer-of-5000-digits", lambda: json.dumps(_card("sutures")).replace('"sigma2": 5.0', '"sigma2": ' + "9" * 5000),
     "model card", "digits"),
]


@pytest.mark.parametrize("make, field, words", [row[1:] for row in CARDS], ids=[row[0] for row in CARDS])
def test_bad_card_is_refused_on_load_naming_file_and_field(tmp_path, make, field, words):
    path = tmp_path / "my_card.json"
    path.write_text(make())
    with pytest.raises(CheckpointError) as err:
        load_card(path)
    _one_line(err.value, "my_card.json", field, words)


@pytest.mark.parametrize("name", ["cardiac_sax", "cardiac_lax", "sutures"])
def test_shipped_cards_still_load(tmp_path, name):
    card = load_card(WEIGHTS_DIR / f"{name}.json")
    raw = _card(name)
    stored = raw["decoder"]  # format 1: the test-time rotations sit in the decoder; format 2: beside it
    assert card.decoder == {k: v for k, v in stored.items() if k != "rotations"}
    assert card.rotations == (stored.get("rotations", 1) if raw["format_version"] == 1 else raw.get("rotations", 1))


# --------------------------------------------------------------------------- AdaptOR / labelme JSON
def _labels(**fields) -> str:
    record = {"points": [{"x": 10.5, "y": 4.0}], "imageHeight": 288, "imageWidth": 512}
    record.update(fields)
    return json.dumps(record)


POINT_LABELS = [
    ("height-infinity", _labels(imageHeight=float("inf")), "imageHeight", "inf"),
    ("height-nan", _labels(imageHeight=float("nan")), "imageHeight", "nan"),
    ("height-huge", _labels(imageHeight=10**400), "imageHeight", "at most 2147483647"),
    ("width-1e300", _labels(imageWidth=1e300), "imageWidth", "at most 2147483647"),
    ("x-1e300", _labels(points=[{"x": 1e300, "y": 1}]), "point 0 x", "float32"),
    ("y-huge-int", _labels(points=[{"x": 1, "y": 10**400}]), "point 0 y", "float32"),
    ("x-infinity", _labels(points=[{"x": float("-inf"), "y": 1}]), "point 0 x", "-inf"),
    ("nested-100000", '{"points": [], "extra": ' + _deep() + "}", "nested 100001 levels", "at most 64"),
    ("integer-of-5000-digits", '{"points": [{"x": ' + "1" * 5000 + ', "y": 1}]}', "cannot be parsed", "digits"),
]


@pytest.mark.parametrize("text, field, words", [row[1:] for row in POINT_LABELS], ids=[row[0] for row in POINT_LABELS])
def test_bad_point_labels_name_file_and_field(tmp_path, text, field, words):
    path = tmp_path / "000007.json"
    path.write_text(text)
    for read in (read_point_labels, read_reference_points):
        with pytest.raises(InputError) as err:
            read(path)
        _one_line(err.value, "000007.json", field, words)


def test_submission_with_bad_numbers_names_entry_and_point(tmp_path):
    path = tmp_path / "submission.json"
    entry = {"folderName": "op01", "subfolderName": "video01", "imageFileName": "000000.png"}
    for points, field in (([{"x": 1e300, "y": 2}], "entry 0 point 0 x"),
                          ([{"x": 1, "y": float("nan")}], "entry 0 point 0 y"),
                          ([{"x": 10**400, "y": 2}], "entry 0 point 0 x")):
        path.write_text(json.dumps([{**entry, "points": points}]))
        with pytest.raises(InputError) as err:
            read_submission_json(path)
        _one_line(err.value, "submission.json", field)
    path.write_text("[" + json.dumps({**entry, "points": []}) + ", " + _deep() + "]")
    with pytest.raises(InputError) as err:
        read_submission_json(path)
    _one_line(err.value, "submission.json", "nested")


@pytest.fixture
def labelme(tmp_path):
    for name in ("stereo_000000.json", "stereo_000000.png"):
        shutil.copy(FIXTURES / "adaptor_labelme" / name, tmp_path / name)
    return tmp_path / "stereo_000000.json"


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(imageHeight=float("inf")), "imageHeight"),
    (lambda d: d.update(imageWidth=float("nan")), "imageWidth"),
    (lambda d: d.update(imageHeight=10**400), "imageHeight must be at most"),
    (lambda d: d["shapes"][0].update(points=[[1e300, 2]]), "shape 0 x"),
    (lambda d: d["shapes"][0].update(points=[[1, 10**400]]), "shape 0 y"),
    (lambda d: d.update(imagePath="stereo\u0000.png"), "NUL"),
    (lambda d: d.update(imagePath="stereo\udcff.png"), "not valid UTF-8"),
], ids=["height-inf", "width-nan", "height-huge", "x-1e300", "y-huge-int", "image-path-nul", "image-path-not-utf8"])
def test_bad_labelme_file_names_field(labelme, edit, field):
    data = json.loads(labelme.read_text())
    edit(data)
    labelme.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        read_labelme_stereo(labelme)
    text = str(err.value)
    assert len(text.splitlines()) == 1 and text.isprintable() and field in text, text


def test_deeply_nested_labelme_file(labelme):
    labelme.write_text('{"shapes": [], "flags": ' + _deep() + "}")
    with pytest.raises(InputError) as err:
        read_labelme_stereo(labelme)
    _one_line(err.value, "stereo_000000.json", "nested")


# --------------------------------------------------------------------------- STACOM Annotations.txt
HEAD = "PatientID: P1\n[RV_INSERTS]\n"


@pytest.mark.parametrize("entry, words", [
    ("1_0 4 IM-0001-0001.dcm", "plain decimal"),                       # float() reads 10
    ("7 1_5 IM-0001-0001.dcm", "plain decimal"),
    ("\u0661\u0662 4 IM-0001-0001.dcm", "plain decimal"),              # Arabic-Indic 12
    ("\uff17 4 IM-0001-0001.dcm", "plain decimal"),                    # full-width 7
    ("1e999 4 IM-0001-0001.dcm", "finite"),
    ("7 4 ../DET0000202/IM-0002-0001.dcm", "leaves the study folder"),
    ("7 4 sub/../../IM-0001-0001.dcm", "leaves the study folder"),
    ("7 4 /etc/IM-0001-0001.dcm", "absolute path"),
    ("7 4 C:\\data\\IM-0001-0001.dcm", "absolute path"),
    ("7 4 IM-0001\x1b[2J.dcm", "control characters"),
    ("7 4 .", "names no file"),
], ids=["underscore-x", "underscore-y", "arabic-indic", "full-width", "1e999", "dotdot", "dotdot-deep",
        "absolute", "drive-letter", "escape", "dot"])
def test_bad_stacom_entry_names_file_and_line(tmp_path, entry, words):
    path = tmp_path / "Annotations.txt"
    path.write_text(HEAD + entry + "\n7 5 IM-0001-0001.dcm\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        parse_annotations(path)
    _one_line(err.value, f"{path}:3:", words)


def test_stacom_plain_decimals_and_sub_folders_still_parse(tmp_path):
    path = tmp_path / "Annotations.txt"
    path.write_text(HEAD + "+7.5 .25 sub/IM-1.dcm\n-0 1e1 ./sub/IM-1.dcm\n", encoding="utf-8")
    ann = parse_annotations(path)
    assert [(e.x, e.y, e.dicom) for e in ann.entries] == [(7.5, 0.25, "sub/IM-1.dcm"), (-0.0, 10.0, "sub/IM-1.dcm")]
    assert list(ann.images) == ["sub/IM-1.dcm"]


def test_stacom_dicom_outside_the_study_is_not_read(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "stacom", root)
    study = root / "DET0000101"
    other = sorted((root / "DET0000202").glob("*.dcm"))[0]
    (study / "Annotations.txt").write_text(f"PatientID: P1\n[RV_INSERTS]\n7 4 ../DET0000202/{other.name}\n"
                                           f"7 5 ../DET0000202/{other.name}\n")
    with pytest.raises(InputError) as err:
        load_stacom_study(study)
    _one_line(err.value, "Annotations.txt:3:", "leaves the study folder")
