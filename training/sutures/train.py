"""Train the suture heatmap network (Yao et al., "Improved Heatmap-based Landmark Detection", AdaptOR 2021).

ResNeXt-encoder U-Net (:class:`heatmap_landmarks.models.ResNeXtUNet`) on RGB
frames at their native scale (padded to multiples of 32, never resized),
one heatmap channel holding a Gaussian per suture entry point, trained with
soft Dice (BCE, focal or Dice + BCE for comparison). Decoding (Otsu, opening,
cutting, centroids) is tuned on validation frames after training and written
into the model card's ``decoder``.

Usage::

    python -m training.sutures.train --config training/configs/sutures.json
    torchrun --nproc_per_node 4 -m training.sutures.train --config ...   # DDP
    python -m training.sutures.train --config ... --resume auto           # continue a run

CUDA + AMP are used when present. Outputs in ``out_dir``: ``model.{json,safetensors}``
(the best validation checkpoint, decoder tuned, held-out metrics in the card),
``last.safetensors`` (resume state, no pickle), ``log.jsonl``/``log.csv``,
``train.log``, ``config.json``, ``summary.json``, ``decoder_search.csv``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from heatmap_landmarks.checkpoint import ModelCard, save_checkpoint
from heatmap_landmarks.errors import InputError, refuse_overwrite
from heatmap_landmarks.losses import bce_loss, focal_loss, soft_dice_loss
from heatmap_landmarks.metrics import pooled_detection_scores, write_csv
from heatmap_landmarks.models import build_model, count_parameters, estimate_flops
from heatmap_landmarks.preprocess import IMAGENET_MEAN, IMAGENET_STD

from ..common import (
    one_line_errors,
    MetricsLog,
    average_buffers,
    RunBudget,
    autocast,
    cleanup_ddp,
    leave_together,
    derive_seed,
    load_training_state,
    make_grad_scaler,
    progress_bar,
    rank_weight_digests,
    save_training_state,
    seed_everything,
    setup_device_and_ddp,
    prepare_run_dir,
    setup_logging,
    unwrap,
    wrap_ddp,
)
from .config import SutureTrainConfig, TargetConfig
from .data import SutureTrainDataset, source_from_spec
from .evaluate import DEFAULT_DECODER_GRID, choose_decoder, evaluate, format_table, heatmaps_of

# --------------------------------------------------------------------------- pieces
def compute_loss(cfg: SutureTrainConfig, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The configured loss on float32 logits ``(B, 1, H, W)`` and targets in [0, 1]."""
    logits = logits.float()
    if cfg.loss == "dice":
        return soft_dice_loss(logits, target)
    if cfg.loss == "bce":
        return bce_loss(logits, target, pos_weight=cfg.bce_pos_weight)
    if cfg.loss == "focal":
        return focal_loss(logits, target, gamma=cfg.focal_gamma, alpha=cfg.focal_alpha)
    return soft_dice_loss(logits, target) + bce_loss(logits, target, pos_weight=cfg.bce_pos_weight)


def learning_rate(cfg: SutureTrainConfig, step: int, elapsed_minutes: float) -> float:
    """Linear warm-up, then cosine decay over the run's progress (steps or minutes, whichever is further).

    >>> cfg = SutureTrainConfig(train=[{}], val=[{}], lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.0)
    >>> learning_rate(cfg, 4, 0.0), learning_rate(cfg, 60, 0.0), round(learning_rate(cfg, 110, 0.0), 6)
    (0.5, 0.5, 0.0)
    """
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(cfg.max_steps - cfg.warmup_steps, 1)
    if cfg.max_minutes:
        progress = max(progress, elapsed_minutes / cfg.max_minutes)
    progress = min(max(progress, 0.0), 1.0)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_network(cfg: SutureTrainConfig) -> torch.nn.Module:
    """The configured ResNeXtUNet: from ``cfg.init_from``'s weights, else fresh with the head bias ``cfg.head_bias_init``."""
    net = build_model("ResNeXtUNet", cfg.model)
    if cfg.init_from:
        from heatmap_landmarks.checkpoint import load_checkpoint

        trained, card = load_checkpoint(cfg.init_from)  # sha256-checked safetensors, no pickle
        if card.task != "sutures":
            raise InputError(cfg.init_from, f"is a '{card.task}' model; init_from needs a suture model")
        if trained.config.to_dict() != net.config.to_dict():
            raise InputError(cfg.init_from, "its network config differs from this run's 'model'")
        net.load_state_dict(trained.state_dict())
    elif cfg.head_bias_init is not None:
        torch.nn.init.constant_(net.head.bias, float(cfg.head_bias_init))
    return net


class EpochSampler(torch.utils.data.Sampler):
    """Shuffled indices of one epoch for this rank, starting at an offset (exact resume).

    The permutation depends only on (seed, epoch); rank ``r`` of ``w`` takes
    every ``w``-th index, so processes never see the same frame in an epoch.
    """

    def __init__(self, n: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1, start: int = 0):
        perm = np.random.default_rng(derive_seed(seed, epoch)).permutation(n)
        self.indices = perm[rank::world_size][start:].tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _training_data(cfg: SutureTrainConfig) -> str:
    """What the network saw: this run's data, and the data of the model it was fine-tuned from."""
    if not cfg.init_from:
        return cfg.training_data
    from heatmap_landmarks.checkpoint import load_card

    start = load_card(cfg.init_from)
    return (f"fine-tuned from {start.name} ({cfg.init_from}), itself trained on: {start.training_data} "
            f"Then: {cfg.training_data}")


def make_card(cfg: SutureTrainConfig, model, decoder: dict, metrics: dict, input_size) -> ModelCard:
    """The model card of a suture network trained by this script."""
    return ModelCard(
        name=cfg.name, task="sutures", view=None, architecture="ResNeXtUNet",
        config=unwrap(model).config.to_dict(), landmark_names=["suture"], heatmap_mode="single",
        sigma2=float(cfg.sigma2), input_size=list(input_size), input_spacing_mm=None,
        normalisation={"method": "mean_std", "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
        decoder=dict(decoder), training_data=_training_data(cfg), metrics=metrics, notes=cfg.notes,
    )


def _frames(specs: Sequence[dict]):
    frames = []
    for spec in specs:
        spec = {k: v for k, v in spec.items() if k != "name"}
        if spec.get("kind") == "adaptor":
            spec.pop("domain", None)  # the fold count of a test set, not a loader option
        src = source_from_spec(spec)
        frames += [src[i] for i in range(len(src))]
    return frames


def validate(model, frames, decoder: dict, ctx, batch_size: int) -> tuple[dict, list]:
    """Pooled detection scores of ``frames`` with ``decoder``; returns (scores, heatmaps)."""
    from heatmap_landmarks.sutures.decode import decode_sutures

    heat = heatmaps_of(unwrap(model), [f.image for f in frames], mean=IMAGENET_MEAN, std=IMAGENET_STD,
                       device=ctx.device, batch_size=batch_size)
    preds = [decode_sutures(h, **decoder)[0] for h in heat]
    scores = pooled_detection_scores(preds, [f.points for f in frames]).to_dict()
    return scores, heat


# --------------------------------------------------------------------------- main loop
def train(cfg: SutureTrainConfig, *, resume: str | None = None, overwrite: bool = False,
          export: str | None = None, quiet: bool = False) -> dict:
    """Run training as configured; returns the summary dict (also written to ``summary.json``)."""
    ctx = setup_device_and_ddp(cfg.device, threads=cfg.threads)
    out = Path(cfg.out_dir)
    try:
        prepare_run_dir(out, ctx, resume=resume, overwrite=overwrite)
        log = setup_logging(out, ctx, quiet=quiet)
        summary = _train(cfg, ctx, out, log, resume, export, overwrite, quiet)
        leave_together(ctx)
        return summary
    finally:
        cleanup_ddp(ctx)


def _train(cfg, ctx, out: Path, log, resume, export, overwrite, quiet) -> dict:
    seed_everything(cfg.seed + ctx.rank)
    sources = [source_from_spec(s) for s in cfg.train]
    for s in sources:
        log.info("train source: %s (%d frames)", s.name, len(s))
    target = TargetConfig(sigma2=cfg.sigma2)
    dataset = SutureTrainDataset(sources, cfg.augment, seed=cfg.seed, target=target)
    if len(dataset) < cfg.batch_size * ctx.world_size:
        raise InputError(None, f"{len(dataset)} training frames are fewer than one batch "
                               f"({cfg.batch_size} x {ctx.world_size} processes)")
    val_frames = _frames(cfg.val) if ctx.is_main else []
    log.info("validation: %d frames with %d points", len(val_frames), sum(len(f.points) for f in val_frames))

    model = build_network(cfg).to(ctx.device)
    if ctx.distributed and ctx.is_cuda:  # batch statistics over all GPUs (SyncBN is CUDA-only)
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    net = unwrap(model)
    params = count_parameters(net)
    input_size = list(val_frames[0].image.shape[:2]) if val_frames else [288, 512]
    flops = estimate_flops(net, (1, 3, -(-input_size[0] // 32) * 32, -(-input_size[1] // 32) * 32))
    log.info("ResNeXtUNet: %d parameters, %.2f GFLOPs per %dx%d frame", params, flops / 1e9, *input_size)
    model = wrap_ddp(model, ctx)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = make_grad_scaler(ctx, cfg.amp)

    step, best = 0, {"f1": -1.0, "step": 0}
    counts = {"frames": 0, "points_seen": 0, "points_kept": 0, "dropped_rotation": 0, "dropped_crop": 0}
    elapsed_before = 0.0
    state_path = out / "last.safetensors"
    if resume:
        path = state_path if resume == "auto" else Path(resume)
        info = load_training_state(path, models={"net": model}, optimizers={"adamw": opt},
                                   scalers={"amp": scaler}, device=ctx.device)
        step = info["step"]
        best = info["extra"].get("best", best)
        counts = info["extra"].get("counts", counts)
        elapsed_before = float(info["extra"].get("elapsed_minutes", 0.0))
        log.info("resumed from %s at step %d (best val F1 %.4f at step %d)", path, step, best["f1"], best["step"])
    if ctx.is_main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n", encoding="utf-8")
    metrics_log = MetricsLog(out, enabled=ctx.is_main, resume_step=step if resume else None)
    budget = RunBudget(cfg.max_steps, cfg.max_minutes - elapsed_before if cfg.max_minutes else None)
    default_decoder = {"opening_kernel": 3, "cut": True, "cut_ratio": 1.25, "min_confidence": 0.3}

    per_rank = len(dataset) // ctx.world_size
    steps_per_epoch = max(per_rank // cfg.batch_size, 1)
    bar = progress_bar(total=cfg.max_steps, desc="train sutures", enabled=ctx.is_main and not quiet, initial=step)
    running, running_n = 0.0, 0
    t_start = time.perf_counter()
    stop = False
    while not stop:
        epoch, offset = divmod(step, steps_per_epoch)
        dataset.set_epoch(epoch)
        sampler = EpochSampler(len(dataset), cfg.seed, epoch, ctx.rank, ctx.world_size, offset * cfg.batch_size)
        loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler, drop_last=True,
                                             num_workers=cfg.num_workers, pin_memory=ctx.is_cuda)
        model.train()
        for batch in loader:
            lr = learning_rate(cfg, step, elapsed_before + budget.elapsed_minutes())
            for g in opt.param_groups:
                g["lr"] = lr
            x = batch["image"].to(ctx.device, non_blocking=True)
            y = batch["heatmap"].to(ctx.device, non_blocking=True)
            with autocast(ctx, cfg.amp):
                logits = model(x)
            loss = compute_loss(cfg, logits, y)
            if not torch.isfinite(loss):
                raise RuntimeError(f"loss became {float(loss)} at step {step}; lower lr or check the data")
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            step += 1
            running += float(loss.detach())
            running_n += 1
            counts["frames"] += len(x)
            counts["points_seen"] += int(batch["n_seen"].sum())
            counts["points_kept"] += int(batch["n_points"].sum())
            counts["dropped_rotation"] += int(batch["n_dropped_rotation"].sum())
            counts["dropped_crop"] += int(batch["n_dropped_crop"].sum())
            bar.update(1)
            bar.set_postfix(loss=f"{running / running_n:.4f}", lr=f"{lr:.2e}")
            stop = budget.exhausted(step)
            if ctx.distributed:  # every rank must stop at the same step
                flag = torch.tensor([1.0 if stop else 0.0], device=ctx.device)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                stop = bool(flag.item() > 0)
            if step % cfg.val_every == 0:
                average_buffers(net, ctx)  # every rank: equal batch-norm statistics before validating and saving
            if ctx.is_main and (step % cfg.val_every == 0 or stop):
                scores, _ = validate(model, val_frames, default_decoder, ctx, cfg.batch_size)
                model.train()
                row = {"step": step, "epoch": epoch, "train_loss": running / max(running_n, 1), "lr": lr,
                       "minutes": elapsed_before + budget.elapsed_minutes(), **{f"val_{k}": v for k, v in scores.items()},
                       **counts}
                metrics_log.append(row)
                log.info("step %d: train loss %.4f, val P %.3f S %.3f F1 %.3f (%.1f min)", step, row["train_loss"],
                         scores["precision"], scores["sensitivity"], scores["f1"], row["minutes"])
                running, running_n = 0.0, 0
                if scores["f1"] > best["f1"]:
                    best = {"f1": scores["f1"], "step": step}
                    card = make_card(cfg, model, default_decoder, {"val_default_decoder": scores}, input_size)
                    save_checkpoint(net, card, out / "best", overwrite=True)
            if ctx.is_main and (step % cfg.checkpoint_every == 0 or stop):
                save_training_state(state_path, models={"net": model}, optimizers={"adamw": opt},
                                    scalers={"amp": scaler}, step=step, epoch=epoch,
                                    extra={"best": best, "counts": counts,
                                           "elapsed_minutes": elapsed_before + budget.elapsed_minutes()})
            if stop:
                # After the resume state (rank 0's own statistics, so that a resumed run continues exactly):
                # the final weights are equal on every rank.
                average_buffers(net, ctx)
                break
    bar.close()
    if ctx.distributed:  # the counts above are per process; report the whole run's
        keys = sorted(counts)
        t = torch.tensor([float(counts[k]) for k in keys], dtype=torch.float64, device=ctx.device)
        torch.distributed.all_reduce(t)
        counts = {k: int(v) for k, v in zip(keys, t.tolist())}
    digests = rank_weight_digests(net, ctx)
    train_minutes = elapsed_before + budget.elapsed_minutes()
    log.info("training stopped: %s; %d steps in %.1f min; augmentation: %d points seen, %d dropped by rotation, "
             "%d cut off by crops", budget.reason, step, train_minutes, counts["points_seen"],
             counts["dropped_rotation"], counts["dropped_crop"])
    if not ctx.is_main:
        return {}
    summary = _finish(cfg, out, log, ctx, val_frames, input_size, best, step, train_minutes, counts, params, flops,
                      export, overwrite, budget.reason, time.perf_counter() - t_start)
    summary.update({"world_size": ctx.world_size, "rank_weight_digests": digests})
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def _finish(cfg, out, log, ctx, val_frames, input_size, best, step, train_minutes, counts, params, flops,
            export, overwrite, reason, seconds) -> dict:
    """Tune the decoder on validation frames, evaluate held-out sets through SuturePredictor, write the card."""
    from heatmap_landmarks.checkpoint import load_checkpoint
    from heatmap_landmarks.sutures import SuturePredictor

    model, card = load_checkpoint(out / "best.json", device=str(ctx.device))
    heat = heatmaps_of(model, [f.image for f in val_frames], mean=IMAGENET_MEAN, std=IMAGENET_STD,
                       device=ctx.device, batch_size=cfg.batch_size)
    decoder, table = choose_decoder(heat, [f.points for f in val_frames], cfg.decoder_grid or DEFAULT_DECODER_GRID)
    write_csv(table, out / "decoder_search.csv", overwrite=True)
    val_best = max(table, key=lambda r: r["f1"])
    log.info("decoder chosen on %d validation frames: %s (val F1 %.4f)", len(val_frames), decoder, val_best["f1"])
    metrics: dict[str, Any] = {
        "val": {"frames": len(val_frames), "precision": val_best["precision"],
                "sensitivity": val_best["sensitivity"], "f1": val_best["f1"]},
        "radius_px": 6.0,
        "parameters": params, "gflops_per_frame": round(flops / 1e9, 3),
        "train_steps": step, "best_step": best["step"], "train_minutes": round(train_minutes, 2),
        "device": str(ctx.device), "augmentation_counts": counts,
    }
    card = make_card(cfg, model, decoder, metrics, input_size)
    save_checkpoint(model, card, out / "model", overwrite=True)
    predictor = SuturePredictor(out / "model.json", device=str(ctx.device), batch_size=cfg.batch_size)
    tables = []
    for spec in cfg.test:
        frames = _frames([spec])
        t0 = time.perf_counter()
        preds, results, pooled = evaluate(predictor, frames, spec["domain"])
        dt = time.perf_counter() - t0
        folds = [r.counts.f1 for r in results]
        metrics[spec["name"]] = {
            "source": {k: v for k, v in spec.items() if k != "name"}, "frames": len(frames),
            **pooled.to_dict(), "fold_f1": folds, "frames_per_second": round(len(frames) / dt, 2),
        }
        tables.append(format_table(results, pooled, f"{spec['name']} ({len(frames)} frames)"))
        log.info("held-out %s: P %.4f S %.4f F1 %.4f over %d frames", spec["name"], pooled.precision,
                 pooled.sensitivity, pooled.f1, len(frames))
    card = make_card(cfg, model, decoder, metrics, input_size)
    save_checkpoint(model, card, out / "model", overwrite=True)
    if tables:
        (out / "heldout.md").write_text("\n\n".join(tables) + "\n", encoding="utf-8")
    if export:
        save_checkpoint(model, card, export, overwrite=overwrite)
        log.info("exported to %s", export)
    summary = {"stop_reason": reason, "seconds": round(seconds, 1), "decoder": decoder, "metrics": metrics}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def export_run(run_dir, stem, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Copy ``run_dir/model.{json,safetensors}`` to ``<stem>.{json,safetensors}`` (sha256 re-checked on load)."""
    from heatmap_landmarks.checkpoint import load_checkpoint

    model, card = load_checkpoint(Path(run_dir) / "model.json")
    return save_checkpoint(model, card, stem, overwrite=overwrite)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.sutures.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="JSON config (training/configs/sutures*.json); required unless --export-run")
    p.add_argument("--export-run", metavar="RUN_DIR",
                   help="no training: copy a finished run's RUN_DIR/model.{json,safetensors} to --export")
    p.add_argument("--resume", help="'auto' (out_dir/last.safetensors) or a training-state file")
    p.add_argument("--max-steps", type=int, help="override the config's max_steps")
    p.add_argument("--max-minutes", type=float, help="override the config's max_minutes")
    p.add_argument("--out-dir", help="override the config's out_dir")
    p.add_argument("--device", help="override the config's device (auto, cpu, cuda)")
    p.add_argument("--threads", type=int, help="override the config's CPU threads")
    p.add_argument("--export", help="also save the final checkpoint at this stem, e.g. heatmap_landmarks/weights/sutures")
    p.add_argument("--overwrite", action="store_true", help="start the run again in a non-empty out_dir / replace --export")
    p.add_argument("--quiet", action="store_true", help="no progress bar or console log")
    return p


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.config and not args.export_run:
        parser.error("--config is required (or --export-run RUN_DIR with --export STEM)")
    if args.export_run:
        if not args.export:
            raise InputError(None, "--export-run needs --export STEM (e.g. heatmap_landmarks/weights/sutures)")
        export_run(args.export_run, args.export, overwrite=args.overwrite)
        return 0
    overrides = {k: v for k, v in {"max_steps": args.max_steps, "max_minutes": args.max_minutes,
                                   "out_dir": args.out_dir, "device": args.device,
                                   "threads": args.threads}.items() if v is not None}
    cfg = SutureTrainConfig.load(args.config, overrides)
    if args.export and not args.overwrite:
        refuse_overwrite(Path(args.export).with_suffix(".json") if not args.export.endswith(".json")
                         else args.export, False)
    train(cfg, resume=args.resume, overwrite=args.overwrite, export=args.export, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
