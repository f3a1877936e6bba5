"""DistributionFocalLoss against a float64 per-row formula and ultralytics' DFLoss."""
import math

import pytest
import torch

from cissreg.models.losses import DistributionFocalLoss
from cissreg.registry import MODELS
from cissreg.testing.reference import require


def naive_dfl(logits, y: float) -> float:
    """-(r - y) log p_l - (y - l) log p_r for one row of bin logits (python floats)."""
    top = max(logits)
    log_z = top + math.log(sum(math.exp(v - top) for v in logits))
    left = min(int(math.floor(y)), len(logits) - 2)
    right = left + 1
    return -((right - y) * (logits[left] - log_z) + (y - left) * (logits[right] - log_z))


def naive_dfl_torch(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Row-wise float64 version of ``naive_dfl`` for autograd."""
    log_p = pred - torch.logsumexp(pred, dim=1, keepdim=True)
    left = target.floor().long().clamp(max=pred.shape[1] - 2)
    rows = torch.arange(len(pred))
    w_left = (left + 1).double() - target
    return -(w_left * log_p[rows, left] + (1 - w_left) * log_p[rows, left + 1])


def make(n: int = 40, bins: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    pred = torch.randn(n, bins, generator=gen, dtype=torch.float64) * 2
    target = torch.rand(n, generator=gen, dtype=torch.float64) * (bins - 1)
    target[:4] = torch.tensor([0.0, 3.0, bins - 1.0, bins - 1 - 0.01], dtype=torch.float64)
    return pred, target


def test_values_match_formula():
    pred, target = make()
    expected = torch.tensor([naive_dfl(p.tolist(), float(y)) for p, y in zip(pred, target)],
                            dtype=torch.float64)
    loss = DistributionFocalLoss(reduction='none')
    torch.testing.assert_close(loss(pred, target), expected)
    torch.testing.assert_close(loss(pred.float(), target.float()), expected.float(),
                               rtol=1e-5, atol=1e-5)
    # an integer target is plain cross entropy to that bin
    ce = torch.nn.functional.cross_entropy(pred[1:2], torch.tensor([3]))
    torch.testing.assert_close(loss(pred[1:2], target[1:2])[0], ce)


def test_gradient_matches_formula():
    pred, target = make()
    weight = torch.rand(len(pred), dtype=torch.float64)
    p1 = pred.clone().requires_grad_(True)
    DistributionFocalLoss(loss_weight=1.5)(p1, target, weight=weight, avg_factor=9.0).backward()
    p2 = pred.clone().requires_grad_(True)
    (1.5 * (naive_dfl_torch(p2, target) * weight).sum() / 9.0).backward()
    torch.testing.assert_close(p1.grad, p2.grad)


def test_reductions_and_errors():
    pred, target = make(12)
    per_row = naive_dfl_torch(pred, target)
    loss = MODELS.build(dict(type='DistributionFocalLoss', loss_weight=2.0))
    torch.testing.assert_close(loss(pred, target), 2.0 * per_row.mean())
    torch.testing.assert_close(loss(pred, target, reduction_override='sum'), 2.0 * per_row.sum())
    empty = loss(pred[:0].requires_grad_(True), target[:0], avg_factor=1.0)
    assert empty.item() == 0 and empty.requires_grad
    with pytest.raises(ValueError, match=r'pred \[N, n\] and target \[N\]'):
        loss(pred, target[:3])
    with pytest.raises(ValueError, match='at least 2 bins'):
        loss(pred[:, :1], target)


def test_equals_ultralytics_dfloss():
    ul_loss = require('ultralytics.utils.loss')
    gen = torch.Generator().manual_seed(3)
    pred = torch.randn(24 * 4, 16, generator=gen)
    target = torch.rand(24, 4, generator=gen) * 15  # ultralytics clamps to 14.99 itself
    theirs = ul_loss.DFLoss(16)(pred, target.clone())  # [24, 1]: mean over the 4 sides
    ours = DistributionFocalLoss(reduction='none')(pred, target.clamp(0, 14.99).view(-1))
    torch.testing.assert_close(ours.view(24, 4).mean(-1, keepdim=True), theirs)
