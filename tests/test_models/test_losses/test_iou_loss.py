"""IoULoss / aligned_bbox_iou against float64 formulas written from their definitions."""
import math

import pytest
import torch

from cissreg.models.losses import IoULoss, aligned_bbox_iou
from cissreg.registry import MODELS
from cissreg.testing.reference import require


def random_boxes(n: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=gen, dtype=dtype) * 50
    wh = torch.rand(n, 2, generator=gen, dtype=dtype) * 30 + 1
    return torch.cat([xy, xy + wh], 1)


def box_pairs(n: int = 64):
    pred, target = random_boxes(n, 0), random_boxes(n, 1)
    target[:8] = pred[:8] + 0.5  # strongly overlapping pairs
    target[8:12] = pred[8:12]  # identical pairs
    return pred, target


def naive_iou(p, t, mode: str) -> float:
    """One pair, python floats: IoU, GIoU (Rezatofighi 2019) or CIoU (Zheng 2020)."""
    iw = max(0.0, min(p[2], t[2]) - max(p[0], t[0]))
    ih = max(0.0, min(p[3], t[3]) - max(p[1], t[1]))
    wp, hp, wt, ht = p[2] - p[0], p[3] - p[1], t[2] - t[0], t[3] - t[1]
    inter = iw * ih
    union = wp * hp + wt * ht - inter
    iou = inter / union
    cw = max(p[2], t[2]) - min(p[0], t[0])
    ch = max(p[3], t[3]) - min(p[1], t[1])
    if mode == 'iou':
        return iou
    if mode == 'giou':
        return iou - (cw * ch - union) / (cw * ch)
    rho2 = ((p[0] + p[2] - t[0] - t[2])**2 + (p[1] + p[3] - t[1] - t[3])**2) / 4
    v = 4 / math.pi**2 * (math.atan(wt / ht) - math.atan(wp / hp))**2
    alpha = v / (1 - iou + v) if v > 0 else 0.0
    return iou - rho2 / (cw**2 + ch**2) - alpha * v


def naive_iou_torch(p: torch.Tensor, t: torch.Tensor, mode: str) -> torch.Tensor:
    """Vectorised float64 version of ``naive_iou`` for autograd (CIoU's alpha constant)."""
    iw = (torch.min(p[:, 2], t[:, 2]) - torch.max(p[:, 0], t[:, 0])).clamp(min=0)
    ih = (torch.min(p[:, 3], t[:, 3]) - torch.max(p[:, 1], t[:, 1])).clamp(min=0)
    wp, hp = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
    wt, ht = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
    inter = iw * ih
    union = wp * hp + wt * ht - inter
    iou = inter / union
    cw = torch.max(p[:, 2], t[:, 2]) - torch.min(p[:, 0], t[:, 0])
    ch = torch.max(p[:, 3], t[:, 3]) - torch.min(p[:, 1], t[:, 1])
    if mode == 'iou':
        return iou
    if mode == 'giou':
        return iou - (cw * ch - union) / (cw * ch)
    rho2 = ((p[:, 0] + p[:, 2] - t[:, 0] - t[:, 2])**2
            + (p[:, 1] + p[:, 3] - t[:, 1] - t[:, 3])**2) / 4
    v = 4 / math.pi**2 * (torch.atan(wt / ht) - torch.atan(wp / hp))**2
    with torch.no_grad():
        alpha = v / (1 - iou + v).clamp(min=1e-12)
    return iou - rho2 / (cw**2 + ch**2) - alpha * v


@pytest.mark.parametrize('mode', ['iou', 'giou', 'ciou'])
def test_values_match_definitions(mode):
    pred, target = box_pairs()
    expected = torch.tensor([naive_iou(p.tolist(), t.tolist(), mode)
                             for p, t in zip(pred, target)], dtype=torch.float64)
    torch.testing.assert_close(aligned_bbox_iou(pred, target, mode), expected, rtol=1e-6,
                               atol=1e-7)
    torch.testing.assert_close(aligned_bbox_iou(pred.float(), target.float(), mode),
                               expected.float(), rtol=1e-4, atol=1e-5)
    assert (aligned_bbox_iou(pred, target, mode)[8:12] - 1).abs().max() < 1e-6
    loss = IoULoss(iou_mode=mode, reduction='none')(pred, target)
    torch.testing.assert_close(loss, 1 - expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize('mode', ['iou', 'giou', 'ciou'])
def test_gradients_match_definitions(mode):
    pred, target = box_pairs()
    weight = torch.rand(len(pred), dtype=torch.float64) + 0.1
    p1 = pred.clone().requires_grad_(True)
    IoULoss(iou_mode=mode, loss_weight=2.0)(p1, target, weight=weight, avg_factor=7.0).backward()
    p2 = pred.clone().requires_grad_(True)
    (2.0 * ((1 - naive_iou_torch(p2, target, mode)) * weight).sum() / 7.0).backward()
    torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-5, atol=1e-8)


def test_reductions_weight_and_errors():
    pred, target = box_pairs(16)
    per_box = 1 - torch.tensor([naive_iou(p.tolist(), t.tolist(), 'ciou')
                                for p, t in zip(pred, target)], dtype=torch.float64)
    weight = torch.linspace(0, 1, 16, dtype=torch.float64)
    loss = MODELS.build(dict(type='IoULoss', loss_weight=7.5))
    assert loss.iou_mode == 'ciou'
    torch.testing.assert_close(loss(pred, target), 7.5 * per_box.mean())
    torch.testing.assert_close(loss(pred, target, weight=weight, avg_factor=3.0),
                               7.5 * (per_box * weight).sum() / 3.0)
    torch.testing.assert_close(loss(pred, target, reduction_override='sum'),
                               7.5 * per_box.sum())
    empty = loss(pred[:0].requires_grad_(True), target[:0])
    assert empty.item() == 0 and empty.requires_grad
    with pytest.raises(ValueError, match='iou_mode'):
        IoULoss(iou_mode='diou2')
    with pytest.raises(ValueError, match='reduction'):
        IoULoss(reduction='avg')
    with pytest.raises(ValueError, match='same shape'):
        loss(pred, target[:3])
    with pytest.raises(ValueError, match='avg_factor'):
        loss(pred, target, avg_factor=2.0, reduction_override='sum')


@pytest.mark.parametrize('mode', ['iou', 'giou', 'ciou'])
def test_equals_ultralytics_bbox_iou(mode):
    metrics = require('ultralytics.utils.metrics')
    pred, target = (b.float() for b in box_pairs())
    flags = dict(GIoU=mode == 'giou', CIoU=mode == 'ciou')
    theirs = metrics.bbox_iou(pred, target, xywh=False, **flags).squeeze(-1)
    assert torch.equal(aligned_bbox_iou(pred, target, mode), theirs)
