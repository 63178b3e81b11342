"""Tests of heatmap_landmarks.losses on hand-computed tiny tensors."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from heatmap_landmarks import losses as L

torch.set_num_threads(1)


def t(*values):
    return torch.tensor(values, dtype=torch.float32)


# -- regression -------------------------------------------------------------------
@pytest.mark.parametrize("diff, expected", [
    (0.0, 0.0),
    (0.2, 0.5 * 0.2 ** 2),          # quadratic regime
    (-0.3, 0.5 * 0.3 ** 2),
    (0.4, 0.08),                    # both branches agree at |d| = delta
    (1.0, 0.4 * (1.0 - 0.2)),       # linear regime: delta * (|d| - delta/2)
    (-2.5, 0.4 * (2.5 - 0.2)),
])
def test_huber_both_regimes_at_delta_04(diff, expected):
    assert float(L.huber_loss(t(diff), t(0.0), delta=0.4)) == pytest.approx(expected, abs=1e-7)


def test_huber_is_mean_over_elements_and_mse_matches_hand_value():
    pred, target = t(0.2, 1.0, 0.0, 0.0), t(0.0, 0.0, 0.0, 0.0)
    assert float(L.huber_loss(pred, target)) == pytest.approx((0.02 + 0.32) / 4)
    assert float(L.mse_loss(pred, target)) == pytest.approx((0.04 + 1.0) / 4)


def test_shape_mismatch_is_an_error_not_a_broadcast():
    with pytest.raises(ValueError, match="shapes differ"):
        L.huber_loss(torch.zeros(2, 1, 4, 4), torch.zeros(1, 1, 4, 4))


# -- LSGAN ---------------------------------------------------------------------------
def test_lsgan_terms_hand_values():
    assert float(L.lsgan_generator_loss(t(0.5, 1.5))) == pytest.approx(0.25)           # ((-.5)^2 + .5^2)/2
    assert float(L.lsgan_generator_loss(torch.ones(2, 1, 4, 4))) == 0.0                 # fooled D
    # SDL = 0.5 * (DRL + DFL): DRL = mean((1-1)^2, (0-1)^2) = 0.5, DFL = mean(0^2, 1^2) = 0.5
    assert float(L.lsgan_discriminator_loss(t(1.0, 0.0), t(0.0, 1.0))) == pytest.approx(0.5)
    assert float(L.lsgan_discriminator_loss(torch.ones(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))) == 0.0


# -- foreground patch and FPL ---------------------------------------------------------------
def _blob(size=32, centre=(16, 16), half=1, batch_shape=True):
    gt = torch.zeros(size, size)
    r, c = centre
    gt[max(r - half, 0):r + half + 1, max(c - half, 0):c + half + 1] = 1.0
    return gt[None, None] if batch_shape else gt


def test_fpl_with_known_patch():
    gt = torch.zeros(1, 1, 20, 20)
    gt[0, 0, 9:11, 9:11] = 1.0        # 2x2 blob -> side 2 + 2*margin(1) = 4 -> rows/cols 8..12
    box = L.foreground_patch_box(gt, margin=1, min_size=4)
    assert box.tolist() == [[8, 8, 12, 12]]
    pred = torch.zeros_like(gt)
    pred[0, 0, 0, 0] = 100.0          # outside the patch: ignored by FPL
    # 4 of 16 patch pixels off by 1: MSE = MAE = 0.25
    assert float(L.foreground_pixel_loss(gt, pred, alpha=1.0, margin=1, min_size=4)) == pytest.approx(0.5, abs=1e-6)
    assert float(L.foreground_pixel_loss(gt, pred, alpha=3.0, margin=1, min_size=4)) == pytest.approx(1.0, abs=1e-6)


def test_fpl_patch_size_is_found_at_run_time():
    boxes = L.foreground_patch_box(torch.cat([_blob(half=1), _blob(half=5), _blob(half=9)]), margin=2, min_size=1)
    sides = (boxes[:, 2] - boxes[:, 0]).tolist()
    assert sides == [3 + 4, 11 + 4, 19 + 4]                                   # grows with the blob
    assert torch.equal(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])   # square


@pytest.mark.parametrize("centre, half, size", [((1, 1), 1, 32), ((30, 2), 2, 32), ((16, 16), 30, 32)])
def test_patch_box_stays_inside_image_and_covers_foreground(centre, half, size):
    gt = _blob(size=size, centre=centre, half=half, batch_shape=False)
    r0, c0, r1, c1 = L.foreground_patch_box(gt, margin=4).tolist()
    assert 0 <= r0 < r1 <= size and 0 <= c0 < c1 <= size
    assert r1 - r0 == c1 - c0
    assert float(gt[r0:r1, c0:c1].sum()) == float(gt.sum())


def test_patch_box_union_over_channels_and_empty_sample():
    gt = torch.zeros(2, 2, 32, 32)
    gt[0, 0, 4, 4] = 1.0
    gt[0, 1, 20, 20] = 1.0            # two landmark channels: one box spanning both
    boxes = L.foreground_patch_box(gt, margin=0, min_size=1)
    assert boxes[0].tolist() == [4, 4, 21, 21]
    assert boxes[1].tolist() == [0, 0, 0, 0]   # no foreground


def test_fpl_skips_samples_without_foreground():
    gt = torch.cat([_blob(), torch.zeros(1, 1, 32, 32)])
    pred = torch.rand_like(gt)
    alone = L.foreground_pixel_loss(gt[:1], pred[:1])
    assert float(L.foreground_pixel_loss(gt, pred)) == pytest.approx(float(alone))
    pred_req = torch.rand(1, 1, 32, 32, requires_grad=True)
    empty = L.foreground_pixel_loss(torch.zeros(1, 1, 32, 32), pred_req)
    empty.backward()
    assert float(empty.detach()) == 0.0 and float(pred_req.grad.abs().sum()) == 0.0


# -- combined GAN losses ---------------------------------------------------------------------
def test_generator_loss_terms_and_ablations():
    gt = _blob(size=16, centre=(8, 8))
    pred = torch.full_like(gt, 0.1)
    fake = t(0.5, 1.5)
    huber = float(L.huber_loss(pred, gt, 0.4))
    full = L.generator_loss(fake, pred, gt, beta=10.0, delta=0.4)
    assert full.total.dim() == 0
    assert float(full.total) == pytest.approx(0.25 + 10 * huber, rel=1e-6)
    assert full.parts == pytest.approx({"adversarial": 0.25, "regression": huber, "total": 0.25 + 10 * huber})
    no_adv = L.generator_loss(None, pred, gt, beta=10.0, adversarial=False)
    assert float(no_adv.total) == pytest.approx(10 * huber, rel=1e-6) and "adversarial" not in no_adv.parts
    mse = L.generator_loss(fake, pred, gt, beta=10.0, regression="mse")
    assert float(mse.total) == pytest.approx(0.25 + 10 * float(L.mse_loss(pred, gt)), rel=1e-6)
    fpl = float(L.foreground_pixel_loss(gt, pred, 2.0))
    with_fpl = L.generator_loss(fake, pred, gt, beta=10.0, fpl_weight=0.5, alpha=2.0)
    assert float(with_fpl.total) == pytest.approx(0.25 + 10 * huber + 0.5 * fpl, rel=1e-6)
    with pytest.raises(ValueError, match="regression"):
        L.generator_loss(fake, pred, gt, regression="l1")


def test_false_peak_loss_sees_only_the_highest_pixel_away_from_landmarks():
    gt = torch.zeros(2, 2, 16, 16)
    gt[0, 0] = _blob(size=16, centre=(8, 8))[0, 0]          # map (0, 0) has a landmark; the other three are empty
    pred = torch.zeros(2, 2, 16, 16, requires_grad=True)
    with torch.no_grad():
        pred[0, 0, 8, 8] = 0.9      # on the landmark: not false
        pred[0, 0, 1, 1] = 0.3      # a second blob far from it: false
        pred[0, 1, 4, 4] = 0.5      # an empty map firing: false
        pred[1, 0, 2, 2] = -0.7     # negative values are no peak
        pred[1, 1, 3, 3] = 0.1
        pred[1, 1, 5, 5] = 0.2
    loss = L.false_peak_loss(pred, gt)
    assert float(loss) == pytest.approx((0.3 ** 2 + 0.5 ** 2 + 0.0 + 0.2 ** 2) / 4)
    loss.backward()
    grad = pred.grad
    assert torch.count_nonzero(grad) == 3                    # only each map's arg-max away from the landmark
    assert float(grad[0, 0, 8, 8]) == 0.0 and float(grad[1, 1, 3, 3]) == 0.0
    assert float(grad[0, 1, 4, 4]) == pytest.approx(2 * 0.5 / 4)
    with pytest.raises(ValueError, match="shapes differ"):
        L.false_peak_loss(pred[:, :1], gt)
    with pytest.raises(ValueError, match="B, C, H, W"):
        L.false_peak_loss(pred[0], gt[0])
    # as a generator term: added with its weight, logged as its own part, and off by default
    fake = t(0.5, 1.5)
    off = L.generator_loss(fake, pred.detach(), gt, beta=10.0)
    on = L.generator_loss(fake, pred.detach(), gt, beta=10.0, false_peak_weight=3.0)
    assert "false_peak" not in off.parts and on.parts["false_peak"] == pytest.approx(float(loss))
    assert float(on.total) == pytest.approx(float(off.total) + 3.0 * float(loss), rel=1e-6)


def test_discriminator_loss_is_sdl_plus_fpl_and_fpl_gives_no_gradient():
    torch.manual_seed(0)
    disc = nn.Conv2d(2, 1, 4, stride=4)
    image = torch.rand(2, 1, 16, 16)
    gt = torch.cat([_blob(size=16, centre=(8, 8)), _blob(size=16, centre=(3, 12))])
    pred = torch.rand(2, 1, 16, 16, requires_grad=True)  # generator output

    def d_grads(include_fpl):
        disc.zero_grad()
        real = disc(torch.cat([image, gt], 1))
        fake = disc(torch.cat([image, pred.detach()], 1))
        terms = L.discriminator_loss(real, fake, gt, pred, alpha=1.0, include_fpl=include_fpl)
        terms.total.backward()
        return terms, [p.grad.clone() for p in disc.parameters()]

    mdl, g_mdl = d_grads(True)
    sdl, g_sdl = d_grads(False)
    fpl = float(L.foreground_pixel_loss(gt, pred.detach()))
    assert mdl.parts["total"] == pytest.approx(sdl.parts["total"] + fpl, rel=1e-6)
    assert mdl.parts["sdl"] == pytest.approx(0.5 * (mdl.parts["real"] + mdl.parts["fake"]), rel=1e-6)
    assert all(torch.allclose(a, b) for a, b in zip(g_mdl, g_sdl))  # FPL does not change D's gradient
    assert pred.grad is None                                         # nor does it reach the generator


# -- segmentation-style ------------------------------------------------------------------------
def _mask():
    m = torch.zeros(2, 1, 8, 8)
    m[:, :, 2:6, 2:6] = 1.0
    return m


def test_dice_perfect_and_disjoint():
    m = _mask()
    assert float(L.soft_dice_loss(40 * m - 20, m)) == pytest.approx(0.0, abs=1e-6)
    disjoint = 1 - m
    assert float(L.soft_dice_loss(40 * disjoint - 20, m)) > 0.97       # (0 + 1) / (48 + 16 + 1) -> 0.985
    empty = torch.zeros(1, 1, 4, 4)
    assert float(L.soft_dice_loss(torch.full_like(empty, -20.0), empty)) == pytest.approx(0, abs=1e-6)


def test_bce_and_focal_hand_values():
    assert float(L.bce_loss(torch.zeros(2), t(0.0, 1.0))) == pytest.approx(math.log(2))
    assert float(L.bce_loss(torch.zeros(1), t(1.0), pos_weight=3.0)) == pytest.approx(3 * math.log(2))
    # p = 0.5, t = 1: alpha_t = 0.25, (1 - p_t)^2 = 0.25, CE = ln 2
    assert float(L.focal_loss(torch.zeros(1), t(1.0))) == pytest.approx(0.25 * 0.25 * math.log(2))
    logits, target = torch.randn(3, 1, 5, 5), (torch.rand(3, 1, 5, 5) > 0.5).float()
    plain = float(L.focal_loss(logits, target, gamma=0.0, alpha=None))
    assert plain == pytest.approx(float(L.bce_loss(logits, target)))  # gamma 0, no alpha: focal == BCE


def test_focal_is_below_bce_and_much_below_for_easy_examples():
    target = _mask()
    easy = 6 * (2 * target - 1)          # confident and right: p_t ~ 0.998
    focal, bce = float(L.focal_loss(easy, target)), float(L.bce_loss(easy, target))
    assert focal <= bce and focal < 1e-3 * bce
    hard = -easy
    assert float(L.focal_loss(hard, target)) <= float(L.bce_loss(hard, target))


def test_cycle_and_identity_l1():
    a, b = t(1.0, -1.0, 0.5), t(0.0, 0.0, 0.0)
    assert float(L.cycle_loss(a, b)) == pytest.approx(2.5 / 3)
    assert float(L.identity_loss(a, a)) == 0.0


# -- gradients -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, fn", [
    ("huber", lambda p, g: L.huber_loss(p, g)),
    ("mse", lambda p, g: L.mse_loss(p, g)),
    ("fpl", lambda p, g: L.foreground_pixel_loss(g, p)),
    ("generator", lambda p, g: L.generator_loss(p[:, :, :4, :4], p, g, fpl_weight=1.0).total),
    ("dice", lambda p, g: L.soft_dice_loss(p, g)),
    ("bce", lambda p, g: L.bce_loss(p, g)),
    ("focal", lambda p, g: L.focal_loss(p, g)),
    ("cycle", lambda p, g: L.cycle_loss(p, g)),
])
def test_gradients_are_finite(name, fn):
    torch.manual_seed(1)
    pred = (torch.randn(2, 1, 16, 16) * 5).requires_grad_()
    gt = torch.cat([_blob(size=16, centre=(5, 5)), _blob(size=16, centre=(10, 3))])
    loss = fn(pred, gt)
    loss.backward()
    assert torch.isfinite(loss) and pred.grad is not None
    assert torch.isfinite(pred.grad).all() and float(pred.grad.abs().sum()) > 0
