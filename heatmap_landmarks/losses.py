"""Loss functions (functional, shape-checked).

Heatmap regression and GAN terms of the cardiac landmark GAN (Kanakatte et al.):

* ``A_L  = mean((D(x, G(x)) - 1)^2)``            :func:`lsgan_generator_loss`
* ``G_L  = A_L + beta * Huber_delta(G(x), y)``    :func:`generator_loss`
* ``DRL  = mean((D(x, y) - 1)^2)``, ``DFL = mean(D(x, G(x))^2)``,
  ``SDL  = 0.5 * (DRL + DFL)``                    :func:`lsgan_discriminator_loss`
* ``FPL  = alpha * MSE(P1, P2) + MAE(P1, P2)`` on the square patch around the
  ground-truth foreground                         :func:`foreground_pixel_loss`
* ``MDL  = SDL + FPL``                            :func:`discriminator_loss`
* ``FP   = mean_(b,c) max(0, max_{y < tau} G(x))^2``, the highest prediction
  away from every target blob                     :func:`false_peak_loss`
  (our addition, not the paper's; see there)

About FPL and gradients: in the paper FPL is part of the discriminator's loss,
but FPL depends only on the ground truth and the generator's output, never on
the discriminator's weights; in a discriminator update the generator output
is detached, so FPL adds nothing to any gradient there. We therefore (1) add
FPL to MDL as the paper does, which changes the logged value and nothing
else, and (2) offer FPL as a generator-side term (``fpl_weight`` in
:func:`generator_loss`), the only place where it can steer training. The
default ``fpl_weight=0`` is the literal reading of the paper; training configs
choose. Ablations: ``adversarial=False`` (no A_L), ``regression="mse"``
(Huber -> MSE), ``include_fpl=False`` / ``fpl_weight=0`` (no FPL).

Segmentation-style losses for the suture heatmaps (:func:`soft_dice_loss`,
:func:`bce_loss`, :func:`focal_loss`) take logits; CycleGAN uses the LSGAN
terms above plus :func:`cycle_loss` and :func:`identity_loss` (L1).

All losses return a scalar float tensor (mean reduction).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class LossTerms(NamedTuple):
    """A loss to back-propagate and its parts for logging.

    ``total``: scalar tensor (call ``.backward()`` on it). ``parts``: detached
    Python floats by name, including ``"total"``.
    """

    total: torch.Tensor
    parts: dict


def _same_shape(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    # Broadcasting two heatmaps of different shapes silently gives a wrong loss.
    if a.shape != b.shape:
        raise ValueError(f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")


# -- regression ----------------------------------------------------------------
def _weighted_mean(per_element: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return per_element.mean()
    return (per_element * weight).sum() / weight.expand_as(per_element).sum()


def huber_loss(pred: torch.Tensor, target: torch.Tensor, delta: float = 0.4,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean Huber loss: ``0.5 d^2`` where ``|d| <= delta``, else ``delta (|d| - delta / 2)``.

    ``pred``, ``target``: same shape, any layout (heatmap values, unitless).
    ``weight``: optional per-element weights (broadcastable); the result is the
    weighted mean ``sum(w * l) / sum(w)``.

    >>> round(float(huber_loss(torch.tensor([0.2, 1.0]), torch.tensor([0.0, 0.0]))), 4)  # (0.02 + 0.32) / 2
    0.17
    >>> round(float(huber_loss(torch.tensor([0.2, 1.0]), torch.tensor([0.0, 0.0]), weight=torch.tensor([1.0, 3.0]))), 4)
    0.245
    """
    _same_shape(pred, target, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _weighted_mean(F.huber_loss(pred, target, delta=float(delta), reduction="none"), weight)


def mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error; same-shape inputs; optional per-element ``weight`` as in :func:`huber_loss`.

    >>> float(mse_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0])))
    5.0
    """
    _same_shape(pred, target, "mse_loss")
    return _weighted_mean(F.mse_loss(pred, target, reduction="none"), weight)


# -- LSGAN -----------------------------------------------------------------------
def lsgan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``A_L = mean((D(fake) - 1)^2)`` over all patches; ``fake_logits`` e.g. ``(B, 1, 4, 4)``.

    >>> float(lsgan_generator_loss(torch.tensor([0.0, 1.0])))
    0.5
    """
    return torch.mean((fake_logits - 1.0) ** 2)


def lsgan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``SDL = 0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2))`` averaged over patches.

    >>> float(lsgan_discriminator_loss(torch.tensor([0.0]), torch.tensor([1.0])))  # worst case
    1.0
    """
    return 0.5 * (torch.mean((real_logits - 1.0) ** 2) + torch.mean(fake_logits ** 2))


# -- foreground pixel loss ---------------------------------------------------------
def foreground_patch_box(gt: torch.Tensor, threshold: float = 0.1, margin: int = 4,
                         min_size: int = 8) -> torch.Tensor:
    """Square patch covering the ground-truth foreground, found at run time per sample.

    The foreground is every pixel where any channel exceeds ``threshold``. The
    box is the bounding square of the foreground (side = the longer bounding-box
    side + ``2 * margin``, at least ``min_size``), centred on the bounding box
    and shifted (not shrunk) to lie inside the image; only a side longer than
    the image is clipped.

    Args:
        gt: ``(H, W)`` or ``(B, C, H, W)`` ground-truth heatmaps (values 0..1).

    Returns:
        ``(4,)`` or ``(B, 4)`` int64 CPU tensor ``(row0, col0, row1, col1)``,
        half-open pixel ranges. A sample without foreground gets ``(0, 0, 0, 0)``.

    >>> gt = torch.zeros(32, 32); gt[10:13, 20:22] = 1.0
    >>> foreground_patch_box(gt, margin=2).tolist()  # 3x2 blob -> side 3 + 4 = 7 -> min_size 8
    [7, 17, 15, 25]
    """
    single = gt.dim() == 2
    if single:
        gt = gt[None, None]
    if gt.dim() != 4:
        raise ValueError(f"foreground_patch_box expects (H, W) or (B, C, H, W), got {tuple(gt.shape)}")
    height, width = gt.shape[-2:]
    fg = (gt.detach() > threshold).any(dim=1).cpu()  # (B, H, W)
    boxes = torch.zeros(gt.shape[0], 4, dtype=torch.int64)
    for b in range(gt.shape[0]):
        rows = torch.nonzero(fg[b].any(dim=1)).flatten()
        cols = torch.nonzero(fg[b].any(dim=0)).flatten()
        if rows.numel() == 0:
            continue
        r_lo, r_hi, c_lo, c_hi = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        side = max(r_hi - r_lo, c_hi - c_lo) + 2 * margin
        side = max(side, min_size)
        side_r, side_c = min(side, height), min(side, width)
        # Centre on the bounding box (rounding down when the parities differ).
        r0 = (r_lo + r_hi - side_r) // 2
        c0 = (c_lo + c_hi - side_c) // 2
        r0 = min(max(r0, 0), height - side_r)
        c0 = min(max(c0, 0), width - side_c)
        boxes[b] = torch.tensor([r0, c0, r0 + side_r, c0 + side_c])
    return boxes[0] if single else boxes


def foreground_pixel_loss(gt: torch.Tensor, pred: torch.Tensor, alpha: float = 1.0, *,
                          threshold: float = 0.1, margin: int = 4, min_size: int = 8) -> torch.Tensor:
    """``FPL = alpha * MSE(P1, P2) + MAE(P1, P2)`` on the ground-truth foreground patch.

    ``P1``/``P2`` are the same square patch (:func:`foreground_patch_box`, all
    channels) of ``gt`` and ``pred``, chosen per sample; the loss is the mean
    over samples that have foreground. Samples without foreground are skipped;
    if no sample has any, the result is 0 (still connected to ``pred``'s graph,
    so ``backward`` works and gives zero gradients).

    Args:
        gt, pred: same shape, ``(H, W)`` or ``(B, C, H, W)``.
        alpha: weight of the MSE part.
        threshold, margin, min_size: patch settings of :func:`foreground_patch_box`.

    >>> gt = torch.zeros(1, 1, 16, 16); gt[0, 0, 8, 8] = 1.0
    >>> float(foreground_pixel_loss(gt, torch.zeros_like(gt), margin=2))  # 8x8 patch, 1 of 64 pixels off by 1
    0.03125
    """
    _same_shape(gt, pred, "foreground_pixel_loss")
    boxes = foreground_patch_box(gt, threshold=threshold, margin=margin, min_size=min_size)
    if gt.dim() == 2:
        gt, pred, boxes = gt[None, None], pred[None, None], boxes[None]
    losses = []
    for b, (r0, c0, r1, c1) in enumerate(boxes.tolist()):
        if r1 <= r0:
            continue
        diff = pred[b, :, r0:r1, c0:c1] - gt[b, :, r0:r1, c0:c1]
        losses.append(alpha * torch.mean(diff ** 2) + torch.mean(diff.abs()))
    if not losses:
        return pred.sum() * 0.0
    return torch.stack(losses).mean()


# -- combined GAN losses ------------------------------------------------------------
def false_peak_loss(pred: torch.Tensor, gt: torch.Tensor, below: float = 0.05) -> torch.Tensor:
    """Mean over maps of the squared highest prediction where the target is below ``below``.

    Args:
        pred, gt: heatmaps ``(B, C, H, W)``, targets in [0, 1] with peak 1 at a landmark.
        below: target level under which a pixel counts as away from every landmark
            (0.05 is about 2.4 sigma from a Gaussian's peak).

    Returns:
        A scalar: ``mean_(b,c) relu(max_{gt < below} pred)^2`` (a map with no pixel below the
        level adds 0).

    Why: decoding keeps a blob when its peak clears a confidence level, so the one pixel that
    matters on a slice *without* a landmark (an apical slice with no LV cavity, a basal slice
    whose RV does not touch the LV) is the highest one, and the per-pixel regression, which
    averages that pixel with 65,000 quiet ones, barely sees it. The same term on a map *with* a
    landmark pushes down the highest false blob elsewhere, the source of the far outliers. Its
    gradient reaches only the arg-max pixel of each map: a hard-negative term, not a smoothing one.

    >>> gt = torch.zeros(1, 1, 4, 4); pred = torch.zeros(1, 1, 4, 4); pred[0, 0, 1, 2] = 0.5
    >>> float(false_peak_loss(pred, gt))
    0.25
    >>> gt[0, 0, 1, 2] = 1.0   # the same peak, now on the landmark: not false
    >>> float(false_peak_loss(pred, gt))
    0.0
    """
    _same_shape(pred, gt, "false_peak_loss")
    if pred.ndim != 4:
        raise ValueError(f"false_peak_loss: expected (B, C, H, W), got shape {tuple(pred.shape)}")
    away = gt.detach() < below
    peak = torch.where(away, pred, torch.zeros_like(pred)).flatten(2).amax(-1).clamp_min(0.0)
    return (peak ** 2).mean()


def generator_loss(
    fake_logits: torch.Tensor | None,
    pred: torch.Tensor,
    gt: torch.Tensor,
    beta: float = 100.0,
    delta: float = 0.4,
    *,
    adversarial: bool = True,
    regression: str = "huber",
    fpl_weight: float = 0.0,
    alpha: float = 1.0,
    fpl_threshold: float = 0.1,
    fpl_margin: int = 4,
    foreground_weight: float = 0.0,
    false_peak_weight: float = 0.0,
    false_peak_below: float = 0.05,
) -> LossTerms:
    """``G_L = A_L + beta * Huber_delta(pred, gt) [+ fpl_weight * FPL(gt, pred)] [+ false_peak_weight * FP]``.

    Args:
        fake_logits: discriminator output on ``(image, pred)``, e.g. ``(B, 1, 4, 4)``
            (may be ``None`` when ``adversarial`` is false).
        pred, gt: generated and ground-truth heatmaps, same shape ``(B, C, H, W)``.
        beta: weight of the regression term (default 100 as in pix2pix; tune per dataset).
        delta: Huber threshold (0.4 in the paper).
        adversarial: include ``A_L`` (ablation: false).
        regression: ``"huber"`` or ``"mse"`` (ablation).
        fpl_weight: weight of the generator-side foreground pixel loss (see module docstring).
        alpha, fpl_threshold, fpl_margin: FPL settings.
        foreground_weight: ``w`` in the per-pixel regression weight ``1 + w * gt``
            (0: the plain mean). A landmark covers ~0.1 % of a 256x256 map, so
            an unweighted mean is minimised early by predicting zeros; the
            weight puts the foreground back in balance (what FPL aims at too).
        false_peak_weight, false_peak_below: weight and level of :func:`false_peak_loss` (0: off).

    Returns:
        :class:`LossTerms` with parts ``adversarial``, ``regression``, ``fpl`` and
        ``false_peak`` (when used), ``total``.
    """
    weight = 1.0 + foreground_weight * gt.detach() if foreground_weight else None
    if regression == "huber":
        reg = huber_loss(pred, gt, delta, weight=weight)
    elif regression == "mse":
        reg = mse_loss(pred, gt, weight=weight)
    else:
        raise ValueError(f"regression must be 'huber' or 'mse', got {regression!r}")
    total = beta * reg
    parts = {"regression": float(reg.detach())}
    if adversarial:
        if fake_logits is None:
            raise ValueError("generator_loss: fake_logits is required when adversarial=True")
        adv = lsgan_generator_loss(fake_logits)
        total = total + adv
        parts["adversarial"] = float(adv.detach())
    if fpl_weight:
        fpl = foreground_pixel_loss(gt, pred, alpha, threshold=fpl_threshold, margin=fpl_margin)
        total = total + fpl_weight * fpl
        parts["fpl"] = float(fpl.detach())
    if false_peak_weight:
        fp = false_peak_loss(pred, gt, false_peak_below)
        total = total + false_peak_weight * fp
        parts["false_peak"] = float(fp.detach())
    parts["total"] = float(total.detach())
    return LossTerms(total, parts)


def discriminator_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    gt: torch.Tensor | None = None,
    pred: torch.Tensor | None = None,
    alpha: float = 1.0,
    *,
    include_fpl: bool = True,
    fpl_threshold: float = 0.1,
    fpl_margin: int = 4,
) -> LossTerms:
    """``MDL = SDL + FPL(gt, pred)`` (paper); ``SDL`` alone with ``include_fpl=False``.

    ``real_logits``/``fake_logits``: discriminator outputs on (image, gt) and
    (image, pred.detach()). ``pred`` is detached here as well, so FPL only
    shifts the value of MDL (for logging, as in the paper); the gradient
    reaching the discriminator is exactly that of SDL. Use ``fpl_weight`` in
    :func:`generator_loss` to let FPL train the generator.

    Returns:
        :class:`LossTerms` with parts ``real`` (DRL), ``fake`` (DFL), ``sdl``, ``fpl`` (when used), ``total``.
    """
    drl = torch.mean((real_logits - 1.0) ** 2)
    dfl = torch.mean(fake_logits ** 2)
    sdl = 0.5 * (drl + dfl)
    total = sdl
    parts = {"real": float(drl.detach()), "fake": float(dfl.detach()), "sdl": float(sdl.detach())}
    if include_fpl:
        if gt is None or pred is None:
            raise ValueError("discriminator_loss: gt and pred are required when include_fpl=True")
        fpl = foreground_pixel_loss(gt.detach(), pred.detach(), alpha, threshold=fpl_threshold, margin=fpl_margin)
        total = total + fpl
        parts["fpl"] = float(fpl)
    parts["total"] = float(total.detach())
    return LossTerms(total, parts)


# -- segmentation-style losses (sutures) ------------------------------------------------
def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - mean_b (2 sum(p t) + eps) / (sum(p) + sum(t) + eps)`` with ``p = sigmoid(logits)``.

    ``logits``, ``target``: same shape ``(B, C, H, W)`` (target in [0, 1]);
    sums run over C, H, W per sample. ``eps`` smooths the ratio and makes an
    empty target with an empty prediction a perfect match (loss 0).

    >>> t = torch.zeros(1, 1, 4, 4); t[..., :2, :2] = 1
    >>> round(float(soft_dice_loss(40 * t - 20, t)), 4)
    0.0
    """
    _same_shape(logits, target, "soft_dice_loss")
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    dice = (2 * (p * t).sum(1) + eps) / (p.sum(1) + t.sum(1) + eps)
    return 1.0 - dice.mean()


def bce_loss(logits: torch.Tensor, target: torch.Tensor, pos_weight: float | None = None) -> torch.Tensor:
    """Mean binary cross-entropy on logits; ``pos_weight`` up-weights positive (target 1) pixels.

    >>> round(float(bce_loss(torch.zeros(2), torch.tensor([0.0, 1.0]))), 4)  # ln 2
    0.6931
    """
    _same_shape(logits, target, "bce_loss")
    weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               alpha: float | None = 0.25) -> torch.Tensor:
    """Mean sigmoid focal loss (Lin et al.): ``alpha_t (1 - p_t)^gamma BCE``.

    ``p_t = p t + (1 - p)(1 - t)`` and ``alpha_t = alpha t + (1 - alpha)(1 - t)``
    (soft targets allowed); ``alpha=None`` disables the class weighting. Easy
    pixels (``p_t`` near 1) are down-weighted, so focal <= BCE everywhere.

    >>> round(float(focal_loss(torch.zeros(1), torch.ones(1), alpha=None)), 4)  # 0.25 * ln 2
    0.1733
    """
    _same_shape(logits, target, "focal_loss")
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


# -- CycleGAN ----------------------------------------------------------------------------
def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Cycle-consistency L1: ``mean |F(G(x)) - x|``; images ``(B, 3, H, W)`` in [-1, 1].

    >>> float(cycle_loss(torch.zeros(2), torch.tensor([1.0, -1.0])))
    1.0
    """
    _same_shape(reconstructed, original, "cycle_loss")
    return F.l1_loss(reconstructed, original)


def identity_loss(same: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Identity L1: ``mean |G(y) - y|`` (G applied to an image already in its target domain).

    >>> float(identity_loss(torch.ones(3), torch.ones(3)))
    0.0
    """
    _same_shape(same, original, "identity_loss")
    return F.l1_loss(same, original)
