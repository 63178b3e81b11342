"""Validation of the cardiac generator and the choice of its decoder settings.

* :func:`predict_heatmaps`: generator outputs for un-augmented items (optionally quarter-turn averaged);
* :func:`decode_batch`: heatmaps -> points, decoded as the shipped inference path decodes them;
* :func:`score_predictions`: one validation score that punishes misses, false detections and large errors;
* :func:`choose_decoder`: grid search of the decoder settings (:meth:`EvalConfig.decoder_grid`) on validation;
* :func:`select_decoder`: re-choose a trained model's decoder later (``--select-decoder``) and write it into its card.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from heatmap_landmarks.checkpoint import ModelCard, load_card, load_checkpoint
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.fileutil import atomic_text_file
from heatmap_landmarks.cardiac import CardiacDecoder
from heatmap_landmarks.inference import average_quarter_turns

from ..common import DistContext, autocast, json_safe, unwrap
from .config import CardiacTrainConfig
from .data import PhantomCardiacDataset, load_real_cardiac, split_real_items

__all__ = [
    "OPTIONAL_DECODER_SETTINGS",
    "choose_decoder",
    "decode_batch",
    "predict_heatmaps",
    "score_predictions",
    "select_decoder",
    "validation_metrics",
]


def decode_batch(heatmaps: np.ndarray, names: list, mode: str, view: str, decoder: dict,
                 spacing_mm: float = 1.4) -> tuple:
    """``(B, K, H, W)`` clipped heatmaps -> ``(B, L, 2)`` network points and ``(B, L)`` confidences.

    Uses the product's :class:`~heatmap_landmarks.cardiac.CardiacDecoder`, so validation decodes exactly as
    the shipped inference path. ``decoder``: the card's decoder settings.
    ``spacing_mm``: the network grid's pixel size (distances in the decoder settings are in mm).
    """
    dec = CardiacDecoder(names=names, heatmap_mode=mode, view=view, grid_spacing_mm=spacing_mm, **decoder)
    out_p = np.full((len(heatmaps), len(names), 2), np.nan, np.float32)
    out_c = np.zeros((len(heatmaps), len(names)), np.float32)
    for b, hm in enumerate(heatmaps):
        out_p[b], out_c[b] = dec.decode(hm)
    return out_p, out_c


@torch.no_grad()
def predict_heatmaps(gen, items, ctx: DistContext, batch_size: int, amp: bool, rotations: int = 1) -> np.ndarray:
    """Generator outputs ``(N, K, H, W)`` float32 clipped to [0, 1] for un-augmented items (eval mode).

    ``rotations``: test-time quarter-turn averaging, as ``CardiacPredictor(rotations=...)``.
    """
    model = unwrap(gen)
    was = model.training
    model.eval()

    def forward(batch: np.ndarray) -> np.ndarray:
        with autocast(ctx, amp):
            y = model(torch.from_numpy(batch).to(ctx.device))
        return y.float().clamp_(0.0, 1.0).cpu().numpy()

    outs = []
    for start in range(0, len(items), batch_size):
        x = np.stack([it.image for it in items[start:start + batch_size]])[:, None]
        outs.append(average_quarter_turns(forward, x, rotations))
    model.train(was)
    return np.concatenate(outs)


def score_predictions(points: np.ndarray, items, names: list, penalty: float) -> dict:
    """Validation metrics in network pixels.

    ``score``: mean over every supervised (image, landmark) slot of
    ``min(error, penalty)`` for a present landmark, ``penalty`` for a miss,
    ``penalty`` for a false detection (a point where the phantom has no such
    landmark, e.g. RV insertions on an apical slice) and 0 for a correctly
    absent one - one number that punishes misses, false detections and large
    errors alike (used for model selection, the schedule and the decoder
    choice). Also the plain mean error of detected landmarks, per-name means,
    misses and false detections.
    """
    errs, per = [], {n: [] for n in names}
    missed = false = n_present = 0
    for p, it in zip(points, items):
        for j, n in enumerate(names):
            gt = it.points[j]
            if not it.supervised[j]:
                continue
            if np.isnan(gt[0]):
                is_false = not np.isnan(p[j, 0])
                false += int(is_false)
                errs.append(penalty if is_false else 0.0)
                continue
            n_present += 1
            if np.isnan(p[j, 0]):
                missed += 1
                errs.append(penalty)
                continue
            e = float(np.hypot(*(p[j] - gt)))
            per[n].append(e)
            errs.append(min(e, penalty))
    found = [e for n in names for e in per[n]]
    out = {"score": float(np.mean(errs)) if errs else math.nan,
           "mean_px": float(np.mean(found)) if found else math.nan,
           "missed": missed, "false": false, "n": n_present, "n_absent": len(errs) - n_present}
    for n in names:
        out[f"{n}_px"] = float(np.mean(per[n])) if per[n] else math.nan
    return out


#: Decoder settings that a card may leave out (then off); every search row carries them for the tie-break.
OPTIONAL_DECODER_SETTINGS = {"rvi_max_distance_mm": 0.0, "rvi_pair_confidence": 0.0}


def choose_decoder(heatmaps: np.ndarray, items, cfg: CardiacTrainConfig) -> tuple[dict, dict, list]:
    """Grid-search the decoder (:meth:`EvalConfig.decoder_grid`) on validation heatmaps.

    Returns the best decoder, its row and all rows (each row: settings and validation metrics).
    """
    names, mode, view = cfg.data.landmark_names, cfg.model.heatmap_mode, cfg.data.view
    scored = []
    for dec in cfg.eval.decoder_grid():
        pts, _ = decode_batch(heatmaps, names, mode, view, dec, cfg.data.spacing_mm)
        scored.append((dec, {**OPTIONAL_DECODER_SETTINGS, **dec,
                             **score_predictions(pts, items, names, cfg.schedule.miss_penalty_px)}))
    # Ties go to the simpler decoder: no tether, no pair rule, the higher threshold, the lower level.
    decoder, best = min(scored, key=lambda s: (s[1]["score"], s[1]["rvi_max_distance_mm"],
                                               s[1]["rvi_pair_confidence"], -s[1]["min_confidence"], s[1]["level"]))
    return dict(decoder), best, [row for _, row in scored]


def validation_metrics(row: dict, cfg: CardiacTrainConfig) -> dict:
    """The card's ``metrics["validation"]`` (a decoder-search row without its settings) and its units."""
    settings = ("level", "min_confidence", *OPTIONAL_DECODER_SETTINGS)
    return {"validation": json_safe({k: v for k, v in row.items() if k not in settings}),
            "validation_units": "network pixels (1 px = spacing_mm); score = mean capped error over all landmark "
                                f"slots, misses and false detections = {cfg.schedule.miss_penalty_px:g} px, "
                                "correct absences 0"}


def select_decoder(cfg: CardiacTrainConfig, card_path: str | os.PathLike, rotations: int = 1) -> dict:
    """Re-choose a trained model's decoder on ``cfg``'s validation set and write it into its card.

    Same grid and score as at the end of training (:func:`choose_decoder`); the
    weights and their sha256 are untouched, the card's ``decoder`` and
    ``metrics["validation"]`` are replaced. ``rotations`` > 1 scores test-time
    quarter-turn averaging and records it as the card's ``rotations``. Returns the chosen row.
    """
    card_path = Path(card_path)
    model, card = load_checkpoint(card_path)
    if card.heatmap_mode != cfg.model.heatmap_mode or card.view != cfg.data.view:
        raise InputError(card_path, f"is a {card.view}/{card.heatmap_mode} model; the config describes "
                                    f"{cfg.data.view}/{cfg.model.heatmap_mode}")
    d = cfg.data
    if d.source == "phantom":
        val_ds = PhantomCardiacDataset(d.val_seeds, d, randomisation=d.val_randomisation)
        items = [val_ds.item(i) for i in range(len(val_ds))]
    else:
        all_items, _ = load_real_cardiac(d, mode=cfg.model.heatmap_mode)
        items = split_real_items(all_items, d, cfg.seed)[1]
    ctx = DistContext(torch.device("cpu"))
    heat = predict_heatmaps(model, items, ctx, cfg.eval.val_batch_size, False, rotations=rotations)
    decoder, best, _ = choose_decoder(heat, items, cfg)
    metrics = {**load_card(card_path).metrics, **validation_metrics(best, cfg)}
    new = ModelCard.from_dict({**card.to_dict(), "decoder": decoder, "rotations": int(rotations), "metrics": metrics},
                              source=card_path)
    with atomic_text_file(card_path, overwrite=True) as fh:
        fh.write(new.to_json())
    return best
