"""Predictor: real inference with tiny real models (no mocks)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from heatmap_landmarks.checkpoint import ModelCard, save_checkpoint
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.cardiac import CardiacDecoder, CardiacPredictor
from heatmap_landmarks.inference import Cancelled, Predictor, select_device
from heatmap_landmarks.sutures import SuturePredictor
from heatmap_landmarks.models import CardiacGenerator, CardiacGeneratorConfig
from heatmap_landmarks.testing import draw_spot_frame, make_spot_detector


@pytest.fixture(scope="module")
def spot_card(tmp_path_factory):
    return make_spot_detector(tmp_path_factory.mktemp("spot"))


@pytest.fixture(scope="module")
def tiny_cardiac_card(tmp_path_factory):
    torch.manual_seed(0)
    config = CardiacGeneratorConfig(out_channels=3, base_width=4, max_width=8, depth=2, encoder_convs=1, ffe_blocks=1)
    model = CardiacGenerator(config).eval()
    card = ModelCard(name="tiny-sax", task="cardiac", view="sax", architecture="CardiacGenerator",
                     config=config.to_dict(), landmark_names=["RVI-1", "RVI-2", "LVC"], heatmap_mode="per_landmark",
                     sigma2=7.0, input_size=[64, 64], input_spacing_mm=2.0,
                     normalisation={"method": "percentile", "low": 1, "high": 99},
                     decoder={"min_confidence": 0.0}, training_data="none: random init (tests)")
    _, card_path = save_checkpoint(model, card, tmp_path_factory.mktemp("tiny") / "tiny_sax")
    return card_path


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_sutures_stream_finds_spots_in_order(spot_card, batch_size):
    truths = [[[20.0, 10.0]], [], [[50.0, 30.0], [12.0, 25.0]], [[30.0, 20.0]]]
    frames = [draw_spot_frame((40, 70), t) if t else draw_spot_frame((40, 70), []) for t in truths]
    seen = []
    preds = list(SuturePredictor(spot_card, batch_size=batch_size).predict_sutures(
        iter(frames), progress=lambda done, total: seen.append(done), total=len(frames)))
    assert len(preds) == len(frames)
    for pred, truth in zip(preds, truths):
        assert pred.heatmap.shape == (40, 70)
        got = sorted(pred.points.round(1).tolist())
        assert got == sorted(truth)
    assert seen[-1] == len(frames)


def test_sutures_odd_frame_sizes_are_padded_not_distorted(spot_card):
    frames = [draw_spot_frame((41, 70), [[10.0, 35.0]]), draw_spot_frame((37, 53), [[45.0, 5.0]])]
    preds = list(SuturePredictor(spot_card, batch_size=4).predict_sutures(frames))
    assert [p.heatmap.shape for p in preds] == [(41, 70), (37, 53)]
    np.testing.assert_allclose(preds[0].points, [[10.0, 35.0]], atol=0.1)
    np.testing.assert_allclose(preds[1].points, [[45.0, 5.0]], atol=0.1)


def test_fast_path_matches_plain_model(tiny_cardiac_card):
    rng = np.random.default_rng(0)
    frames = rng.random((3, 50, 60)).astype(np.float32)
    fast = CardiacPredictor(tiny_cardiac_card, fast=True).predict_cardiac(frames, (1.5, 1.5))
    plain = CardiacPredictor(tiny_cardiac_card, fast=False).predict_cardiac(frames, (1.5, 1.5))
    np.testing.assert_allclose(fast.heatmaps, plain.heatmaps, atol=1e-4)


def test_cardiac_shapes_and_original_grid(tiny_cardiac_card):
    frames = np.random.default_rng(1).random((5, 90, 120)).astype(np.float32)
    calls = []
    pred = CardiacPredictor(tiny_cardiac_card, batch_size=2).predict_cardiac(
        frames, (1.0, 1.0), progress=lambda d, t: calls.append((d, t)))
    assert pred.names == ["RVI-1", "RVI-2", "LVC"]
    assert pred.points.shape == (5, 3, 2) and pred.points.dtype == np.float32
    assert pred.confidence.shape == (5, 3)
    assert pred.heatmaps.shape == (5, 90, 120)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    found = ~np.isnan(pred.points[..., 0])
    assert np.all(pred.points[found] >= -0.5)
    assert np.all(pred.points[found][:, 0] <= 119.5) and np.all(pred.points[found][:, 1] <= 89.5)


def test_large_image_is_resampled_and_says_so(tiny_cardiac_card):
    pred = CardiacPredictor(tiny_cardiac_card).predict_cardiac(np.random.default_rng(2).random((1, 300, 300)), (0.7, 0.7),
                                                        return_heatmaps=False)
    assert pred.heatmaps is None
    assert pred.notes and "0.7" in pred.notes[0]


def test_cancel_stops_between_batches(tiny_cardiac_card):
    predictor = CardiacPredictor(tiny_cardiac_card, batch_size=2)
    done = []
    with pytest.raises(Cancelled):
        predictor.predict_cardiac(np.zeros((6, 32, 32), np.float32) + np.arange(32), (1.0, 1.0),
                                  progress=lambda d, t: done.append(d), should_cancel=lambda: len(done) >= 1)
    assert done == [2]


def test_wrong_task_is_a_clear_error(spot_card, tiny_cardiac_card):
    with pytest.raises(InputError, match="not a cardiac"):
        CardiacPredictor(spot_card).predict_cardiac(np.zeros((1, 16, 16)), (1, 1))
    with pytest.raises(InputError, match="not a suture"):
        list(SuturePredictor(tiny_cardiac_card).predict_sutures([np.zeros((32, 32, 3), np.float32)]))


def test_bad_settings_are_clear_errors(tmp_path, spot_card):
    with pytest.raises(InputError, match="batch size"):
        SuturePredictor(spot_card, batch_size=0)
    with pytest.raises(InputError, match="not found"):
        Predictor(tmp_path / "missing.json")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            select_device("cuda")


def _decode(pred, maps, settings):
    """Decode with the predictor's card and only ``settings`` (the others at their defaults)."""
    card = pred.card
    return CardiacDecoder(names=card.landmark_names, heatmap_mode=card.heatmap_mode, view=card.view,
                          grid_spacing_mm=card.input_spacing_mm, **settings).decode(maps)


def test_card_decoder_ties_rv_insertions_to_the_lv_centre_in_mm(tiny_cardiac_card):
    """``decoder.rvi_max_distance_mm`` switches the Predictor to decode_tethered, in mm of the network grid."""
    from heatmap_landmarks.heatmaps import decode_per_channel, encode_heatmaps_per_channel
    from heatmap_landmarks.cardiac.decode import decode_tethered

    pred = CardiacPredictor(tiny_cardiac_card)  # network grid 2.0 mm/px
    maps = np.stack([encode_heatmaps_per_channel([[10.0, 12.0]], (64, 64))[0] * 0.6,
                     encode_heatmaps_per_channel([[14.0, 20.0]], (64, 64))[0] * 0.5,
                     np.maximum(0.7 * encode_heatmaps_per_channel([[15.0, 15.0]], (64, 64))[0],
                                0.9 * encode_heatmaps_per_channel([[50.0, 50.0]], (64, 64))[0])])
    names = ["RVI-1", "RVI-2", "LVC"]
    plain, _ = _decode(pred, maps, {"min_confidence": 0.1})
    np.testing.assert_array_equal(plain, decode_per_channel(maps)[0])
    tied, _ = _decode(pred, maps, {"min_confidence": 0.1, "rvi_max_distance_mm": 20.0})
    np.testing.assert_array_equal(tied, decode_tethered(maps, anchor=2, tethered=[0, 1], max_distance=10.0)[0])
    assert plain[2].round(1).tolist() == [50.0, 50.0] and tied[2].round(1).tolist() == [15.0, 15.0]


def test_card_decoder_decides_rv_insertions_as_a_pair(tiny_cardiac_card):
    """``decoder.rvi_pair_confidence``: a half pair whose stronger member is weak is dropped, a strong one kept."""
    from heatmap_landmarks.heatmaps import encode_heatmaps_per_channel

    pred = CardiacPredictor(tiny_cardiac_card)
    names = ["RVI-1", "RVI-2", "LVC"]

    def maps(p1, p2):
        return np.stack([p1 * encode_heatmaps_per_channel([[10.0, 12.0]], (64, 64))[0],
                         p2 * encode_heatmaps_per_channel([[14.0, 20.0]], (64, 64))[0],
                         0.9 * encode_heatmaps_per_channel([[15.0, 15.0]], (64, 64))[0]])

    for tether in ({}, {"rvi_max_distance_mm": 40.0}):
        dec = {"min_confidence": 0.2, "rvi_pair_confidence": 0.4, **tether}
        weak, conf = _decode(pred, maps(0.3, 0.1), dec)
        assert np.isnan(weak[:2]).all() and weak[2].round(1).tolist() == [15.0, 15.0]
        assert conf[0] == pytest.approx(0.3, abs=0.01)  # the peak is still reported
        strong, _ = _decode(pred, maps(0.5, 0.25), dec)
        assert np.isfinite(strong).all()
        plain, _ = _decode(pred, maps(0.3, 0.1), {k: v for k, v in dec.items()
                                                                if k != "rvi_pair_confidence"})
        assert np.isfinite(plain[0]).all() and np.isnan(plain[1]).all()  # without the rule: a half pair


def test_rotation_averaging_is_exact_and_equivariant(tiny_cardiac_card):
    """Quarter-turn test-time averaging: the averaged heatmaps turn with the input, exactly."""
    x = np.random.default_rng(3).random((2, 1, 64, 64)).astype(np.float32)
    turned = np.rot90(x, 1, axes=(2, 3)).copy()
    four = CardiacPredictor(tiny_cardiac_card, rotations=4, fast=False)
    np.testing.assert_allclose(four.forward_averaged(turned), np.rot90(four.forward_averaged(x), 1, axes=(2, 3)),
                               atol=1e-6)
    one = CardiacPredictor(tiny_cardiac_card, rotations=1, fast=False)
    assert np.abs(one.forward_averaged(turned) - np.rot90(one.forward_averaged(x), 1, axes=(2, 3))).max() > 1e-3
    two = CardiacPredictor(tiny_cardiac_card, rotations=2, fast=False)
    expected = 0.5 * (one.forward(x) + np.rot90(one.forward(np.rot90(x, 2, axes=(2, 3)).copy()), 2, axes=(2, 3)))
    np.testing.assert_allclose(two.forward_averaged(x), expected, atol=1e-6)
    frames = x[:, 0] * 100.0
    out = four.predict_cardiac(frames, (2.0, 2.0))
    assert out.points.shape == (2, 3, 2) and out.heatmaps.shape == (2, 64, 64)


def test_rotations_come_from_the_card_and_are_checked(tmp_path, tiny_cardiac_card):
    from heatmap_landmarks.checkpoint import load_card

    assert CardiacPredictor(tiny_cardiac_card).rotations == 1
    card = load_card(tiny_cardiac_card)
    model = CardiacGenerator(CardiacGeneratorConfig(**card.config))
    card.rotations = 4
    _, path = save_checkpoint(model, card, tmp_path / "four")
    assert CardiacPredictor(path).rotations == 4
    assert CardiacPredictor(path, rotations=1).rotations == 1
    with pytest.raises(InputError, match="rotations must be 1, 2 or 4, got 3"):
        CardiacPredictor(tiny_cardiac_card, rotations=3)
    card.input_size = [64, 96]
    _, wide = save_checkpoint(model, card, tmp_path / "wide")
    with pytest.raises(InputError, match="square network grid"):
        CardiacPredictor(wide)


def test_card_grid_the_network_cannot_take_names_the_card(tmp_path, tiny_cardiac_card):
    """Issue 15, item 15: a card whose input_size is no multiple of 2**depth is refused when loaded, naming it."""
    from heatmap_landmarks.checkpoint import load_card

    card = load_card(tiny_cardiac_card)
    model = CardiacGenerator(CardiacGeneratorConfig(**card.config))
    multiple = 2 ** model.config.depth
    card.input_size = [multiple * 4 + 2, multiple * 4 + 2]
    _, path = save_checkpoint(model, card, tmp_path / "odd")
    with pytest.raises(InputError, match=f"must be multiples of {multiple}") as err:
        CardiacPredictor(path)
    assert str(err.value).startswith(str(path))
