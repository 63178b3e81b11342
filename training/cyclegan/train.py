"""Train a CycleGAN (Zhu et al. 2017) between simulator and intra-operative frames.

As in Yao et al. (AdaptOR 2021): simulator frames (domain A, phantom
``"sim"`` or an AdaptOR sim tree) are translated into the intra-operative look
(domain B, phantom ``"intraop"`` or an AdaptOR intra-op tree) and keep their
suture labels, enlarging the intra-operative training set.

Networks: two :class:`~heatmap_landmarks.models.ResnetGenerator` (A->B, B->A)
and two 70x70 :class:`~heatmap_landmarks.models.PatchDiscriminator`
(``PatchDiscriminatorConfig.cyclegan``). Losses: LSGAN, cycle consistency
(L1, weight ``lambda_cycle``) and identity (L1, weight ``lambda_identity *
lambda_cycle``); discriminators see a history of fakes
(:class:`~heatmap_landmarks.models.ImagePool`). Adam (lr 2e-4, betas 0.5/0.999),
constant learning rate for the first half of the run, then linear decay to 0.

Training uses random crops (``crop``) at the native scale, optionally of
downscaled copies (``downscale``); translation then runs at full resolution
(the generator is fully convolutional). Crops at native scale keep the
texture scale the generator learns equal to the one it translates.

Usage::

    python -m training.cyclegan.train --config training/configs/cyclegan.json

Outputs in ``out_dir``: ``G_sim2intraop.{json,safetensors}`` and
``G_intraop2sim.{json,safetensors}`` (each generator its own model card; use
them with ``python -m training.cyclegan.translate``), ``last.safetensors``
(resume state; the image pools restart empty on resume), ``log.jsonl``/``log.csv``,
``samples.png`` (real A | A->B | real B | B->A), ``summary.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from heatmap_landmarks.checkpoint import ModelCard, save_checkpoint
from heatmap_landmarks.errors import InputError
from heatmap_landmarks.losses import cycle_loss, identity_loss, lsgan_discriminator_loss, lsgan_generator_loss
from heatmap_landmarks.models import (
    ImagePool,
    PatchDiscriminator,
    PatchDiscriminatorConfig,
    ResnetGenerator,
    ResnetGeneratorConfig,
    count_parameters,
    estimate_flops,
)

from ..common import (
    one_line_errors,
    MetricsLog,
    RunBudget,
    autocast,
    cleanup_ddp,
    derive_seed,
    load_training_state,
    make_grad_scaler,
    progress_bar,
    save_training_state,
    seed_everything,
    setup_device_and_ddp,
    prepare_run_dir,
    setup_logging,
    unwrap,
    wrap_ddp,
)
from ..sutures.data import source_from_spec, write_frame_png
from .config import CycleGANConfig


# --------------------------------------------------------------------------- data
def to_tanh_range(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB [0, 1] -> ``(3, H, W)`` float32 in [-1, 1] (the generators' range)."""
    return np.ascontiguousarray(image.transpose(2, 0, 1) * 2.0 - 1.0, dtype=np.float32)


def from_tanh_range(x: np.ndarray) -> np.ndarray:
    """``(3, H, W)`` in [-1, 1] -> ``(H, W, 3)`` float32 RGB in [0, 1]."""
    return np.clip((np.asarray(x, np.float32).transpose(1, 2, 0) + 1.0) * 0.5, 0.0, 1.0)


class UnpairedCrops(torch.utils.data.Dataset):
    """Random crops of one domain's frames, in [-1, 1], ``(3, h, w)`` float32 (labels ignored).

    Item ``i`` is a crop of frame ``i % len(source)`` drawn from
    ``derive_seed(seed, i)``; the trainer asks for ever-increasing indices.
    """

    def __init__(self, source, crop, *, downscale: int = 1, hflip_p: float = 0.5, seed: int = 0):
        self.source = source
        self.crop = (int(crop[0]), int(crop[1]))
        self.downscale = int(downscale)
        self.hflip_p = float(hflip_p)
        self.seed = int(seed)

    def __len__(self) -> int:
        return 1 << 40  # an endless stream, indexed by step

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng(derive_seed(self.seed, index))
        image = self.source[int(rng.integers(len(self.source)))].image
        if self.downscale > 1:
            h, w = image.shape[:2]
            image = cv2.resize(image, (w // self.downscale, h // self.downscale), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        ch, cw = self.crop
        if ch > h or cw > w:
            raise InputError(None, f"crop {ch}x{cw} is larger than the {h}x{w} training frames")
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        image = image[top:top + ch, left:left + cw]
        if rng.random() < self.hflip_p:
            image = image[:, ::-1]
        return torch.from_numpy(to_tanh_range(image))


class _StepSampler(torch.utils.data.Sampler):
    """Indices start, start+1, ... (each rank its own interleaved stream)."""

    def __init__(self, start: int, rank: int, world: int, count: int):
        self.start, self.rank, self.world, self.count = start, rank, world, count

    def __iter__(self):
        for i in range(self.start, self.start + self.count):
            yield i * self.world + self.rank

    def __len__(self) -> int:
        return self.count


# --------------------------------------------------------------------------- cards
def generator_card(cfg: CycleGANConfig, net: ResnetGenerator, source: str, target: str, metrics: dict,
                   input_size=(288, 512)) -> ModelCard:
    """A ModelCard for one generator.

    ModelCard is built for heatmap models; a translator fits it as follows:
    ``landmark_names`` name the three output channels (``R``, ``G``, ``B``)
    with ``heatmap_mode="per_landmark"`` (the card checks ``out_channels``
    against them), ``sigma2`` is unused (1.0), ``normalisation`` records the
    [-1, 1] input range and ``metrics`` the translation direction.
    """
    return ModelCard(
        name=f"{cfg.name}-{source}2{target}", task="sutures", view=None, architecture="ResnetGenerator",
        config=net.config.to_dict(), landmark_names=["R", "G", "B"], heatmap_mode="per_landmark", sigma2=1.0,
        input_size=list(input_size), input_spacing_mm=None,
        normalisation={"method": "tanh_range", "low": -1.0, "high": 1.0},
        decoder={}, training_data=f"unpaired {source} and {target} frames: {json.dumps(cfg.source_a)} / "
                                  f"{json.dumps(cfg.source_b)}",
        metrics={"translation": {"source_domain": source, "target_domain": target}, **metrics},
        notes=("CycleGAN generator (image-to-image translation), not a heatmap model: use with "
               "python -m training.cyclegan.translate. Input/output RGB scaled to [-1, 1]; H and W padded to "
               f"multiples of {2 ** net.config.n_downsampling}."),
    )


def colour_stats(frames: Sequence[np.ndarray]) -> np.ndarray:
    """``(6,)`` per-channel mean and std of RGB frames in [0, 1] (pooled over pixels)."""
    px = np.concatenate([f.reshape(-1, 3) for f in frames])
    return np.concatenate([px.mean(0), px.std(0)])


def translate_array(generator: torch.nn.Module, image: np.ndarray, device="cpu") -> np.ndarray:
    """Translate one ``(H, W, 3)`` RGB [0, 1] frame at full resolution; same size out.

    The frame is reflect-padded at the bottom/right to a multiple of
    ``2**n_downsampling`` (reflection avoids a dark seam the generator would
    restyle) and the padding is cropped away afterwards.
    """
    h, w = image.shape[:2]
    m = 2 ** unwrap(generator).config.n_downsampling
    ph, pw = (-h) % m, (-w) % m
    padded = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect") if (ph or pw) else image
    with torch.inference_mode():
        x = torch.from_numpy(to_tanh_range(padded))[None].to(device)
        y = generator(x).float().cpu().numpy()[0]
    return from_tanh_range(y)[:h, :w]


# --------------------------------------------------------------------------- training
def _set_requires_grad(nets, flag: bool) -> None:
    """Freeze/unfreeze discriminators around the generator step (skipped under DDP, whose
    gradient hooks expect a fixed set of trainable parameters; there the D gradients from the
    generator step are simply cleared by ``opt_d.zero_grad`` before the D step)."""
    if any(isinstance(n, torch.nn.parallel.DistributedDataParallel) for n in nets):
        return
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def train(cfg: CycleGANConfig, *, resume: str | None = None, overwrite: bool = False, quiet: bool = False) -> dict:
    """Run CycleGAN training as configured; returns the summary (also ``summary.json``)."""
    ctx = setup_device_and_ddp(cfg.device, threads=cfg.threads)
    out = Path(cfg.out_dir)
    try:
        prepare_run_dir(out, ctx, resume=resume, overwrite=overwrite)
        log = setup_logging(out, ctx, quiet=quiet)
        return _train(cfg, ctx, out, log, resume, quiet)
    finally:
        cleanup_ddp(ctx)


def _train(cfg: CycleGANConfig, ctx, out: Path, log, resume, quiet) -> dict:
    seed_everything(cfg.seed + ctx.rank)
    src_a, src_b = (source_from_spec(cfg.source_a, allow_unlabelled=True),
                    source_from_spec(cfg.source_b, allow_unlabelled=True))
    log.info("domain %s: %s (%d frames); domain %s: %s (%d frames)", cfg.domain_a, src_a.name, len(src_a),
             cfg.domain_b, src_b.name, len(src_b))
    gen_cfg = ResnetGeneratorConfig.from_dict(cfg.generator)
    disc_cfg = PatchDiscriminatorConfig.cyclegan(in_channels=3, base_width=cfg.disc_base_width)
    nets = {"g_ab": ResnetGenerator(gen_cfg), "g_ba": ResnetGenerator(gen_cfg),
            "d_a": PatchDiscriminator(disc_cfg), "d_b": PatchDiscriminator(disc_cfg)}
    for k in nets:
        nets[k] = wrap_ddp(nets[k].to(ctx.device), ctx)
    g_ab, g_ba, d_a, d_b = nets["g_ab"], nets["g_ba"], nets["d_a"], nets["d_b"]
    g_params = count_parameters(unwrap(g_ab))
    g_flops = estimate_flops(unwrap(g_ab), (1, 3, 288, 512))
    log.info("generator: %d parameters, %.2f GFLOPs per 288x512 frame; discriminator: %d parameters",
             g_params, g_flops / 1e9, count_parameters(unwrap(d_a)))
    opt_g = torch.optim.Adam(list(g_ab.parameters()) + list(g_ba.parameters()), lr=cfg.lr,
                             betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), lr=cfg.lr,
                             betas=(cfg.beta1, cfg.beta2))
    scaler_g, scaler_d = make_grad_scaler(ctx, cfg.amp), make_grad_scaler(ctx, cfg.amp)
    pool_a = ImagePool(cfg.pool_size, seed=derive_seed(cfg.seed, 1, ctx.rank))
    pool_b = ImagePool(cfg.pool_size, seed=derive_seed(cfg.seed, 2, ctx.rank))

    step, elapsed_before = 0, 0.0
    state_path = out / "last.safetensors"
    if resume:
        path = state_path if resume == "auto" else Path(resume)
        info = load_training_state(path, models=nets, optimizers={"g": opt_g, "d": opt_d},
                                   scalers={"g": scaler_g, "d": scaler_d}, device=ctx.device)
        step = info["step"]
        elapsed_before = float(info["extra"].get("elapsed_minutes", 0.0))
        log.info("resumed from %s at step %d (image pools start empty)", path, step)
    if ctx.is_main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n", encoding="utf-8")
    metrics_log = MetricsLog(out, enabled=ctx.is_main, resume_step=step if resume else None)
    budget = RunBudget(cfg.max_steps, cfg.max_minutes - elapsed_before if cfg.max_minutes else None)

    def loader(src, salt):
        ds = UnpairedCrops(src, cfg.crop, downscale=cfg.downscale, hflip_p=cfg.hflip_p,
                           seed=derive_seed(cfg.seed, salt))
        sampler = _StepSampler(step * cfg.batch_size, ctx.rank, ctx.world_size,
                               (cfg.max_steps - step) * cfg.batch_size)
        return iter(torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, sampler=sampler))

    it_a, it_b = loader(src_a, 11), loader(src_b, 22)
    bar = progress_bar(total=cfg.max_steps, desc="train cyclegan", enabled=ctx.is_main and not quiet, initial=step)
    sums: dict[str, float] = {}
    n_sum = 0
    lam_c, lam_i = cfg.lambda_cycle, cfg.lambda_identity * cfg.lambda_cycle
    stop = step >= cfg.max_steps
    while not stop:
        progress = max(step / cfg.max_steps, (elapsed_before + budget.elapsed_minutes()) / cfg.max_minutes
                       if cfg.max_minutes else 0.0)
        lr = cfg.lr * min(1.0, max(0.0, 2.0 * (1.0 - progress)))  # constant, then linear to 0 over the 2nd half
        for opt in (opt_g, opt_d):
            for g in opt.param_groups:
                g["lr"] = lr
        real_a = next(it_a).to(ctx.device)
        real_b = next(it_b).to(ctx.device)
        # -- generators
        _set_requires_grad([d_a, d_b], False)
        with autocast(ctx, cfg.amp):
            fake_b, fake_a = g_ab(real_a), g_ba(real_b)
            rec_a, rec_b = g_ba(fake_b), g_ab(fake_a)
            idt_b, idt_a = g_ab(real_b), g_ba(real_a)
            adv = lsgan_generator_loss(d_b(fake_b).float()) + lsgan_generator_loss(d_a(fake_a).float())
        cyc = cycle_loss(rec_a.float(), real_a) + cycle_loss(rec_b.float(), real_b)
        idt = identity_loss(idt_b.float(), real_b) + identity_loss(idt_a.float(), real_a)
        loss_g = adv + lam_c * cyc + lam_i * idt
        opt_g.zero_grad(set_to_none=True)
        scaler_g.scale(loss_g).backward()
        scaler_g.step(opt_g)
        scaler_g.update()
        # -- discriminators (on a history of fakes)
        _set_requires_grad([d_a, d_b], True)
        with autocast(ctx, cfg.amp):
            loss_d_b = lsgan_discriminator_loss(d_b(real_b).float(), d_b(pool_b.query(fake_b)).float())
            loss_d_a = lsgan_discriminator_loss(d_a(real_a).float(), d_a(pool_a.query(fake_a)).float())
        loss_d = loss_d_a + loss_d_b
        opt_d.zero_grad(set_to_none=True)
        scaler_d.scale(loss_d).backward()
        scaler_d.step(opt_d)
        scaler_d.update()
        parts = {k: float(v.detach()) for k, v in (("g_adv", adv), ("cycle", cyc), ("identity", idt),
                                                   ("g_total", loss_g), ("d_a", loss_d_a), ("d_b", loss_d_b))}
        if not all(np.isfinite(v) for v in parts.values()):
            raise RuntimeError(f"CycleGAN loss became non-finite at step {step}: {parts}")
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + v
        n_sum += 1
        step += 1
        bar.update(1)
        bar.set_postfix(cyc=f"{parts['cycle']:.3f}", g=f"{parts['g_adv']:.3f}", d=f"{parts['d_a'] + parts['d_b']:.3f}")
        stop = budget.exhausted(step)
        if ctx.distributed:
            flag = torch.tensor([1.0 if stop else 0.0], device=ctx.device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            stop = bool(flag.item() > 0)
        if ctx.is_main and (step % cfg.log_every == 0 or stop):
            row = {"step": step, "lr": lr, "minutes": elapsed_before + budget.elapsed_minutes(),
                   **{k: v / n_sum for k, v in sums.items()}}
            metrics_log.append(row)
            log.info("step %d: %s", step, ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("step",)))
            sums, n_sum = {}, 0
        if ctx.is_main and (step % cfg.checkpoint_every == 0 or stop):
            save_training_state(state_path, models=nets, optimizers={"g": opt_g, "d": opt_d},
                                scalers={"g": scaler_g, "d": scaler_d}, step=step, epoch=0,
                                extra={"elapsed_minutes": elapsed_before + budget.elapsed_minutes()})
    bar.close()
    minutes = elapsed_before + budget.elapsed_minutes()
    log.info("CycleGAN stopped: %s; %d steps in %.1f min", budget.reason or "max_steps reached", step, minutes)
    if not ctx.is_main:
        return {}
    return _finish(cfg, ctx, out, log, src_a, src_b, unwrap(g_ab), unwrap(g_ba), step, minutes, g_params, g_flops)


def _finish(cfg, ctx, out, log, src_a, src_b, g_ab, g_ba, step, minutes, g_params, g_flops) -> dict:
    """Colour statistics before/after translation, sample sheet, generator cards."""
    g_ab.eval()
    g_ba.eval()
    n = min(cfg.stats_frames, len(src_a), len(src_b))
    frames_a = [src_a[i].image for i in range(n)]
    frames_b = [src_b[i].image for i in range(n)]
    t0 = time.perf_counter()
    trans_ab = [translate_array(g_ab, f, ctx.device) for f in frames_a]
    sec_per_frame = (time.perf_counter() - t0) / max(n, 1)
    trans_ba = [translate_array(g_ba, f, ctx.device) for f in frames_b]
    sa, sb, sab, sba = (colour_stats(x) for x in (frames_a, frames_b, trans_ab, trans_ba))
    stats = {
        "colour_stats_rgb_mean_std": {cfg.domain_a: sa.round(4).tolist(), cfg.domain_b: sb.round(4).tolist(),
                                      f"{cfg.domain_a}->{cfg.domain_b}": sab.round(4).tolist(),
                                      f"{cfg.domain_b}->{cfg.domain_a}": sba.round(4).tolist()},
        # L1 distance of per-channel mean/std to the target domain: lower = closer colour statistics.
        "colour_gap_to_target": {f"{cfg.domain_a} raw": round(float(np.abs(sa - sb).sum()), 4),
                                 f"{cfg.domain_a}->{cfg.domain_b}": round(float(np.abs(sab - sb).sum()), 4),
                                 f"{cfg.domain_b} raw": round(float(np.abs(sb - sa).sum()), 4),
                                 f"{cfg.domain_b}->{cfg.domain_a}": round(float(np.abs(sba - sa).sum()), 4)},
        "frames": n,
    }
    log.info("colour gap to target domain (L1 of RGB mean/std): %s", stats["colour_gap_to_target"])
    def tile(img: np.ndarray, shape: tuple) -> np.ndarray:  # the two domains' frames may differ in size
        return img if img.shape[:2] == shape else cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)

    rows = [np.concatenate([tile(x, a.shape[:2]) for x in (a, ab, b, ba)], axis=1) for a, ab, b, ba in
            list(zip(frames_a, trans_ab, frames_b, trans_ba))[:4]]
    if rows:
        write_frame_png(str(out / "samples.png"), np.concatenate(rows, axis=0), overwrite=True)
    common = {"train_steps": step, "train_minutes": round(minutes, 2), "crop": cfg.crop, "downscale": cfg.downscale,
              "parameters": g_params, "gflops_per_288x512_frame": round(g_flops / 1e9, 3),
              "seconds_per_frame_full_res": round(sec_per_frame, 4), **stats}
    save_checkpoint(g_ab, generator_card(cfg, g_ab, cfg.domain_a, cfg.domain_b, common),
                    out / f"G_{cfg.domain_a}2{cfg.domain_b}", overwrite=True)
    save_checkpoint(g_ba, generator_card(cfg, g_ba, cfg.domain_b, cfg.domain_a, common),
                    out / f"G_{cfg.domain_b}2{cfg.domain_a}", overwrite=True)
    summary = {"steps": step, "minutes": round(minutes, 2), **common}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.cyclegan.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="JSON config (training/configs/cyclegan*.json)")
    p.add_argument("--resume", help="'auto' (out_dir/last.safetensors) or a training-state file")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--max-minutes", type=float)
    p.add_argument("--out-dir")
    p.add_argument("--device")
    p.add_argument("--threads", type=int)
    p.add_argument("--overwrite", action="store_true", help="start again in a non-empty out_dir")
    p.add_argument("--quiet", action="store_true")
    return p


@one_line_errors
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {k: v for k, v in {"max_steps": args.max_steps, "max_minutes": args.max_minutes,
                                   "out_dir": args.out_dir, "device": args.device,
                                   "threads": args.threads}.items() if v is not None}
    cfg = CycleGANConfig.load(args.config, overrides)
    train(cfg, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
