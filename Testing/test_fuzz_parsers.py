"""Property-based fuzzing of the text parsers (issue 15): whatever the file holds, only InputError comes out.

Parsers under test: AdaptOR per-frame labels and submissions
(:mod:`heatmap_landmarks.adaptor_json`), labelme stereo files
(:func:`training.datasets.read_labelme_stereo`), STACOM ``Annotations.txt``
(:func:`training.datasets.parse_annotations`) and model cards
(:func:`heatmap_landmarks.checkpoint.load_card`). Inputs are built from each
format's structure (so most examples get deep into the parser) with hostile
values mixed in: NaN, infinities, integers of hundreds of digits, ``1e300``,
non-ASCII digits, ``..`` paths, control characters, lone surrogates, deep
nesting, cut and mangled text. Any exception other than the project's own
:class:`~heatmap_landmarks.errors.InputError` (or a subclass) fails the test,
and so does a parse that succeeds but returns what its callers cannot use.

Profiles (registered here, chosen with ``HYPOTHESIS_PROFILE``):

* ``ci`` (default): derandomized, a fixed number of examples, every fuzz test
  of this file together in well under 30 s on two CPU cores.
* ``long``: random seeds, 20x the examples, for a deliberate hunt::

      HYPOTHESIS_PROFILE=long python -m pytest -q Testing/test_fuzz_parsers.py
"""
from __future__ import annotations

import copy
import json
import math
import os
import posixpath
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatmap_landmarks.adaptor_json import read_point_labels, read_reference_points, read_submission_json
from heatmap_landmarks.catalog import WEIGHTS_DIR
from heatmap_landmarks.checkpoint import ModelCard, load_card
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.cardiac.decode import CardiacDecoder
from heatmap_landmarks.sutures.decode import SutureDecoder
from heatmap_landmarks.preprocess import normalise_intensity, prepare_suture_frame
from training.datasets import parse_annotations, read_labelme_stereo

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=200, **_COMMON)
settings.register_profile("long", derandomize=False, max_examples=4000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIXTURES = Path(__file__).resolve().parent / "fixtures"
F32_MAX = float(np.finfo(np.float32).max)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    shutil.copy(FIXTURES / "adaptor_labelme" / "stereo_000000.png", d / "stereo_000000.png")  # 32 x 48, 2 views
    return d


# --------------------------------------------------------------------------- values
HOSTILE_NUMBERS = [0, -0.0, 1, -1, 0.5, 1e300, -1e300, 3.4e38, 3.5e38, 2**31 - 1, 2**31, 2**63, 10**400, -(10**400),
                   float("nan"), float("inf"), float("-inf"), 5e-324]
numbers = st.one_of(st.integers(-5, 600), st.floats(), st.sampled_from(HOSTILE_NUMBERS),
                    st.integers(-(10**400), 10**400))
texts = st.one_of(st.text(max_size=8), st.sampled_from(["", "x", "\x00", "\udcff", "\u0661\u0662", "1_0", "NaN"]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


def _dumps(value) -> str:
    return json.dumps(value, allow_nan=True)  # NaN/Infinity tokens, as hand-made files have them


@st.composite
def mangled(draw, text: str) -> str:
    """``text`` cut, spliced, nested deeper, or with characters inserted, deleted and replaced."""
    kind = draw(st.sampled_from(["cut", "edit", "nest", "as-is"]))
    if kind == "cut":
        return text[:draw(st.integers(0, max(len(text) - 1, 0)))]
    if kind == "nest":
        n = draw(st.integers(1, 3000))
        return "[" * n + text + "]" * n if draw(st.booleans()) else '{"a": ' * n + text + "}" * n
    if kind == "edit":
        chars = list(text)
        for _ in range(draw(st.integers(1, 6))):
            pos = draw(st.integers(0, len(chars)))
            c = draw(st.sampled_from(list('{}[]",:.0123456789eE-+ \\\x00\n') + ["NaN", "Infinity", "1" * 5000]))
            op = draw(st.sampled_from(["insert", "delete", "replace"]))
            if op == "insert" or not chars:
                chars.insert(pos, c)
            elif op == "delete":
                del chars[min(pos, len(chars) - 1)]
            else:
                chars[min(pos, len(chars) - 1)] = c
        return "".join(chars)
    return text


def _write(path: Path, text: str, raw_prefix: bytes = b"") -> Path:
    path.write_bytes(raw_prefix + text.encode("utf-8", "surrogatepass"))
    return path


encodings = st.sampled_from([b"", b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\x80"])  # none, BOM, not UTF-8


def _refused_or(check, func, *args):
    """Call ``func``; an InputError is a fine answer, a result must pass ``check``, anything else fails."""
    try:
        result = func(*args)
    except InputError as err:
        text = str(err)
        assert len(text.splitlines()) == 1, repr(text)
        return None
    check(result)
    return result


# --------------------------------------------------------------------------- AdaptOR per-frame labels
points = st.one_of(st.fixed_dictionaries({"x": numbers, "y": numbers}), json_values)
label_docs = st.one_of(
    st.fixed_dictionaries({"points": st.one_of(st.lists(points, max_size=4), json_values)},
                          optional={"imageHeight": st.one_of(numbers, json_values),
                                    "imageWidth": st.one_of(numbers, json_values)}),
    json_values)


def _usable_points(result):
    pts = result[0] if isinstance(result, tuple) else result
    assert pts.dtype == np.float32 and pts.ndim == 2 and pts.shape[1] == 2
    assert np.isfinite(pts).all()


def _usable_labels(result):
    pts, size = result
    _usable_points(pts)
    assert size is None or all(isinstance(v, int) and 0 < v < 2**31 for v in size)


@given(doc=label_docs, prefix=encodings)
def test_fuzz_point_labels(folder, doc, prefix):
    path = _write(folder / "000001.json", _dumps(doc), prefix)
    _refused_or(_usable_labels, read_point_labels, path)
    _refused_or(lambda d: [_usable_points(v) for v in d.values()], read_reference_points, path)


@given(text=mangled(_dumps({"points": [{"x": 10.5, "y": 4}, {"x": 1, "y": 2}], "imageHeight": 288,
                           "imageWidth": 512})))
def test_fuzz_point_labels_text(folder, text):
    _refused_or(_usable_labels, read_point_labels, _write(folder / "000002.json", text))


# --------------------------------------------------------------------------- AdaptOR submission
entry = st.one_of(
    st.fixed_dictionaries({"folderName": st.one_of(st.just("op01"), json_values),
                           "subfolderName": st.one_of(st.just("video01"), json_values),
                           "imageFileName": st.one_of(st.sampled_from(["000000.png", "000001.png"]), json_values),
                           "points": st.one_of(st.lists(points, max_size=3), json_values)}),
    json_values)
submissions = st.one_of(st.lists(entry, max_size=4), json_values)


def _usable_entries(entries):
    for e in entries:
        assert all(isinstance(v, str) and v for v in (e.op, e.video, e.image_file_name))
        _usable_points(e.points)


@given(doc=submissions)
def test_fuzz_submission(folder, doc):
    path = _write(folder / "submission.json", _dumps(doc))
    _refused_or(_usable_entries, read_submission_json, path)
    _refused_or(lambda d: [_usable_points(v) for v in d.values()], read_reference_points, path)


@given(text=mangled(_dumps([{"folderName": "op01", "subfolderName": "video01", "imageFileName": "000000.png",
                             "points": [{"x": 1.5, "y": 2}]}])))
def test_fuzz_submission_text(folder, text):
    _refused_or(_usable_entries, read_submission_json, _write(folder / "submission2.json", text))


# --------------------------------------------------------------------------- labelme stereo
shapes = st.one_of(
    st.fixed_dictionaries({"points": st.one_of(st.lists(st.lists(numbers, min_size=2, max_size=2), max_size=2),
                                               json_values)},
                          optional={"shape_type": st.one_of(st.sampled_from(["point", "rectangle"]), json_values),
                                    "label": json_values}),
    json_values)
image_paths = st.sampled_from(["stereo_000000.png", "missing.png", "", "sub\\stereo_000000.png", "stereo\x00.png",
                               "stereo\udcff.png", "../stereo_000000.png", "stereo_000000.nii"])
labelme_docs = st.one_of(
    st.fixed_dictionaries({"shapes": st.one_of(st.lists(shapes, max_size=4), json_values)},
                          optional={"imagePath": st.one_of(image_paths, json_values),
                                    "imageHeight": st.one_of(st.just(48), numbers, json_values),
                                    "imageWidth": st.one_of(st.just(32), numbers, json_values)}),
    json_values)


def _usable_views(views):
    for view in views:
        _usable_points(view.points)
        h, w = view.image.shape[:2]
        assert ((view.points >= -0.5) & (view.points <= [w, h])).all()


@given(doc=labelme_docs)
def test_fuzz_labelme_stereo(folder, doc):
    path = _write(folder / "stereo_000000.json", _dumps(doc))
    _refused_or(_usable_views, read_labelme_stereo, path)


# --------------------------------------------------------------------------- STACOM Annotations.txt
plain_decimals = st.from_regex(r"\A[+-]?[0-9]{1,2}(\.[0-9]{0,2})?([eE][+-]?[0-9])?\Z")
hostile_decimals = st.sampled_from(["1_0", "1_2.5", "\u0661\u0662", "\uff17", "\u0969", "nan", "inf", "-Infinity",
                                    "1e999", "0x1A", "1,5", ".", "+", "\u0663.5", "5\u00b2", "1__0", "_1"])
coordinates = st.one_of(plain_decimals, plain_decimals, plain_decimals, hostile_decimals, st.text(max_size=3))
dicom_names = st.one_of(st.sampled_from(["IM-0001-0001.dcm", "IM-0001-0002.dcm", "sub/IM-1.dcm", "./IM-2.dcm"]),
                        st.sampled_from(["../IM.dcm", "/abs/IM.dcm", "C:\\data\\IM.dcm", "a b.dcm", ".", "..",
                                         "x/../../y.dcm", "sub/../IM.dcm", "a\x00b.dcm", "a\x1b[2Jb.dcm", "\u202eIM.dcm",
                                         "IM\\0001.dcm", "\\\\server\\IM.dcm", "~/IM.dcm"]),
                        st.text(min_size=1, max_size=12))
separators = st.sampled_from([" ", "\t", "  ", "\u3000", "\x0b", "\x1c"])
entries = st.builds(lambda x, y, name, sep: f"{x}{sep}{y}{sep}{name}", coordinates, coordinates, dicom_names, separators)
headers = st.one_of(st.just("PatientID: DET0000101"), st.just("Patient ID = P2"),
                    st.sampled_from(["PATIENTID:", "patientid: a b"]),
                    st.builds(lambda t: "PatientID: " + t, st.text(max_size=8)))
sections = st.one_of(st.sampled_from(["[BASE_CENTRAL_AXIS]", "[APEX_CENTRAL_AXIS]", "[RV_INSERTS]", "[MITRAL_VALVES]",
                                      "[ rv inserts ]", "[]", "[UNKNOWN]", "[RV_INSERTS"]),
                     st.builds(lambda t: f"[{t}]", st.text(max_size=8)))
lines = st.one_of(headers, sections, entries, entries, st.sampled_from(["", "# comment", "// comment", "   "]),
                  st.text(max_size=16))
SECTION_SIZES = [("[BASE_CENTRAL_AXIS]", 1), ("[APEX_CENTRAL_AXIS]", 1), ("[RV_INSERTS]", 2), ("[MITRAL_VALVES]", 2)]


# Tokens that Python's float() or os.path.join() take but the format does not allow: a file made only of
# these and well-formed lines must still be refused (the parser once returned 1_0 as 10 and read ../ paths).
sly_decimals = st.sampled_from(["1_0", "1_2.5", "\u0661\u0662", "\uff17", "\u0969", "\u0663.5", "\u0967e1"])
sly_names = st.sampled_from(["../IM.dcm", "/abs/IM.dcm", "C:\\data\\IM.dcm", "x/../../y.dcm", "..", ".",
                             "sub/../../IM.dcm", "\\\\server\\share\\IM.dcm"])


@st.composite
def annotation_docs(draw, noisy: bool = True):
    """A well-formed file (header, sections, the right number of points per image) with hostile tokens.

    ``noisy``: tokens may be anything and junk lines are mixed in; else every
    token is either well-formed or one of the sly ones above, so that a parser
    that accepts those returns a result (and the property check catches it).
    """
    numbers_ = coordinates if noisy else st.one_of(plain_decimals, plain_decimals, sly_decimals)
    names_ = dicom_names if noisy else st.one_of(st.sampled_from(["IM-1.dcm", "IM-2.dcm", "sub/IM-3.dcm"]), sly_names)
    out = [draw(headers) if noisy else "PatientID: DET0000101"]
    used = set()
    for _ in range(draw(st.integers(0 if noisy else 1, 3))):
        section, per_image = draw(st.sampled_from(SECTION_SIZES))
        out.append(section)
        for _ in range(draw(st.integers(1, 2))):
            name, sep = draw(names_), draw(separators)
            if not noisy and (name, section) in used:
                continue
            used.add((name, section))
            out += [f"{draw(numbers_)}{sep}{draw(numbers_)}{sep}{name}" for _ in range(per_image)]
    for _ in range(draw(st.sampled_from([0, 0, 1, 2])) if noisy else 0):  # junk lines, stray headers, comments
        out.insert(draw(st.integers(0, len(out))), draw(lines))
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(out)


# What an accepted coordinate must look like: ASCII digits only ("1_0" is not 10, "\u0661\u0662" not 12).
ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _usable_annotations(ann, raw: bytes):
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.splitlines()
    assert isinstance(ann.patient_id, str) and ann.patient_id
    for e in ann.entries:
        assert math.isfinite(e.x) and math.isfinite(e.y)
        x, y = lines[e.line - 1].split(None, 2)[:2]
        assert ASCII_DECIMAL.fullmatch(x) and ASCII_DECIMAL.fullmatch(y), lines[e.line - 1]
        assert not e.dicom.startswith("/") and not re.match(r"[A-Za-z]:", e.dicom), e.dicom
        assert ".." not in posixpath.normpath(e.dicom).split("/") and e.dicom not in ("", "."), e.dicom
        assert all(ord(c) >= 32 and ord(c) != 127 for c in e.dicom), repr(e.dicom)
    for image in ann.images.values():
        assert image.view in ("sax", "lax") and image.entries


@given(text=annotation_docs(), prefix=encodings, latin1=st.booleans())
def test_fuzz_stacom_annotations(folder, text, prefix, latin1):
    path = folder / "Annotations.txt"
    raw = prefix + (text.encode("latin-1", "replace") if latin1 else text.encode("utf-8", "surrogatepass"))
    path.write_bytes(raw)
    _refused_or(lambda ann: _usable_annotations(ann, raw), parse_annotations, path)


@given(text=annotation_docs(noisy=False))
def test_fuzz_stacom_annotations_sly_tokens(folder, text):
    path = folder / "Annotations2.txt"
    raw = text.encode("utf-8")
    path.write_bytes(raw)
    _refused_or(lambda ann: _usable_annotations(ann, raw), parse_annotations, path)


# --------------------------------------------------------------------------- model cards
BASE_CARDS = {name: json.loads((WEIGHTS_DIR / f"{name}.json").read_text()) for name in
              ("cardiac_sax", "cardiac_lax", "sutures")}
_FIELDS = {
    None: [f.name for f in __import__("dataclasses").fields(ModelCard)] + ["colour"],
    "decoder": ["level", "min_confidence", "rotations", "rvi_max_distance_mm", "rvi_pair_confidence", "threshold",
                "opening_kernel", "cut", "cut_ratio", "min_area", "weighted"],
    "normalisation": ["method", "low", "high", "mean", "std"],
    "config": ["base_width", "max_width", "depth", "out_channels", "in_channels", "dropout", "encoder_widths",
               "bottleneck_width", "cardinality", "upsample", "ffe_blocks"],
}
card_values = st.one_of(
    st.floats(0, 1), st.floats(0, 1), st.integers(0, 8), st.integers(-3, 300), st.floats(-2, 5), numbers, json_values,
    st.sampled_from([None, True, "x", [], {}, [256, 256], [100000, 100000], [0.5, 0.5, 0.5], 4, 1024, 4096,
                     "percentile", "mean_std", "tanh_range", "sutures", "cardiac", "sax", "lax", "ResNeXtUNet",
                     "CardiacGenerator", "ResnetGenerator", "PatchDiscriminator", "bilinear", "x" * 64]))


@st.composite
def mutated_cards(draw):
    name = draw(st.sampled_from(sorted(BASE_CARDS)))
    card = copy.deepcopy(BASE_CARDS[name])
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        section = draw(st.sampled_from([None, "config", "decoder", "decoder", "normalisation"]))
        target = card if section is None or not isinstance(card.get(section), dict) else card[section]
        known = sorted(target) or sorted(_FIELDS[section])
        key = draw(st.one_of(st.sampled_from(known), st.sampled_from(sorted(set(target) | set(_FIELDS[section])))))
        if key in target and draw(st.integers(0, 3)) == 0:
            del target[key]
        else:
            target[key] = draw(card_values)
    return card


def _usable_card(card):
    """The card's settings must work where the predictors hand them on (the task decoders, the preprocessing)."""
    assert card.rotations in (1, 2, 4)
    norm = card.normalisation
    rng = np.random.default_rng(0)
    n = len(card.landmark_names)
    if card.task == "cardiac":
        channels = n if card.heatmap_mode == "per_landmark" else 1
        CardiacDecoder.from_card(card).decode(rng.random((channels, 16, 16)).astype(np.float32))
        if norm:
            normalise_intensity(rng.random((2, 8, 8)), (norm.get("low", 1.0), norm.get("high", 99.0)))
    else:
        SutureDecoder.from_card(card).decode(rng.random((16, 16)).astype(np.float32))
        if norm.get("method") == "mean_std":
            prepare_suture_frame(np.full((8, 8, 3), 0.5, np.float32), mean=tuple(norm["mean"]), std=tuple(norm["std"]))
    assert len(card.input_size) == 2 and max(card.input_size) <= 4096


@given(card=mutated_cards())
def test_fuzz_model_card(folder, card):
    path = _write(folder / "card.json", _dumps(card))
    _refused_or(_usable_card, load_card, path)


@given(text=mangled(_dumps(BASE_CARDS["sutures"])))
def test_fuzz_model_card_text(folder, text):
    _refused_or(_usable_card, load_card, _write(folder / "card_text.json", text))
