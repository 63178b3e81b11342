"""The cardiac GAN's adaptive schedule: dropout and learning rates of G and D, adapted once per epoch.

Rules and thresholds: :class:`~training.cardiac.config.ScheduleConfig`
(documented in ``training/RESULTS.md``).
"""
from __future__ import annotations

import math

import torch

from ..common import unwrap
from .config import ScheduleConfig

__all__ = ["AdaptiveSchedule", "dropout_of"]


def dropout_of(model) -> float:
    """Dropout probability of the first dropout layer of ``model`` (0 when it has none)."""
    for m in unwrap(model).modules():
        if isinstance(m, torch.nn.modules.dropout._DropoutNd):
            return float(m.p)
    return 0.0


class AdaptiveSchedule:
    """Adapts dropout and learning rates of G and D once per epoch; every change is logged.

    Rules (thresholds in :class:`~training.cardiac.config.ScheduleConfig`):

    1. D too strong (``SDL < d_strong_ratio * A_L``, epoch means): D dropout +step
       (cap ``d_dropout_max``); already at the cap: D lr x ``lr_factor``.
    2. D too weak (``SDL > d_weak_ratio * A_L``): D dropout -step (floor ``d_dropout_min``).
    3. Validation score improved by more than ``min_delta_px`` on the best so far:
       G dropout -step (floor ``g_dropout_min``) - less regularisation as G gets good.
    4. No improvement for ``patience`` epochs: G lr x ``lr_factor`` (floor ``lr_min``).

    The state is plain JSON (saved in the resume file).
    """

    def __init__(self, cfg: ScheduleConfig, gen, disc, opt_g, opt_d):
        self.cfg = cfg
        self.gen, self.disc, self.opt_g, self.opt_d = gen, disc, opt_g, opt_d
        self.best = math.inf
        self.since_best = 0
        self.epochs = 0

    def state(self) -> dict:
        return {"best": self.best if math.isfinite(self.best) else None, "since_best": self.since_best,
                "epochs": self.epochs}

    def load(self, state: dict) -> None:
        self.best = math.inf if state.get("best") is None else float(state["best"])
        self.since_best = int(state.get("since_best", 0))
        self.epochs = int(state.get("epochs", 0))

    @staticmethod
    def _set_lr(opt, lr: float) -> None:
        for group in opt.param_groups:
            group["lr"] = lr

    def step(self, losses: dict, val_score: float) -> list[str]:
        """Apply the rules for one epoch; returns human-readable changes."""
        c = self.cfg
        changes: list[str] = []
        self.epochs += 1
        if not c.enabled:
            return changes
        if self.disc is not None and "d_sdl" in losses and "g_adversarial" in losses:
            sdl, adv = losses["d_sdl"], losses["g_adversarial"]
            p_d = dropout_of(self.disc)
            lr_d = self.opt_d.param_groups[0]["lr"]
            if sdl < c.d_strong_ratio * adv:
                if p_d < c.d_dropout_max - 1e-9:
                    new = round(min(p_d + c.dropout_step, c.d_dropout_max), 4)
                    unwrap(self.disc).set_dropout(new)
                    changes.append(f"D too strong (SDL {sdl:.4f} < {c.d_strong_ratio:g} x A_L {adv:.4f}): "
                                   f"D dropout {p_d:.2f} -> {new:.2f}")
                elif lr_d > c.lr_min:
                    new = max(lr_d * c.lr_factor, c.lr_min)
                    self._set_lr(self.opt_d, new)
                    changes.append(f"D too strong at dropout cap {p_d:.2f}: D lr {lr_d:.2e} -> {new:.2e}")
            elif sdl > c.d_weak_ratio * adv and p_d > c.d_dropout_min + 1e-9:
                new = round(max(p_d - c.dropout_step, c.d_dropout_min), 4)
                unwrap(self.disc).set_dropout(new)
                changes.append(f"D too weak (SDL {sdl:.4f} > {c.d_weak_ratio:g} x A_L {adv:.4f}): "
                               f"D dropout {p_d:.2f} -> {new:.2f}")
        if math.isfinite(val_score):
            if val_score < self.best - c.min_delta_px:
                p_g = dropout_of(self.gen)
                if p_g > c.g_dropout_min + 1e-9:
                    new = round(max(p_g - c.dropout_step, c.g_dropout_min), 4)
                    unwrap(self.gen).set_dropout(new)
                    changes.append(f"validation improved ({self.best:.3f} -> {val_score:.3f} px): "
                                   f"G dropout {p_g:.2f} -> {new:.2f}")
                self.best = val_score
                self.since_best = 0
            elif self.epochs > c.warmup_epochs:
                self.since_best += 1
                if self.since_best >= c.patience:
                    lr_g = self.opt_g.param_groups[0]["lr"]
                    if lr_g > c.lr_min:
                        new = max(lr_g * c.lr_factor, c.lr_min)
                        self._set_lr(self.opt_g, new)
                        changes.append(f"validation plateau ({self.since_best} epochs without > "
                                       f"{c.min_delta_px:g} px gain): G lr {lr_g:.2e} -> {new:.2e}")
                    self.since_best = 0
        return changes
