"""Tests of the cardiac GAN training code: config, augmentation, data, schedule, training smoke test, resume.

Tiny networks on 64x64 inputs (the phantom resampled to 5.6 mm pixels) keep
every training run to a fraction of a second on a 2-core CPU.
"""
from __future__ import annotations

import dataclasses
import doctest
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from heatmap_landmarks.checkpoint import load_card, load_checkpoint, load_state
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.heatmaps import decode_contours, encode_heatmap
from training import common
from training.cardiac import augment
from training.common import config
from training.cardiac import data as cardiac_data
from training.cardiac import train as train_cardiac
from training.cardiac.augment import augment_sample, mirror_permutation
from training.cardiac.data import EpochStream, PhantomCardiacDataset, load_real_cardiac
from training.cardiac.config import CardiacAugmentConfig as AugmentConfig
from training.cardiac.config import CardiacTrainConfig, ScheduleConfig
from training.cardiac.config import load_cardiac_config as load_config
from training.common.config import ConfigError, config_from_dict
from training.cardiac.train import AdaptiveSchedule, Trainer, build_networks, run

torch.set_num_threads(1)
FIXTURES = Path(__file__).parent / "fixtures"
CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"

TINY = {
    "name": "tiny",
    "seed": 3,
    "device": "cpu",
    "data": {"input_size": [64, 64], "spacing_mm": 5.6, "val_seeds": "90000:90004"},
    "model": {"generator": {"base_width": 4, "depth": 3, "encoder_convs": 1, "ffe_blocks": 1},
              "discriminator": {"base_width": 4, "max_width": 16, "n_layers": 4, "n_strided": 4}},
    "optim": {"batch_size": 2, "max_steps": 4, "steps_per_epoch": 3},
    "eval": {"level_grid": [0.5], "min_confidence_grid": [0.1]},
}


def tiny_config(**sections) -> CardiacTrainConfig:
    data = json.loads(json.dumps(TINY))
    for key, value in sections.items():
        data.setdefault(key, {}).update(value) if isinstance(value, dict) else data.__setitem__(key, value)
    return config_from_dict(CardiacTrainConfig, data)


@pytest.mark.parametrize("module", [augment, cardiac_data, common, config])
def test_doctests(module):
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


# -- config ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, fragments",
    [
        ('{\n  "optim": {\n    "batch_size": 4,\n    "max_step": 3\n  }\n}', [":4:", "unknown key 'optim.max_step'"]),
        ('{\n  "lr": 0.1\n}', [":2:", "unknown key 'lr'"]),
        ('{\n  "optim": {\n    "batch_size": 0\n  }\n}', [":3:", "'optim.batch_size' must be >= 1"]),
        ('{\n  "loss": {\n    "fpl": "yes"\n  }\n}', [":3:", "'loss.fpl' must be true or false"]),
        ('{\n  "model": {"generator": {"base_widht": 4}}\n}', ["'model.generator'", "unknown config key(s) 'base_widht'"]),
        ('{\n  "data": {"source": "stacom"}\n}', ["'data.root' is required"]),
        ('{"optim": {', ["invalid JSON"]),
        ('{\n  "data": {"apical_fraction": 1.5}\n}', ["'data.apical_fraction' must be in [0, 1]"]),
        ('{\n  "data": {"view": "lax", "apical_fraction": 0.3}\n}', ["'data.apical_fraction' applies to SAX"]),
        ('{\n  "eval": {"rvi_pair_confidence_grid": [0.0, 1.5]}\n}', ["'eval.rvi_pair_confidence_grid'", "[0, 1]"]),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path, content, fragments):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message


def test_decoder_grid_adds_the_rvi_pair_rule_only_above_min_confidence():
    from training.cardiac.config import EvalConfig

    ev = EvalConfig(level_grid=[0.5], min_confidence_grid=[0.2, 0.4], rvi_max_distance_grid_mm=[60.0],
                    rvi_pair_confidence_grid=[0.0, 0.3, 0.5])
    grid = ev.decoder_grid()
    pairs = sorted((d["min_confidence"], d.get("rvi_pair_confidence", 0.0)) for d in grid)
    assert pairs == [(0.2, 0.0), (0.2, 0.3), (0.2, 0.5), (0.4, 0.0), (0.4, 0.5)]
    assert "rvi_pair_confidence" not in ev.decoder(0.5, 0.2, 60.0, 0.0)  # off = absent from the card


def test_choose_decoder_takes_the_pair_rule_only_when_validation_says_so():
    """Validation with a half-detected pair: the pair rule recovers the weak member; without one it is not chosen."""
    from types import SimpleNamespace

    from heatmap_landmarks.heatmaps import encode_heatmaps_per_channel

    def maps(peaks):
        return np.stack([p * encode_heatmaps_per_channel([[x, y]], (64, 64))[0] for (x, y), p in peaks])

    truth = [(20.0, 20.0), (40.0, 24.0), (30.0, 36.0)]
    half = maps(list(zip(truth, (0.7, 0.15, 0.9))))  # RVI-2 weak but right
    item = SimpleNamespace(points=np.array(truth, np.float32), supervised=np.ones(3, bool))
    cfg = tiny_config(eval={"level_grid": [0.5], "min_confidence_grid": [0.1, 0.3],
                            "rvi_max_distance_grid_mm": [0.0], "rvi_pair_confidence_grid": [0.0, 0.5]})
    decoder, best, rows = train_cardiac.choose_decoder(half[None], [item], cfg)
    assert best["score"] < min(r["score"] for r in rows if r["min_confidence"] == 0.3 and not r["rvi_pair_confidence"])
    assert best["missed"] == 0
    # An apical slice with one stray insertion peak: the pair rule (min 0.1, pair 0.5) drops it, a plain 0.1 does not.
    stray = maps([((20.0, 20.0), 0.3), ((40.0, 24.0), 0.0), ((30.0, 36.0), 0.9)])
    apical = SimpleNamespace(points=np.array([[np.nan, np.nan], [np.nan, np.nan], truth[2]], np.float32),
                             supervised=np.ones(3, bool))
    decoder, best, rows = train_cardiac.choose_decoder(np.stack([half, stray]), [item, apical], cfg)
    assert decoder == {"level": 0.5, "min_confidence": 0.1, "rvi_pair_confidence": 0.5}
    assert best["false"] == 0 and best["missed"] == 0
    plain = train_cardiac.choose_decoder(half[None], [item], tiny_config(
        eval={"level_grid": [0.5], "min_confidence_grid": [0.1], "rvi_max_distance_grid_mm": [0.0],
              "rvi_pair_confidence_grid": [0.0, 0.5]}))[0]
    assert "rvi_pair_confidence" not in plain  # a tie goes to the simpler decoder


def test_shipped_configs_load():
    names = sorted(p.name for p in CONFIGS.glob("cardiac_*.json"))
    assert "cardiac_sax.json" in names and "cardiac_lax.json" in names
    for name in names:
        cfg = load_config(CONFIGS / name)
        assert cfg.data.input_size == [256, 256] and cfg.data.source in ("phantom", "acdc")
        if cfg.data.source == "acdc":  # the real-data configs use the expert masks and a fixed stratified split
            assert cfg.data.acdc_labels == "gt" and cfg.data.test_per_stratum >= 4 and cfg.data.val_per_stratum >= 1


# -- augmentation ------------------------------------------------------------------------------------
POINTS = np.array([[100.3, 80.7], [150.2, 170.9], [60.0, 200.5]])


@pytest.mark.parametrize(
    "settings",
    [
        dict(elastic_p=0.0, rotation_deg=180.0),
        dict(elastic_p=1.0, elastic_alpha_px=6.0, rotation_deg=0.0, translate_px=0.0, scale=[1.0, 1.0]),
        dict(elastic_p=1.0, elastic_alpha_px=5.0, flip_lr_p=0.5, flip_ud_p=0.5),
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_augmentation_moves_points_exactly_with_the_image(settings, seed):
    """Blobs drawn in the input land exactly where the transformed points say."""
    cfg = AugmentConfig(luminance_p=0.0, **settings)
    image = np.maximum(encode_heatmap(POINTS, (256, 256), sigma2=9.0), 1e-3)
    res = augment_sample(image, POINTS, np.random.default_rng(seed), cfg)  # no names: no identity swap
    np.testing.assert_allclose(res.to_input(res.points), POINTS, atol=1e-4)  # exact inverse of the image map
    found, _ = decode_contours(res.image, level=0.5)
    dist = np.linalg.norm(found[:, None] - res.points[None], axis=2).min(axis=0)
    assert dist.max() < 0.15  # limited only by bilinear resampling of the blobs


@pytest.mark.parametrize(
    "view, names, flip_lr, flip_ud, swapped",
    [
        ("sax", ["RVI-1", "RVI-2", "LVC"], 1.0, 0.0, True),
        ("sax", ["RVI-1", "RVI-2", "LVC"], 0.0, 1.0, True),
        ("sax", ["RVI-1", "RVI-2", "LVC"], 1.0, 1.0, False),  # two mirrors = 180 degree rotation
        ("lax", ["MV-1", "MV-2"], 1.0, 0.0, True),
        ("lax", ["MV-1", "MV-2"], 0.0, 0.0, False),
    ],
)
def test_flip_swaps_identities(view, names, flip_lr, flip_ud, swapped):
    cfg = AugmentConfig(rotation_deg=0.0, translate_px=0.0, scale=[1.0, 1.0], elastic_p=0.0, luminance_p=0.0,
                        flip_lr_p=flip_lr, flip_ud_p=flip_ud)
    pts = np.array([[40.0, 20.0], [42.0, 50.0], [60.0, 35.0]])[: len(names)]
    image = np.zeros((64, 64), np.float32)
    res = augment_sample(image, pts, np.random.default_rng(0), cfg, names=names, view=view)
    sx, sy = (-1 if flip_lr else 1), (-1 if flip_ud else 1)
    moved = np.stack([31.5 + sx * (pts[:, 0] - 31.5), 31.5 + sy * (pts[:, 1] - 31.5)], axis=1)
    order = [1, 0] + list(range(2, len(names))) if swapped else list(range(len(names)))
    assert res.mirrored == swapped
    np.testing.assert_allclose(res.points, moved[order], atol=1e-5)
    assert mirror_permutation(names, view) == ([1, 0] + list(range(2, len(names))))


def test_luminance_keeps_padding_zero_and_range():
    cfg = AugmentConfig(rotation_deg=0.0, translate_px=0.0, scale=[1.0, 1.0], elastic_p=0.0, luminance_p=1.0,
                        brightness=[0.2, 0.2])
    image = np.zeros((32, 32), np.float32)
    image[8:24, 8:24] = np.linspace(0.1, 1.0, 256, dtype=np.float32).reshape(16, 16)
    res = augment_sample(image, np.zeros((0, 2)), np.random.default_rng(0), cfg)
    assert res.image[:8].max() == 0.0 and 0.0 <= res.image.min() and res.image.max() <= 1.0
    assert res.image[8:24, 8:24].mean() > image[8:24, 8:24].mean() - 0.05


# -- data ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, channels", [("single", 1), ("per_landmark", 3)])
def test_phantom_stream_samples(mode, channels):
    cfg = tiny_config()
    base = PhantomCardiacDataset("0:10", cfg.data)
    stream = EpochStream(base, 4, seed=0, shuffle=False, mode=mode, view="sax", augment=None)
    sample = stream[1]
    assert sample["image"].shape == (1, 64, 64) and sample["target"].shape == (channels, 64, 64)
    assert 0.0 <= float(sample["image"].min()) and float(sample["image"].max()) <= 1.0
    pts = sample["points"].numpy()
    for c, (x, y) in enumerate(pts):
        if np.isfinite(x) and 0 <= x < 63 and 0 <= y < 63:
            assert float(sample["target"][0 if mode == "single" else c, int(round(y)), int(round(x))]) > 0.8
    again = EpochStream(base, 4, seed=0, shuffle=False, mode=mode, view="sax", augment=AugmentConfig())
    a, b = again[2], again[2]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["target"], b["target"])  # deterministic


def test_apical_fraction_shows_apical_slices_more_often():
    """``data.apical_fraction`` redraws the level of that share of training slices from the apical third."""
    seeds = range(60)
    plain = [cardiac_data.render_phantom("sax", s, "train") for s in seeds]
    same = [cardiac_data.render_phantom("sax", s, "train", apical_fraction=0.0) for s in seeds[:3]]
    for a, b in zip(plain, same):  # 0 leaves every sample exactly as before
        np.testing.assert_array_equal(a.image, b.image)
    apical = [cardiac_data.render_phantom("sax", s, "train", apical_fraction=0.5) for s in seeds]
    share = lambda samples: np.mean([s.meta["level"] > 2.0 / 3.0 for s in samples])
    assert share(apical) > share(plain) + 0.2
    every = [cardiac_data.render_phantom("sax", s, "train", apical_fraction=1.0) for s in seeds[:10]]
    assert all(s.meta["lvc_name"] == "ACA" for s in every)
    again = cardiac_data.render_phantom("sax", 7, "train", apical_fraction=0.5)
    np.testing.assert_array_equal(again.image, apical[7].image)  # deterministic per seed


def _stacom_copy(tmp_path) -> Path:
    root = tmp_path / "stacom"
    shutil.copytree(FIXTURES / "stacom", root)
    return root


@pytest.mark.parametrize("mode", ["single", "per_landmark"])
def test_real_loader_reports_every_skip(tmp_path, mode):
    root = _stacom_copy(tmp_path)
    cfg = tiny_config(data={"source": "stacom", "root": str(root), "spacing_mm": 1.0})
    items, report = load_real_cardiac(cfg.data, mode=mode)
    skipped = report.skip_counts
    assert skipped["lax image (training sax)"] == 2  # one LAX image per study, counted, not silently dropped
    if mode == "single":
        # DET0000202/SA_0005 has RV inserts but no LV centre: unknown, so no single-channel target
        assert skipped["single-channel target needs every landmark"] == 1
        assert all(it.supervised.all() for it in items)
        assert sum(skipped.values()) == len(report.skipped)
    else:
        assert any(not it.supervised.all() for it in items)  # e.g. DET0000202: RV inserts without a centre
    assert report.loaded["sax training image"] == len(items)


def test_training_surfaces_annotation_errors_with_file_and_line(tmp_path):
    root = _stacom_copy(tmp_path)
    ann = root / "DET0000101" / "Annotations.txt"
    lines = ann.read_text().splitlines()
    lines[2] = "11.5 nine IM-0001-0001.dcm"
    ann.write_text("\n".join(lines) + "\n")
    cfg = tiny_config(data={"source": "stacom", "root": str(root)})
    with pytest.raises(InputError, match=r"DET0000101/Annotations.txt:3: expected"):
        run(cfg, tmp_path / "run", show_progress=False, quiet=True)
    lenient = tiny_config(data={"source": "stacom", "root": str(root), "strict": False})
    _, report = load_real_cardiac(lenient.data, mode="per_landmark")
    assert report.skip_counts["invalid study"] == 1 and "Annotations.txt:3" in report.skipped[0].reason


def test_training_refuses_a_wrong_dataset_layout(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    cfg = tiny_config(data={"source": "stacom", "root": str(tmp_path / "empty")})
    with pytest.raises(InputError, match="no study folder with Annotations.txt"):
        run(cfg, tmp_path / "run", show_progress=False, quiet=True)


# -- schedule -----------------------------------------------------------------------------------------
def test_adaptive_schedule_rules():
    cfg = tiny_config()
    gen, disc = build_networks(cfg)
    opt_g, opt_d = torch.optim.Adam(gen.parameters(), 1e-3), torch.optim.Adam(disc.parameters(), 1e-3)
    sched = AdaptiveSchedule(ScheduleConfig(patience=2, d_dropout_max=0.65), gen, disc, opt_g, opt_d)
    strong = {"d_sdl": 0.01, "g_adversarial": 0.9}
    first = sched.step(strong, 10.0)  # D too strong; first validation score is a new best
    assert "D dropout 0.60 -> 0.65" in first[0] and "G dropout 0.40 -> 0.35" in first[1]
    assert "G dropout 0.35 -> 0.30" in sched.step({}, 9.0)[0]  # better validation
    change = sched.step(strong, 9.0)  # D at its cap: its lr halves; no G gain (1st epoch)
    assert any("D lr 1.00e-03 -> 5.00e-04" in c for c in change)
    change = sched.step({"d_sdl": 0.9, "g_adversarial": 0.1}, 9.0)  # D weak; 2nd epoch without gain
    assert any("D dropout 0.65 -> 0.60" in c for c in change)
    assert any("G lr 1.00e-03 -> 5.00e-04" in c for c in change)
    assert math.isclose(opt_g.param_groups[0]["lr"], 5e-4) and math.isclose(opt_d.param_groups[0]["lr"], 5e-4)


# -- training -----------------------------------------------------------------------------------------
def test_overfitting_one_batch_lowers_the_losses(tmp_path):
    cfg = tiny_config(augment={"enabled": False}, model={"generator": {"base_width": 8, "depth": 3,
                                                                      "encoder_convs": 1, "ffe_blocks": 1,
                                                                      "dropout": 0.0}})
    trainer = Trainer(cfg, tmp_path, common.setup_device_and_ddp("cpu"), show_progress=False)
    batch = {k: torch.stack([trainer.stream[i][k] for i in range(2)]) for k in ("image", "target", "mask")}
    history = [trainer.train_step(batch) for _ in range(40)]
    for key in ("g_regression", "g_fpl"):
        first, last = np.mean([h[key] for h in history[:3]]), np.mean([h[key] for h in history[-3:]])
        assert last < 0.5 * first, (key, first, last)
    assert all(math.isfinite(v) for h in history for v in h.values())


@pytest.mark.parametrize("ablation", [{}, {"loss": {"adversarial": False, "recon_loss": "mse", "fpl": False}},
                                      {"model": {"heatmap_mode": "single"}}])
def test_training_smoke_and_resume_continue_exactly(tmp_path, ablation):
    cfg = tiny_config(**ablation)
    straight = run(cfg, tmp_path / "a", show_progress=False, quiet=True)
    assert straight["steps"] == 4 and Path(straight["model"]).exists()
    rows = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [3, 4]
    assert all(math.isfinite(v) for r in rows for k, v in r.items() if k.startswith(("g_", "d_")))
    run(cfg, tmp_path / "b", max_steps=2, show_progress=False, quiet=True)
    resumed = run(cfg, tmp_path / "b", resume=True, show_progress=False, quiet=True)
    assert resumed["steps"] == 4
    last, _ = load_checkpoint(resumed["model_last"])  # the weights of the last step, beside the best ones
    b_state, _ = load_state(tmp_path / "b" / "state.safetensors")
    for key, value in last.state_dict().items():
        assert torch.equal(b_state[f"model/generator/{key}"], value), key
    a, _ = load_state(tmp_path / "a" / "state.safetensors")
    b, meta = load_state(tmp_path / "b" / "state.safetensors")
    assert meta["step"] == 4 and set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    card = json.loads((tmp_path / "b" / "model.json").read_text())
    assert card["heatmap_mode"] == cfg.model.heatmap_mode and "synthetic phantom only" in card["training_data"]


def test_training_refuses_to_reuse_an_output_folder(tmp_path):
    cfg = tiny_config(optim={"max_steps": 1})
    run(cfg, tmp_path / "a", show_progress=False, quiet=True)
    with pytest.raises(InputError, match="output folder exists"):
        run(cfg, tmp_path / "a", show_progress=False, quiet=True)
    with pytest.raises(InputError, match="nothing to resume"):
        run(cfg, tmp_path / "c", resume=True, show_progress=False, quiet=True)


def test_fine_tuning_starts_from_the_given_model(tmp_path):
    base = run(tiny_config(), tmp_path / "base", show_progress=False, quiet=True)
    base_model, _ = load_checkpoint(base["model"])
    cfg = tiny_config(model={"init_from": base["model"]})
    trainer = Trainer(cfg, tmp_path / "ft", common.setup_device_and_ddp("cpu"), show_progress=False)
    for key, value in base_model.state_dict().items():
        assert torch.equal(trainer.gen_plain.state_dict()[key], value), key
    fresh = Trainer(tiny_config(), tmp_path / "fresh", common.setup_device_and_ddp("cpu"), show_progress=False)
    assert not all(torch.equal(fresh.gen_plain.state_dict()[k], v) for k, v in base_model.state_dict().items())
    tuned = run(cfg, tmp_path / "ft2", max_steps=2, show_progress=False, quiet=True)
    card = json.loads(Path(tuned["model"]).read_text())
    assert card["training_data"].startswith("fine-tuned from cardiac-sax-tiny")
    resumed = run(cfg, tmp_path / "ft2", resume=True, show_progress=False, quiet=True)
    for key in ("model", "model_last"):
        assert json.loads(Path(resumed[key]).read_text())["training_data"].startswith("fine-tuned from cardiac-sax-tiny")


@pytest.mark.parametrize("change, fragment", [
    ({"model": {"generator": {"base_width": 6, "depth": 3, "encoder_convs": 1, "ffe_blocks": 1}}}, "network shapes differ"),
    ({"data": {"view": "lax"}}, "was trained for view 'sax'"),
])
def test_fine_tuning_refuses_a_model_that_does_not_fit(tmp_path, change, fragment):
    base = run(tiny_config(), tmp_path / "base", show_progress=False, quiet=True)
    cfg = tiny_config(model={"init_from": base["model"]}, **{k: v for k, v in change.items() if k != "model"})
    if "model" in change:
        cfg = tiny_config(model={**change["model"], "init_from": base["model"]})
    with pytest.raises(InputError, match=fragment) as err:
        Trainer(cfg, tmp_path / "ft", common.setup_device_and_ddp("cpu"), show_progress=False)
    assert "model.json" in str(err.value) and "\n" not in str(err.value)


def test_export_copies_the_model_under_a_new_name(tmp_path):
    summary = run(tiny_config(), tmp_path / "run", show_progress=False, quiet=True)
    (tmp_path / "shipped").mkdir()
    weights, card_path = train_cardiac.export_model(tmp_path / "run", str(tmp_path / "shipped" / "demo"),
                                                    overwrite=False, name="cardiac-sax-demo")
    exported, card = load_checkpoint(card_path)
    trained, trained_card = load_checkpoint(summary["model"])
    assert card.name == "cardiac-sax-demo" and card.decoder == trained_card.decoder
    for key, value in trained.state_dict().items():
        assert torch.equal(exported.state_dict()[key], value), key
    _, last_card = train_cardiac.export_model(summary["model_last"], str(tmp_path / "shipped" / "last"), overwrite=False)
    last, _ = load_checkpoint(last_card)
    assert load_checkpoint(summary["model_last"])[1].name == load_card(last_card).name


def test_val_seeds_override_is_checked_like_the_config(tmp_path, capsys):
    code = train_cardiac.main(["--config", str(CONFIGS / "cardiac_sax_finetune.json"), "--val-seeds", "1:5",
                               "--select-decoder", str(tmp_path / "model.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "cardiac_sax_finetune.json" in err[0] and "overlaps train_seeds" in err[0]


def test_select_decoder_can_score_and_record_test_time_rotations(tmp_path, capsys):
    summary = run(tiny_config(), tmp_path / "run", show_progress=False, quiet=True)
    card_path = Path(summary["model"])
    cfg = tiny_config()
    model, _ = load_checkpoint(card_path)
    items = [PhantomCardiacDataset(cfg.data.val_seeds, cfg.data, randomisation="wide").item(i) for i in range(2)]
    ctx = common.setup_device_and_ddp("cpu")
    plain = train_cardiac.predict_heatmaps(model, items, ctx, 2, False)
    four = train_cardiac.predict_heatmaps(model, items, ctx, 2, False, rotations=4)
    turned = [dataclasses.replace(it, image=np.rot90(it.image).copy()) for it in items]
    np.testing.assert_allclose(train_cardiac.predict_heatmaps(model, turned, ctx, 2, False, rotations=4),
                               np.rot90(four, 1, axes=(2, 3)), atol=1e-5)  # exact quarter-turn equivariance
    assert not np.allclose(plain, four, atol=1e-4)
    train_cardiac.select_decoder(cfg, card_path, rotations=4)
    assert load_card(card_path).rotations == 4 and "rotations" not in load_card(card_path).decoder
    from heatmap_landmarks.cardiac import CardiacPredictor

    assert CardiacPredictor(card_path).rotations == 4
    code = train_cardiac.main(["--config", str(CONFIGS / "cardiac_sax.json"), "--rotations", "4", "--max-steps", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--select-decoder only" in err[0]
