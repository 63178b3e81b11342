"""CPU smoke tests of the suture training code (training/sutures/train.py and friends).

Tiny frames (64x96) and tiny widths keep the whole file to a few seconds.
"""
from __future__ import annotations

import json
import math
import os

import cv2
import numpy as np
import pytest
import torch

from heatmap_landmarks.checkpoint import ModelCard, load_checkpoint, save_checkpoint
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.sutures import SuturePredictor
from heatmap_landmarks.models import build_model
from training.datasets.adaptor import read_submission_json
from training.cyclegan import translate as translate_folder
from training.sutures import evaluate as evaluate_sutures
from training.sutures.augment import augment, crop, hflip, inside_frame, rotate, vflip
from training.sutures.config import SutureAugmentConfig as AugmentConfig
from training.sutures.data import (AdaptorSource, PhantomSource, SutureTrainDataset, UnlabelledSource,
                                   export_phantom_adaptor, source_from_spec)
from training.cyclegan.config import CycleGANConfig
from training.cyclegan.train import train as train_cyclegan
from training.sutures.config import SutureTrainConfig
from training.sutures.train import build_network, compute_loss
from training.sutures.train import train as train_sutures

TINY_NET = {"encoder_widths": [8, 16, 32], "bottleneck_width": 64, "cardinality": 4}
SIZE = [64, 96]


def _phantom(seeds: str, domain: str = "intraop", **extra) -> dict:
    return {"kind": "phantom", "domain": domain, "seeds": seeds, "size": SIZE, "max_sutures": 4, **extra}


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --------------------------------------------------------------------------- augmentation
def _dots(points, shape, sigma=1.5) -> np.ndarray:
    """RGB frame, black except a Gaussian dot (peak 1) at each (x, y) point."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w), np.float64)
    for x, y in points:
        img = np.maximum(img, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)))
    return np.repeat(img[..., None], 3, axis=2).astype(np.float32)


def _dot_centre(image: np.ndarray, near, radius: int = 5) -> np.ndarray:
    """Intensity-weighted centroid of the dot around ``near`` (x, y)."""
    grey = image[..., 0].astype(np.float64)
    x0, y0 = int(round(near[0])), int(round(near[1]))
    win = grey[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1]
    yy, xx = np.mgrid[y0 - radius:y0 + radius + 1, x0 - radius:x0 + radius + 1]
    return np.array([(win * xx).sum() / win.sum(), (win * yy).sum() / win.sum()])


POINTS = np.array([[30.3, 20.7], [60.0, 40.2], [45.6, 31.1]], np.float32)  # well inside a 64x96 frame


@pytest.mark.parametrize("name, transform", [
    ("hflip", lambda img, p: hflip(img, p)),
    ("vflip", lambda img, p: vflip(img, p)),
    ("rotate +17", lambda img, p: rotate(img, p, 17.0)),
    ("rotate -40", lambda img, p: rotate(img, p, -40.0)),
    ("rotate +90", lambda img, p: rotate(img, p, 90.0)),
    ("crop", lambda img, p: crop(img, p, 5, 11, 48, 80)),
])
def test_geometric_transform_moves_points_exactly(name, transform):
    image = _dots(POINTS, (64, 96))
    out, moved = transform(image, POINTS)
    assert moved.shape == POINTS.shape
    for p in moved[inside_frame(moved, out.shape)]:
        assert np.abs(_dot_centre(out, p) - p).max() < 0.5, (name, p)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_pipeline_moves_points_exactly(seed):
    cfg = AugmentConfig(hflip_p=0.5, vflip_p=0.5, rotate_p=1.0, max_rotation_deg=40, colour_jitter_p=0.0,
                        brightness_contrast_p=0.0)
    image = _dots(POINTS, (64, 96))
    result = augment(image, POINTS, np.random.default_rng(seed), cfg)
    margin = inside_frame(result.points, (64 - 12, 96 - 12)) & inside_frame(result.points - 6, (64 - 12, 96 - 12))
    assert margin.any()
    for p in result.points[margin]:  # dots whose window lies in the frame
        assert np.abs(_dot_centre(result.image, p) - p).max() < 0.5


def test_points_rotated_out_are_dropped_and_counted():
    h, w = 64, 96
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1], [47.5, 31.5]], np.float32)
    cfg = AugmentConfig(hflip_p=0.0, vflip_p=0.0, rotate_p=1.0, max_rotation_deg=40, colour_jitter_p=0.0,
                        brightness_contrast_p=0.0)
    result = augment(np.zeros((h, w, 3), np.float32), corners, np.random.default_rng(5), cfg)
    # Any rotation by more than a fraction of a degree pushes every corner out; the centre stays.
    assert result.stats.dropped["rotation"] == 4
    assert result.inside.tolist() == [False, False, False, False, True]
    assert result.visible_points.shape == (1, 2)
    assert result.stats.seen == 5


def test_dataset_reports_points_cut_off_by_crops():
    src = PhantomSource([3], size=SIZE, max_sutures=4)
    ds = SutureTrainDataset([src], AugmentConfig(crop=[32, 32], rotate_p=0.0))
    item = ds[0]
    n = len(src[0].points)
    assert item["n_seen"] == n
    assert item["n_points"] + item["n_dropped_crop"] == n
    assert item["image"].shape == (3, 32, 32) and float(item["heatmap"].max()) <= 1.0


# --------------------------------------------------------------------------- training
@pytest.mark.parametrize("loss", ["dice", "bce"])
def test_loss_falls_when_overfitting_one_batch(loss):
    torch.manual_seed(0)
    ds = SutureTrainDataset([PhantomSource([1, 2], size=SIZE, max_sutures=4)])
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    cfg = SutureTrainConfig(train=[{}], val=[{}], loss=loss, model=TINY_NET)
    net = build_network(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        value = compute_loss(cfg, net(batch["image"]), batch["heatmap"])
        opt.zero_grad()
        value.backward()
        opt.step()
        losses.append(float(value.detach()))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.75 * losses[0]


def test_train_sutures_smoke_writes_usable_card(tmp_path):
    cfg = SutureTrainConfig.from_dict({
        "name": "tiny", "out_dir": str(tmp_path / "run"), "threads": 1, "model": TINY_NET,
        "train": [_phantom("0:8")], "val": [_phantom("100:102", randomisation="wide")],
        "test": [{"name": "heldout", **_phantom("200:204", randomisation="wide", group_size=1)}],
        "augment": {"crop": [32, 64]}, "batch_size": 2, "max_steps": 3, "val_every": 2, "checkpoint_every": 2,
        "decoder_grid": {"min_confidence": [0.0, 0.5]}, "training_data": "synthetic phantom frames only",
    })
    summary = train_sutures(cfg, quiet=True)
    model, card = load_checkpoint(tmp_path / "run" / "model.json")
    assert card.task == "sutures" and card.decoder in ({"min_confidence": 0.0}, {"min_confidence": 0.5})
    assert card.metrics["train_steps"] == 3 and 0.0 <= card.metrics["heldout"]["f1"] <= 1.0
    assert summary["metrics"]["augmentation_counts"]["points_seen"] > 0
    rows = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    assert [r["step"] for r in rows] == [2, 3] and all(math.isfinite(r["train_loss"]) for r in rows)
    # resume continues from the saved step
    cfg2 = SutureTrainConfig.from_dict({**cfg.to_dict(), "max_steps": 4})
    train_sutures(cfg2, resume="auto", quiet=True)
    rows = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    assert [r["step"] for r in rows] == [2, 3, 4]


def test_train_refuses_non_empty_out_dir_and_unknown_keys(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    cfg = SutureTrainConfig(out_dir=str(tmp_path), train=[_phantom("0:4")], val=[_phantom("9:10")], model=TINY_NET)
    with pytest.raises(InputError, match="not empty"):
        train_sutures(cfg, quiet=True)
    with pytest.raises(InputError, match="unknown key 'learning_rate'"):
        SutureTrainConfig.from_dict({"learning_rate": 1, "train": [{}], "val": [{}]})


def test_training_on_label_without_points_fails_naming_the_file(tmp_path):
    export_phantom_adaptor(tmp_path / "tree", PhantomSource([0, 1], size=SIZE, max_sutures=3, domain="sim"))
    label = tmp_path / "tree" / "phantom_0000" / "sim" / "point_labels" / "000001.json"
    label.write_text(json.dumps({"imageHeight": 64, "imageWidth": 96}))
    src = AdaptorSource(tmp_path / "tree")
    with pytest.raises(InputError, match=r"000001\.json: has no \"points\" key"):
        src[1]


# --------------------------------------------------------------------------- CycleGAN / translation
@pytest.fixture(scope="module")
def generator_card(tmp_path_factory):
    out = tmp_path_factory.mktemp("cyclegan")
    cfg = CycleGANConfig.from_dict({
        "out_dir": str(out / "run"), "threads": 1,
        "source_a": _phantom("0:2", domain="sim"), "source_b": _phantom("10:12"),
        "generator": {"ngf": 4, "n_blocks": 1}, "disc_base_width": 4, "crop": [32, 48],
        "max_steps": 1, "log_every": 1, "checkpoint_every": 1, "stats_frames": 1,
    })
    train_cyclegan(cfg, quiet=True)
    return out / "run"


def test_cyclegan_one_step_has_finite_losses(generator_card):
    rows = [json.loads(line) for line in open(generator_card / "log.jsonl")]
    assert len(rows) == 1
    for key in ("g_adv", "cycle", "identity", "d_a", "d_b"):
        assert math.isfinite(rows[0][key]) and rows[0][key] >= 0
    model, card = translate_folder.load_generator(generator_card / "G_sim2intraop.json")
    assert card.architecture == "ResnetGenerator"
    assert card.metrics["translation"] == {"source_domain": "sim", "target_domain": "intraop"}


def _unlabelled_tree(root):
    rng = np.random.default_rng(3)
    for rel in ("op/video/images/000000.png", "op/video/images/000001.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / rel), rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    return ["op/video/images/000000.png", "op/video/images/000001.png"]


def test_unlabelled_frames_are_a_cyclegan_domain_and_nothing_else(tmp_path):
    frames = _unlabelled_tree(tmp_path / "real")
    spec = {"kind": "unlabelled", "root": str(tmp_path / "real"), "frames": frames}
    src = source_from_spec(spec, allow_unlabelled=True)
    assert isinstance(src, UnlabelledSource) and len(src) == 2 and src.groups() == ["op", "op"]
    frame = src[1]
    assert frame.image.shape == (40, 56, 3) and frame.image.dtype == np.float32 and frame.points.shape == (0, 2)
    assert (frame.group, frame.video, frame.name) == ("op", "video", "000001.png")
    assert source_from_spec({**spec, "size": [20, 28]}, allow_unlabelled=True)[0].image.shape == (20, 28, 3)
    with pytest.raises(InputError, match="'size' must be"):
        source_from_spec({**spec, "size": [20]}, allow_unlabelled=True)
    with pytest.raises(InputError, match="only be a CycleGAN domain"):
        source_from_spec(spec)  # a detector's training or validation set
    with pytest.raises(InputError, match="000009.png: does not exist"):
        source_from_spec({**spec, "frames": ["op/video/images/000009.png"]}, allow_unlabelled=True)
    with pytest.raises(InputError, match="non-empty list"):
        source_from_spec({**spec, "frames": "op/video/images/000000.png"}, allow_unlabelled=True)
    with pytest.raises(InputError, match="unknown key"):
        source_from_spec({**spec, "points": []}, allow_unlabelled=True)
    # one real CycleGAN step with the unlabelled frames as the target domain
    cfg = CycleGANConfig.from_dict({
        "out_dir": str(tmp_path / "run"), "threads": 1, "domain_a": "phantom", "domain_b": "real",
        "source_a": _phantom("0:2"), "source_b": spec,
        "generator": {"ngf": 4, "n_blocks": 1}, "disc_base_width": 4, "crop": [32, 48],
        "max_steps": 1, "log_every": 1, "checkpoint_every": 1, "stats_frames": 1,
    })
    train_cyclegan(cfg, quiet=True)
    rows = [json.loads(line) for line in open(tmp_path / "run" / "log.jsonl")]
    assert len(rows) == 1 and all(math.isfinite(rows[0][k]) for k in ("g_adv", "cycle", "identity"))
    assert (tmp_path / "run" / "G_phantom2real.json").is_file()


def test_translate_folder_keeps_size_and_refuses_overwrite(generator_card, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.png", "b.png"):
        img = np.random.default_rng(0).integers(0, 255, (30, 50, 3), dtype=np.uint8)  # odd size: padded inside
        cv2.imwrite(str(src / name), img)
    out = tmp_path / "out"
    args = ["--generator", str(generator_card / "G_sim2intraop.json"), "--in", str(src), "--out", str(out), "--quiet"]
    assert translate_folder.main(args) == 0
    assert sorted(os.listdir(out)) == ["a.png", "b.png"]
    assert cv2.imread(str(out / "a.png")).shape == (30, 50, 3)
    before = (out / "a.png").read_bytes()
    (out / "b.png").unlink()
    assert translate_folder.main(args) == 2  # a.png exists: refused before any work
    assert not (out / "b.png").exists() and (out / "a.png").read_bytes() == before
    assert translate_folder.main(args + ["--overwrite"]) == 0
    assert (out / "b.png").exists()


def test_translate_adaptor_tree_copies_labels(generator_card, tmp_path):
    export_phantom_adaptor(tmp_path / "sim", PhantomSource([0, 1], size=SIZE, max_sutures=3, domain="sim"))
    args = ["--generator", str(generator_card / "G_sim2intraop.json"), "--adaptor", "--in", str(tmp_path / "sim"),
            "--out", str(tmp_path / "tr"), "--quiet"]
    assert translate_folder.main(args) == 0
    original, translated = AdaptorSource(tmp_path / "sim"), AdaptorSource(tmp_path / "tr")
    assert len(translated) == 2
    for i in range(2):
        assert np.array_equal(original[i].points, translated[i].points)
        assert translated[i].image.shape == original[i].image.shape


# --------------------------------------------------------------------------- evaluation
def _tiny_sutures_card(tmp_path):
    torch.manual_seed(0)
    net = build_model("ResNeXtUNet", TINY_NET)
    card = ModelCard(name="tiny", task="sutures", architecture="ResNeXtUNet", config=net.config.to_dict(),
                     landmark_names=["suture"], heatmap_mode="single", sigma2=5.0, input_size=[288, 512],
                     normalisation={"method": "mean_std", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
                     decoder={"min_confidence": 0.3})
    save_checkpoint(net, card, tmp_path / "tiny")
    return tmp_path / "tiny.json"


def test_evaluate_writes_valid_submission_and_tables(tmp_path):
    weights = _tiny_sutures_card(tmp_path)
    export_phantom_adaptor(tmp_path / "tree", PhantomSource([0, 1, 2], size=SIZE, max_sutures=3, group_size=1))
    out = tmp_path / "eval"
    args = ["--weights", str(weights), "--adaptor-root", str(tmp_path / "tree"), "--domain", "intraop",
            "--out", str(out), "--quiet"]
    assert evaluate_sutures.main(args) == 0
    entries = read_submission_json(out / "submission.json")
    assert [(e.op, e.image_file_name) for e in entries] == [
        ("phantom_0000", "000000.png"), ("phantom_0001", "000001.png"), ("phantom_0002", "000002.png")]
    raw = json.loads((out / "submission.json").read_text())
    assert set(raw[0]) == {"folderName", "subfolderName", "imageFileName", "points"}
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("fold,surgeries,frames,points,tp,fp,fn,precision,sensitivity,f1")
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3", "mean", "std", "pooled"]  # 3 surgeries < 4 folds
    assert "Mean ± std" in (out / "results.md").read_text(encoding="utf-8")
    assert evaluate_sutures.main(args) == 2  # refuses to overwrite


def test_fold_scores_pool_counts_per_fold_and_match_the_predictor():
    gts = [np.array([[10.0, 10.0]]), np.array([[20.0, 20.0], [40.0, 20.0]]), np.zeros((0, 2))]
    preds = [np.array([[12.0, 10.0]]), np.array([[20.0, 27.0]]), np.array([[5.0, 5.0]])]
    res = evaluate_sutures.fold_results(["a", "b", "b"], preds, gts, "sim", n_folds=2)
    by_group = {tuple(r.groups): r.counts for r in res}
    assert (by_group[("a",)].tp, by_group[("a",)].fp, by_group[("a",)].fn) == (1, 0, 0)
    assert (by_group[("b",)].tp, by_group[("b",)].fp, by_group[("b",)].fn) == (0, 2, 2)  # 7 px > 6 px radius


def test_predictor_path_agrees_with_direct_decoding(tmp_path):
    weights = _tiny_sutures_card(tmp_path)
    predictor = SuturePredictor(weights)
    frames = [PhantomSource([4], size=SIZE, max_sutures=3)[0]]
    via_predictor = evaluate_sutures.predict_points(predictor, frames)
    heat = evaluate_sutures.heatmaps_of(predictor.model, [f.image for f in frames],
                                        mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    from heatmap_landmarks.sutures.decode import decode_sutures

    direct = decode_sutures(heat[0], min_confidence=0.3)[0]
    assert np.allclose(via_predictor[0], direct, atol=1e-4)
