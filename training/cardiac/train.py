"""Train the cardiac landmark GAN (Kanakatte et al.) on the phantom, STACOM or ACDC.

    python -m training.cardiac.train --config training/configs/cardiac_sax.json [--out runs/x] [--resume]
        [--max-steps N] [--max-minutes M] [--device cpu|cuda|auto] [--export heatmap_landmarks/weights/cardiac_sax]

Under ``torchrun --nproc_per_node=K`` it trains with DDP (one process per GPU,
disjoint samples per rank, only rank 0 logs and writes files).

One step: the generator G (U-Net) maps the image x to heatmaps G(x); the
conditional PatchGAN D scores (x, heatmap) pairs.

* D step: ``MDL = SDL + FPL`` with ``SDL = 0.5 (mean (D(x,y)-1)^2 + mean D(x,G(x))^2)``.
  G(x) is detached, so FPL (a function of y and G(x) only) changes the logged
  value and no gradient (see :mod:`heatmap_landmarks.losses`).
* G step: ``G_L = A_L + beta * Huber_0.4(y, G(x)) + fpl_weight * FPL(y, G(x))``
  with ``A_L = mean (D(x, G(x)) - 1)^2`` - the generator-side FPL is the only
  place where FPL can steer training.

Ablations (config): ``loss.adversarial=false`` (plain U-Net), ``loss.recon_loss="mse"``,
``loss.fpl=false``, ``model.heatmap_mode="single"|"per_landmark"``.

Three training-side choices make short CPU runs learn at all (all switchable, all in RESULTS.md):
the generator's output conv starts near zero (:func:`build_networks`), the first
``loss.adversarial_warmup_steps`` steps train G without D, and ``loss.sigma2_start`` /
``loss.sigma2_anneal_steps`` shrink the target Gaussians from wide to the paper's width.

Every ``optim.steps_per_epoch`` steps ("epoch"): validation (mean radial error
on the validation set, network pixels), the adaptive schedule
(:class:`AdaptiveSchedule`), a row in ``log.jsonl``/``log.csv``, the resume
state (``state.safetensors``) and, on a new best validation score,
``model_best.{safetensors,json}``. At the end the decoder settings (level,
min_confidence) are chosen on the validation set and written into the card of
the best model (``model.{safetensors,json}``; ``--export`` copies it).

This module holds the trainer and the command line; the config is
:mod:`training.cardiac.config`, the schedule :mod:`training.cardiac.schedule`,
validation and the decoder search :mod:`training.cardiac.decoder_search`, the
copy to shipped weights :mod:`training.cardiac.export`.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler, SequentialSampler

from heatmap_landmarks.checkpoint import ModelCard, load_card, load_checkpoint, save_checkpoint, weights_mismatch
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.heatmaps import SIGMA2_SEVERAL, SIGMA2_SINGLE
from heatmap_landmarks.losses import discriminator_loss, generator_loss
from heatmap_landmarks.models import (
    CardiacGenerator,
    CardiacGeneratorConfig,
    PatchDiscriminator,
    PatchDiscriminatorConfig,
    count_parameters,
    estimate_flops,
)

from ..common import (
    one_line_errors,
    DistContext,
    MetricsLog,
    RunBudget,
    all_reduce_mean,
    average_buffers,
    autocast,
    cleanup_ddp,
    leave_together,
    derive_seed,
    json_safe,
    load_training_state,
    make_grad_scaler,
    progress_bar,
    rank_weight_digests,
    save_training_state,
    seed_everything,
    setup_device_and_ddp,
    setup_logging,
    wrap_ddp,
)
from ..common.config import config_to_dict
from ..datasets import DatasetReport
from .config import CardiacTrainConfig, load_cardiac_config
from .data import (
    EpochStream,
    MixedCardiacDataset,
    PhantomCardiacDataset,
    PreparedCardiacDataset,
    load_real_cardiac,
    split_real_items,
)
from .decoder_search import (
    choose_decoder,
    decode_batch,
    predict_heatmaps,
    score_predictions,
    select_decoder,
    validation_metrics,
)
from .export import export_model
from .schedule import AdaptiveSchedule, dropout_of

log = logging.getLogger("training")

STATE_FILE = "state.safetensors"


# --------------------------------------------------------------------------- networks
#: What a model card says about each real dataset it was trained on: citation and terms of use.
DATASET_TERMS = {
    "acdc": (". Data: ACDC training set, Automated Cardiac Diagnosis Challenge (MICCAI 2017); cite O. Bernard et al., "
             "'Deep Learning Techniques for Automatic MRI Cardiac Multi-Structures Segmentation and Diagnosis: Is the "
             "Problem Solved?', IEEE TMI 37(11):2514-2525, 2018. The ACDC data may be used for research only, not "
             "for commercial purposes."),
    "stacom": (". Data: STACOM 2011 LV landmark data (Cardiac Atlas Project); see the Cardiac Atlas Project's terms "
               "of use."),
}


def build_networks(cfg: CardiacTrainConfig) -> tuple[CardiacGenerator, PatchDiscriminator | None]:
    """Generator (and discriminator unless ``loss.adversarial`` is false), channels from view and mode."""
    n_out = 1 if cfg.model.heatmap_mode == "single" else len(cfg.data.landmark_names)
    g_cfg = CardiacGeneratorConfig.from_dict({**cfg.model.generator, "in_channels": 1, "out_channels": n_out})
    gen = CardiacGenerator(g_cfg)
    # The output conv starts near zero (the core's He init gives outputs of std ~1 everywhere): the
    # first hundred steps would otherwise go into erasing that noise before any blob is learned.
    with torch.no_grad():
        torch.nn.init.normal_(gen.head[-1].weight, std=1e-3)
        torch.nn.init.zeros_(gen.head[-1].bias)
    disc = None
    if cfg.loss.adversarial:
        d_cfg = PatchDiscriminatorConfig.from_dict({**cfg.model.discriminator, "in_channels": 1 + n_out,
                                                    "conditional": True})
        disc = PatchDiscriminator(d_cfg)
    return gen, disc


# --------------------------------------------------------------------------- samplers
class _Skip(Sampler):
    """Skip the first ``n`` indices of a sampler (resume in the middle of an epoch)."""

    def __init__(self, sampler, n: int):
        self.sampler, self.n = sampler, int(n)

    def __iter__(self):
        return itertools.islice(iter(self.sampler), self.n, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.n, 0)


# --------------------------------------------------------------------------- the trainer
class Trainer:
    """Holds networks, optimisers, data and state of one run (see the module docstring)."""

    def __init__(self, cfg: CardiacTrainConfig, out_dir: Path, ctx: DistContext, *, resume: bool = False,
                 max_steps: int | None = None, max_minutes: float | None = None, show_progress: bool = True):
        self.cfg, self.out, self.ctx = cfg, out_dir, ctx
        self.names = cfg.data.landmark_names
        self.mode, self.view = cfg.model.heatmap_mode, cfg.data.view
        self.amp = cfg.optim.amp and ctx.is_cuda
        self.show_progress = show_progress and ctx.is_main
        seed_everything(cfg.seed)
        gen, disc = build_networks(cfg)
        self.gen_plain, self.disc_plain = gen.to(ctx.device), (disc.to(ctx.device) if disc is not None else None)
        self.gen = wrap_ddp(self.gen_plain, ctx)
        self.disc = wrap_ddp(self.disc_plain, ctx) if disc is not None else None
        betas = tuple(cfg.optim.betas)
        self.opt_g = torch.optim.Adam(self.gen.parameters(), lr=cfg.optim.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=cfg.optim.lr_d, betas=betas) if disc else None
        self.scaler_g = make_grad_scaler(ctx, cfg.optim.amp)
        self.scaler_d = make_grad_scaler(ctx, cfg.optim.amp)
        self.schedule = AdaptiveSchedule(cfg.schedule, self.gen, self.disc, self.opt_g, self.opt_d)
        self.step = 0
        self.prev_minutes = 0.0  # training minutes of earlier (resumed) runs
        self.best_score = math.inf
        self.best_state: dict | None = None
        self.acc: dict[str, float] = {}
        self.acc_n = 0
        self.report = DatasetReport(cfg.data.source)
        self.init_card: ModelCard | None = None
        self._build_data()
        if resume:
            self._resume()  # the resume state already holds the fine-tuned weights
            if cfg.model.init_from:  # but the cards still name where the run started
                self.init_card = load_card(cfg.model.init_from)
        elif cfg.model.init_from:
            self._init_from(cfg.model.init_from)
        self.budget = RunBudget(max_steps if max_steps is not None else cfg.optim.max_steps,
                                max_minutes if max_minutes is not None else cfg.optim.max_minutes)
        self.metrics = MetricsLog(out_dir, ctx.is_main, resume_step=self.step if resume else None)

    def _init_from(self, path: str) -> None:
        """Start the generator from the weights of a trained cardiac model (``model.init_from``)."""
        model, card = load_checkpoint(path)
        if card.task != "cardiac" or card.architecture != "CardiacGenerator":
            raise InputError(path, f"is a {card.task} {card.architecture} model, not a cardiac generator to start from")
        if card.view != self.view or card.heatmap_mode != self.mode or list(card.landmark_names) != list(self.names):
            raise InputError(path, f"was trained for view {card.view!r}, mode {card.heatmap_mode!r}, landmarks "
                                   f"{card.landmark_names}; this config trains {self.view!r}, {self.mode!r}, {self.names}")
        problems = weights_mismatch(self.gen_plain, model.state_dict())
        if problems:
            raise InputError(path, f"network shapes differ from model.generator of the config: {'; '.join(problems)}")
        self.gen_plain.load_state_dict(model.state_dict())
        self.init_card = card
        log.info("generator initialised from %s (%s)", path, card.name)

    # -- data ------------------------------------------------------------------
    def _build_data(self) -> None:
        cfg = self.cfg
        d = cfg.data
        if d.source == "phantom":
            base = PhantomCardiacDataset(d.train_seeds, d, apical_fraction=d.apical_fraction)
            val_ds = PhantomCardiacDataset(d.val_seeds, d, randomisation=d.val_randomisation)
            self.val_items = [val_ds.item(i) for i in range(len(val_ds))]
            self.report.add_loaded("phantom training seeds available", len(base))
            self.report.add_loaded("phantom validation seeds", len(self.val_items))
            shuffle = False
            apical = f", {d.apical_fraction:.0%} of slices drawn from the apical third" if d.apical_fraction else ""
            self.data_note = (f"phantom seeds {d.train_seeds} (randomisation {d.randomisation}{apical}), "
                              f"validation seeds {d.val_seeds} ({d.val_randomisation})")
        else:
            items, self.report = load_real_cardiac(d, mode=self.mode, report=self.report)
            train, val, test, split = split_real_items(items, d, cfg.seed)
            if not train or not val:
                raise InputError(d.root, f"split left {len(train)} training and {len(val)} validation images; "
                                         "need both (more patients, or other fractions)")
            if d.synth_fraction or d.phantom_fraction:
                base = MixedCardiacDataset(train, d, seed=cfg.seed, synth_fraction=d.synth_fraction,
                                           phantom_fraction=d.phantom_fraction)
            else:
                base = PreparedCardiacDataset(train)
            self.val_items = val
            self.test_groups = split.test_groups
            shuffle = True
            how = (f" (stratified by group: {d.test_per_stratum} test and {d.val_per_stratum} validation patients "
                   f"per group, split seed {d.split_seed})" if d.test_per_stratum
                   else f" (fold {d.fold} of {d.folds})" if d.folds else " (70/30 then 80/20)")
            labels = f", landmarks from the {'expert masks' if d.acdc_labels == 'gt' else 'RVIP label volumes'}" \
                if d.source == "acdc" else ""
            mix = ""
            if d.synth_fraction or d.phantom_fraction:
                mix = (f"; training samples: {1 - d.synth_fraction - d.phantom_fraction:.0%} real images, "
                       f"{d.synth_fraction:.0%} synthesised from the real label maps (random contrast, SynthSeg-style), "
                       f"{d.phantom_fraction:.0%} synthetic phantoms (seeds {d.train_seeds})")
            self.data_note = (f"{d.source} {d.root}{labels}: {len(split.train_groups)} train / "
                              f"{len(split.val_groups)} val / {len(split.test_groups)} test patients{how}; "
                              f"validation patients {', '.join(split.val_groups)}; test patients (never seen in "
                              f"training or model choice) {', '.join(split.test_groups)}{mix}")
        per_epoch = cfg.optim.steps_per_epoch * cfg.optim.batch_size * self.ctx.world_size
        self.stream = EpochStream(base, per_epoch, seed=cfg.seed, shuffle=shuffle, mode=self.mode, view=self.view,
                                  augment=cfg.augment, input_size=d.input_size, crop_size=d.crop_size)
        if self.ctx.is_main:
            log.info("data: %s; %s", self.data_note, self.report.summary())

    def _loader(self, skip_batches: int) -> DataLoader:
        if self.ctx.distributed:
            sampler = DistributedSampler(self.stream, num_replicas=self.ctx.world_size, rank=self.ctx.rank,
                                         shuffle=False, drop_last=True)
        else:
            sampler = SequentialSampler(self.stream)
        sampler = _Skip(sampler, skip_batches * self.cfg.optim.batch_size)
        nw = self.cfg.data.num_workers
        # Its own generator: creating a loader iterator must not consume the global torch RNG (dropout),
        # or a run resumed mid-epoch would drift from an uninterrupted one.
        gen = torch.Generator().manual_seed(derive_seed(self.cfg.seed, self.stream.epoch, 31))
        return DataLoader(self.stream, batch_size=self.cfg.optim.batch_size, sampler=sampler, num_workers=nw,
                          pin_memory=self.ctx.is_cuda, drop_last=True, persistent_workers=False,
                          prefetch_factor=2 if nw else None, generator=gen)

    # -- one step -------------------------------------------------------------------
    def train_step(self, batch: dict) -> dict:
        cfg, ctx = self.cfg, self.ctx
        lc = cfg.loss
        x = batch["image"].to(ctx.device, non_blocking=True)
        y = batch["target"].to(ctx.device, non_blocking=True)
        m = batch["mask"].to(ctx.device, non_blocking=True)[:, :, None, None]
        y = y * m  # unknown (unannotated) channels: target and prediction both zeroed
        parts: dict[str, float] = {}
        fpl_weight = lc.fpl_weight if lc.fpl else 0.0
        with autocast(ctx, self.amp):
            pred = self.gen(x)
        pred = pred.float() * m
        if self.disc is not None and self.step >= lc.adversarial_warmup_steps:
            # -- discriminator: MDL = SDL + FPL (FPL's gradient path: none here, see losses.py)
            # Real and fake pairs go through D as one batch: one DDP forward per backward, and batch
            # norm sees both halves with the same statistics (D cannot tell them apart by batch stats).
            self.disc.requires_grad_(True)
            with autocast(ctx, self.amp):
                logits = self.disc(torch.cat([x, x]), torch.cat([y, pred.detach()]))
            real, fake = logits[: len(x)], logits[len(x):]
            dl = discriminator_loss(real.float(), fake.float(), y, pred.detach(), lc.alpha, include_fpl=lc.fpl,
                                    fpl_threshold=lc.fpl_threshold, fpl_margin=lc.fpl_margin)
            self.opt_d.zero_grad(set_to_none=True)
            self.scaler_d.scale(dl.total).backward()
            self.scaler_d.step(self.opt_d)
            self.scaler_d.update()
            parts.update({f"d_{k}": v for k, v in dl.parts.items()})
            parts["d_mdl"] = parts.pop("d_total")
            # -- generator: G_L = A_L + beta * recon + fpl_weight * FPL
            # D is frozen here and called without its DDP wrapper: its parameters get no gradient,
            # which a DDP reducer would wait for; gradients still flow through D into G.
            self.disc.requires_grad_(False)
            with autocast(ctx, self.amp):
                fake_g = self.disc_plain(x, pred)
            gl = generator_loss(fake_g.float(), pred, y, lc.beta, lc.huber_delta, adversarial=True,
                                regression=lc.recon_loss, fpl_weight=fpl_weight, alpha=lc.alpha,
                                fpl_threshold=lc.fpl_threshold, fpl_margin=lc.fpl_margin,
                                foreground_weight=lc.foreground_weight,
                                false_peak_weight=lc.false_peak_weight, false_peak_below=lc.false_peak_below)
        else:
            gl = generator_loss(None, pred, y, lc.beta, lc.huber_delta, adversarial=False,
                                regression=lc.recon_loss, fpl_weight=fpl_weight, alpha=lc.alpha,
                                fpl_threshold=lc.fpl_threshold, fpl_margin=lc.fpl_margin,
                                foreground_weight=lc.foreground_weight,
                                false_peak_weight=lc.false_peak_weight, false_peak_below=lc.false_peak_below)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(gl.total).backward()
        if cfg.optim.grad_clip:
            self.scaler_g.unscale_(self.opt_g)
            torch.nn.utils.clip_grad_norm_(self.gen.parameters(), cfg.optim.grad_clip)
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        parts.update({f"g_{k}": v for k, v in gl.parts.items()})
        if not all(math.isfinite(v) for v in parts.values()):
            bad = {k: v for k, v in parts.items() if not math.isfinite(v)}
            raise FloatingPointError(f"non-finite loss at step {self.step + 1}: {bad}")
        return parts

    # -- epoch end ----------------------------------------------------------------
    def validate(self, decoder: dict | None = None) -> tuple[dict, np.ndarray]:
        heat = predict_heatmaps(self.gen, self.val_items, self.ctx, self.cfg.eval.val_batch_size, self.amp)
        dec = decoder or self.cfg.eval.decoder()
        pts, _ = decode_batch(heat, self.names, self.mode, self.view, dec, self.cfg.data.spacing_mm)
        return score_predictions(pts, self.val_items, self.names, self.cfg.schedule.miss_penalty_px), heat

    def end_epoch(self, partial: bool = False) -> None:
        ctx = self.ctx
        if not partial:  # a stop mid-epoch saves rank 0's own statistics, so that a resumed run continues exactly
            self._average_buffers()
        means = {k: all_reduce_mean(v / max(self.acc_n, 1), ctx) for k, v in self.acc.items()}
        val = {}
        if ctx.is_main:
            val, _ = self.validate()
        score = all_reduce_mean(val.get("score", 0.0) * ctx.world_size, ctx) if ctx.distributed else val["score"]
        changes = [] if partial else self.schedule.step(means, score)
        for c in changes:
            log.info("schedule: %s", c)
        improved = score < self.best_score
        if improved:
            self.best_score = score
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.gen_plain.state_dict().items()}
        if ctx.is_main:
            row = {"step": self.step, "epoch": self.step / self.cfg.optim.steps_per_epoch,
                   "target_sigma2": self.stream.sigma2,
                   "minutes": round(self.prev_minutes + self.budget.elapsed_minutes(), 3), "partial": partial,
                   "lr_g": self.opt_g.param_groups[0]["lr"],
                   "lr_d": self.opt_d.param_groups[0]["lr"] if self.opt_d else None,
                   "dropout_g": dropout_of(self.gen), "dropout_d": dropout_of(self.disc) if self.disc else None,
                   **{k: round(v, 6) for k, v in means.items()},
                   **{f"val_{k}": (round(v, 4) if isinstance(v, float) else v) for k, v in val.items()},
                   "best": improved, "changes": changes}
            self.metrics.append(row)
            log.info("step %d | G %.4f (adv %s, recon %.5f, fpl %s) | D %s | val %.3f px (score %.3f, missed %d, "
                     "false %d)%s", self.step, means.get("g_total", math.nan),
                     _f(means.get("g_adversarial")), means.get("g_regression", math.nan), _f(means.get("g_fpl")),
                     _f(means.get("d_sdl")), val["mean_px"], val["score"], val["missed"], val["false"],
                     " *best*" if improved else "")
            if improved:
                self._save_model("model_best", self.best_state, metrics={"validation": json_safe(val)})
        if not partial:
            self.acc, self.acc_n = {}, 0
        if ctx.is_main:
            self._save_state()

    def _average_buffers(self) -> None:
        average_buffers(self.gen_plain, self.ctx)
        if self.disc_plain is not None:
            average_buffers(self.disc_plain, self.ctx)

    # -- saving ----------------------------------------------------------------------
    def _card(self, decoder: dict, metrics: dict) -> ModelCard:
        cfg = self.cfg
        g = self.gen_plain
        flops = estimate_flops(g, (1, 1, *cfg.data.input_size))
        d = cfg.data
        if d.source == "phantom":
            training_data = (f"synthetic phantom only (heatmap_landmarks.phantoms, view {d.view}): training seeds "
                             f"{d.train_seeds} (randomisation '{d.randomisation}', phase {d.phase}"
                             + (f", {d.apical_fraction:.0%} of slices from the apical third" if d.apical_fraction else "")
                             + "), one new seed "
                             f"per sample, {self.step} steps x batch {cfg.optim.batch_size} = "
                             f"{self.step * cfg.optim.batch_size * self.ctx.world_size} samples with on-the-fly "
                             f"augmentation; validation seeds {d.val_seeds} ('{d.val_randomisation}'). "
                             "No real patient data.")
        else:
            training_data = self.data_note + DATASET_TERMS.get(d.source, "")
        if self.init_card is not None:
            training_data = (f"fine-tuned from {self.init_card.name} ({self.cfg.model.init_from}), itself trained on: "
                             f"{self.init_card.training_data} | Fine-tuning: {training_data}")
        notes = (f"Kanakatte et al. cardiac landmark GAN reproduction; config '{cfg.name}'; "
                 f"losses: adversarial={cfg.loss.adversarial}, recon={cfg.loss.recon_loss}, fpl={cfg.loss.fpl} "
                 f"(generator-side weight {cfg.loss.fpl_weight if cfg.loss.fpl else 0})"
                 + (f", false-peak weight {cfg.loss.false_peak_weight} (target < {cfg.loss.false_peak_below})"
                    if cfg.loss.false_peak_weight else "") + "; "
                 f"{count_parameters(g)} parameters, {flops / 1e9:.3f} GFLOP per 256x256 frame. "
                 "Decoder settings chosen on validation seeds.")
        return ModelCard(
            name=f"cardiac-{self.view}-{cfg.name}", task="cardiac", view=self.view, architecture="CardiacGenerator",
            config=g.config.to_dict(), landmark_names=list(self.names), heatmap_mode=self.mode,
            sigma2=SIGMA2_SEVERAL if self.mode == "single" else SIGMA2_SINGLE,
            input_size=list(cfg.data.input_size), input_spacing_mm=cfg.data.spacing_mm,
            normalisation={"method": "percentile", "low": cfg.data.percentiles[0], "high": cfg.data.percentiles[1]},
            decoder=decoder, training_data=training_data, metrics=metrics, notes=notes)

    def _save_model(self, stem: str, state: dict, *, metrics: dict, decoder: dict | None = None) -> Path:
        with torch.random.fork_rng(devices=[]):  # initialising a network must not move the training RNG
            net = CardiacGenerator(self.gen_plain.config)
        net.load_state_dict(state)
        dec = decoder or self.cfg.eval.decoder()
        _, card_path = save_checkpoint(net, self._card(dec, metrics), self.out / stem, overwrite=True)
        return card_path

    def _state_parts(self) -> tuple[dict, dict, dict]:
        """Models, optimisers and grad scalers saved in (and restored from) the resume state."""
        models = {"generator": self.gen_plain}
        opts = {"generator": self.opt_g}
        scalers = {"generator": self.scaler_g}
        if self.disc is not None:
            models["discriminator"] = self.disc_plain
            opts["discriminator"] = self.opt_d
            scalers["discriminator"] = self.scaler_d
        return models, opts, scalers

    def _save_state(self) -> None:
        models, opts, scalers = self._state_parts()
        extra = {"schedule": self.schedule.state(), "best_score": self.best_score if math.isfinite(self.best_score)
                 else None, "acc": self.acc, "acc_n": self.acc_n,
                 "dropout_g": dropout_of(self.gen), "dropout_d": dropout_of(self.disc) if self.disc else None,
                 "minutes": self.prev_minutes + self.budget.elapsed_minutes(),
                 "config": config_to_dict(self.cfg)}
        save_training_state(self.out / STATE_FILE, models=models, optimizers=opts, scalers=scalers,
                            step=self.step, epoch=self.step // self.cfg.optim.steps_per_epoch, extra=extra)

    def _resume(self) -> None:
        models, opts, scalers = self._state_parts()
        meta = load_training_state(self.out / STATE_FILE, models=models, optimizers=opts, scalers=scalers,
                                   device=self.ctx.device)
        extra = meta["extra"]
        self.step = meta["step"]
        self.schedule.load(extra.get("schedule", {}))
        self.best_score = math.inf if extra.get("best_score") is None else float(extra["best_score"])
        self.acc, self.acc_n = dict(extra.get("acc", {})), int(extra.get("acc_n", 0))
        self.prev_minutes = float(extra.get("minutes", 0.0))
        self.gen_plain.set_dropout(float(extra["dropout_g"]))
        if self.disc is not None and extra.get("dropout_d") is not None:
            self.disc_plain.set_dropout(float(extra["dropout_d"]))
        best = self.out / "model_best.json"
        if best.exists():
            with torch.random.fork_rng(devices=[]):  # building the network draws init weights: keep the RNG
                model, _ = load_checkpoint(best)
            self.best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if self.ctx.is_main:
            log.info("resumed from %s at step %d (best validation score %.3f)", self.out / STATE_FILE, self.step,
                     self.best_score)

    def target_sigma2(self) -> float | None:
        """Training target variance (px^2) for the current epoch; None = the paper's width."""
        lc = self.cfg.loss
        if not lc.sigma2_start or not lc.sigma2_anneal_steps:
            return None
        final = SIGMA2_SEVERAL if self.mode == "single" else SIGMA2_SINGLE
        epoch_start = (self.step // self.cfg.optim.steps_per_epoch) * self.cfg.optim.steps_per_epoch
        frac = min(epoch_start / lc.sigma2_anneal_steps, 1.0)
        return None if frac >= 1.0 else float(lc.sigma2_start + (final - lc.sigma2_start) * frac)

    # -- the loop -----------------------------------------------------------------
    def fit(self) -> dict:
        cfg, ctx = self.cfg, self.ctx
        spe = cfg.optim.steps_per_epoch
        if ctx.is_main:
            g = self.gen_plain
            log.info("generator: %d parameters, %.3f GFLOP/frame; discriminator: %s parameters; device %s%s; "
                     "world size %d", count_parameters(g), estimate_flops(g, (1, 1, *cfg.data.input_size)) / 1e9,
                     count_parameters(self.disc_plain) if self.disc_plain is not None else "none", ctx.device,
                     " (AMP)" if self.amp else "", ctx.world_size)
        bar = progress_bar(total=self.budget.max_steps, initial=self.step, desc=cfg.name, enabled=self.show_progress)
        t0 = time.monotonic()
        start_step = self.step
        stop = self.budget.exhausted(self.step)
        while not stop:
            self.stream.epoch = self.step // spe
            self.stream.sigma2 = self.target_sigma2()
            for batch in self._loader(self.step % spe):
                parts = self.train_step(batch)
                self.step += 1
                for k, v in parts.items():
                    self.acc[k] = self.acc.get(k, 0.0) + v
                self.acc_n += 1
                bar.update(1)
                bar.set_postfix(G=f"{parts['g_total']:.3f}", D=f"{parts.get('d_sdl', float('nan')):.3f}")
                if self.step % spe == 0:
                    self.end_epoch()
                if self.budget.exhausted(self.step):
                    stop = True
                    break
        bar.close()
        if self.step % spe != 0 and self.step > start_step:
            self.end_epoch(partial=True)
            self._average_buffers()  # the final weights: equal on every rank
        seconds = time.monotonic() - t0
        summary = {"steps": self.step, "stop_reason": self.budget.reason, "seconds_this_run": round(seconds, 1),
                   "seconds_per_step": round(seconds / max(self.step - start_step, 1), 4),
                   "world_size": ctx.world_size, "rank_weight_digests": rank_weight_digests(self.gen_plain, ctx)}
        if ctx.is_main:
            summary.update(self.finish())
            (self.out / "summary.json").write_text(json.dumps(json_safe(summary), indent=2) + "\n", encoding="utf-8")
            log.info("done: %s", json.dumps(json_safe(summary)))
        return summary

    def finish(self) -> dict:
        """Choose the decoder on validation with the best weights; write ``model.{safetensors,json}``."""
        state = self.best_state or {k: v.detach().cpu().clone() for k, v in self.gen_plain.state_dict().items()}
        current = {k: v.detach().cpu().clone() for k, v in self.gen_plain.state_dict().items()}
        self.gen_plain.load_state_dict(state)
        heat = predict_heatmaps(self.gen_plain, self.val_items, self.ctx, self.cfg.eval.val_batch_size, self.amp)
        self.gen_plain.load_state_dict(current)
        decoder, best_row, rows = choose_decoder(heat, self.val_items, self.cfg)
        (self.out / "decoder_search.json").write_text(json.dumps(json_safe(rows), indent=1) + "\n", encoding="utf-8")
        metrics = validation_metrics(best_row, self.cfg)
        card_path = self._save_model("model", state, metrics=metrics, decoder=decoder)
        # The last weights too (same decoder, no validation of their own): with a small validation set the
        # best-scoring epoch can be a lucky one; --select-decoder on more seeds can then compare the two.
        last_path = self._save_model("model_last", current, metrics={}, decoder=decoder)
        self.report_skips()
        return {"model": str(card_path), "model_last": str(last_path), "decoder": decoder,
                "validation": metrics["validation"]}

    def report_skips(self) -> None:
        rep = self.report
        data = {"summary": rep.summary(), "loaded": dict(rep.loaded),
                "skipped": [dataclasses.asdict(s) for s in rep.skipped], "notes": dict(rep.notes)}
        (self.out / "data_report.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _f(v) -> str:
    return "-" if v is None else f"{v:.4f}"


# --------------------------------------------------------------------------- CLI
def run(cfg: CardiacTrainConfig, out_dir: str | os.PathLike, *, resume: bool = False, max_steps: int | None = None,
        max_minutes: float | None = None, export: str | None = None, overwrite: bool = False,
        show_progress: bool = True, quiet: bool = False) -> dict:
    """Train with ``cfg`` into ``out_dir`` (see the module docstring); returns the summary (main rank)."""
    out = Path(out_dir)
    threads = cfg.optim.threads or None
    ctx = setup_device_and_ddp(cfg.device, threads=threads)
    try:
        if ctx.is_main:
            if resume:
                if not (out / STATE_FILE).is_file():
                    raise InputError(out / STATE_FILE, "not found; nothing to resume (train without --resume first)")
            elif out.exists() and any(out.iterdir()):
                if not overwrite:
                    raise InputError(out, "output folder exists and is not empty; pass --resume to continue the "
                                          "run in it or --overwrite to start again")
                for name in ("log.jsonl", "log.csv", STATE_FILE, "summary.json", "train.log"):
                    if (out / name).exists():
                        (out / name).unlink()
            out.mkdir(parents=True, exist_ok=True)
            (out / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=2) + "\n", encoding="utf-8")
        setup_logging(out if ctx.is_main else None, ctx, quiet=quiet)
        if ctx.distributed:
            import torch.distributed as dist

            dist.barrier()
        trainer = Trainer(cfg, out, ctx, resume=resume, max_steps=max_steps, max_minutes=max_minutes,
                          show_progress=show_progress)
        summary = trainer.fit()
        if export and ctx.is_main:
            w, c = export_model(out, export, overwrite=True)
            summary["exported"] = [str(w), str(c)]
            log.info("exported %s and %s", w, c)
        leave_together(ctx)
        return summary
    finally:
        cleanup_ddp(ctx)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.cardiac.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="JSON (or YAML) training config")
    p.add_argument("--out", help="run folder (default runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/state.safetensors")
    p.add_argument("--overwrite", action="store_true", help="start again in a non-empty --out folder")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (overrides optim.max_steps)")
    p.add_argument("--max-minutes", type=float, help="wall-clock budget (overrides optim.max_minutes)")
    p.add_argument("--device", help="auto, cpu or cuda (overrides the config)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (overrides optim.threads)")
    p.add_argument("--export", help="also write the final model to this stem, e.g. heatmap_landmarks/weights/cardiac_sax")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet", action="store_true", help="no log lines on stderr (the log file is still written)")
    p.add_argument("--val-seeds", metavar="START:STOP",
                   help="phantom validation seeds (overrides data.val_seeds), e.g. a larger set for --select-decoder")
    p.add_argument("--select-decoder", metavar="CARD",
                   help="do not train: re-choose the decoder of this trained model card on the config's "
                        "validation set and write it into the card")
    p.add_argument("--rotations", type=int, choices=(1, 2, 4), default=1,
                   help="with --select-decoder: score test-time averaging over this many quarter turns and "
                        "record it in the card (rotations)")
    args = p.parse_args(argv)
    overrides = {}
    if args.device:
        overrides["device"] = args.device
    if args.threads is not None:
        overrides["optim.threads"] = args.threads
    if args.val_seeds:
        overrides["data.val_seeds"] = args.val_seeds
    cfg = load_cardiac_config(args.config, overrides)
    if args.select_decoder:
        if cfg.optim.threads:
            torch.set_num_threads(cfg.optim.threads)
        row = select_decoder(cfg, args.select_decoder, rotations=args.rotations)
        print(json.dumps(json_safe(row)))
        return 0
    if args.rotations != 1:
        raise InputError(args.config, "--rotations applies to --select-decoder only (training validates unrotated)")
    out = args.out or os.path.join("runs", cfg.name)
    run(cfg, out, resume=args.resume, max_steps=args.max_steps, max_minutes=args.max_minutes,
        export=args.export, overwrite=args.overwrite, show_progress=not args.no_progress, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
