"""DiceLoss against a float64 hand computation, with the mmdet contract."""
import torch

from cissreg.models.losses.dice_loss import DiceLoss
from cissreg.registry import MODELS


def _reference(pred, target, eps):
    p = 1 / (1 + torch.exp(-pred.double()))
    losses = []
    for i in range(len(p)):
        inter = float((p[i] * target[i]).sum())
        losses.append(1 - (2 * inter + eps) / (float(p[i].sum()) + float(target[i].sum()) + eps))
    return torch.tensor(losses, dtype=torch.float64)


def test_dice_matches_reference_and_contract():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(4, 9, 7, generator=g).requires_grad_()
    target = (torch.rand(4, 9, 7, generator=g) > 0.6).float()
    ref = _reference(pred.detach(), target, eps=1.0)
    loss = MODELS.build(dict(type='DiceLoss', loss_weight=0.5))
    torch.testing.assert_close(loss(pred, target).double(), 0.5 * ref.mean())
    per_mask = DiceLoss(eps=1e-6, reduction='none')(pred, target)
    torch.testing.assert_close(per_mask.double(), _reference(pred.detach(), target, 1e-6))
    w = torch.tensor([1.0, 0.0, 2.0, 1.0])
    torch.testing.assert_close(DiceLoss()(pred, target, weight=w, avg_factor=4).double(),
                               (ref * w.double()).sum() / 4)
    loss(pred, target).backward()
    assert pred.grad.abs().sum() > 0


def test_dice_is_zero_for_a_perfect_confident_prediction():
    target = torch.zeros(2, 8, 8)
    target[:, 2:6, 2:6] = 1
    pred = (target * 2 - 1) * 50
    assert float(DiceLoss(eps=1e-6)(pred, target)) < 1e-6
