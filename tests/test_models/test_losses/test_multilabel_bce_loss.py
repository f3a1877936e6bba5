"""multilabel_bce loss (DKD) against a float64 reference."""
import pytest
import torch

from cissreg.registry import MODELS
from cissreg.testing.ciss_loss_reference import bce, logits_and_labels, per_class_pixel_mean_sum


@pytest.mark.parametrize('pos_weight', [1.0, 2.0, 35.0])
def test_mbce_value_and_grad_against_reference(pos_weight):
    x, label = logits_and_labels()
    first = 3  # channels are classes 3, 4, 5; 0, 1, 2 and 255 are negatives
    loss = MODELS.build(dict(type='MultiLabelBCELoss', pos_weight=pos_weight, loss_weight=0.7))
    xg = x.clone().requires_grad_(True)
    value = loss(xg, label, first_class=first)
    value.backward()

    xd = x.double().requires_grad_(True)
    target = torch.zeros_like(xd)
    for c in range(x.shape[1]):
        for idx in (label == first + c).nonzero():
            target[idx[0], c, idx[1], idx[2]] = 1.0
    ref = 0.7 * per_class_pixel_mean_sum(bce(xd, target, pos_weight))
    ref.backward()
    torch.testing.assert_close(value.double(), ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(xg.grad.double(), xd.grad, rtol=1e-5, atol=1e-7)


def test_mbce_zero_and_255_are_negatives_and_pos_weight_override():
    x = torch.zeros(1, 1, 1, 3)
    label = torch.tensor([[[0, 255, 1]]])
    loss = MODELS.build(dict(type='MultiLabelBCELoss', pos_weight=1.0, reduction='none'))
    out = loss(x, label, first_class=1, pos_weight=4.0)
    log2 = torch.log(torch.tensor(2.0))
    torch.testing.assert_close(out.flatten(), torch.stack([log2, log2, 4 * log2]))


def test_explicit_avg_factor_and_sum_keep_mmdet_meaning():
    x, label = logits_and_labels(5)
    loss = MODELS.build(dict(type='MultiLabelBCELoss'))
    elem = loss(x, label, reduction_override='none')
    torch.testing.assert_close(loss(x, label, reduction_override='sum'), elem.sum())
    torch.testing.assert_close(loss(x, label, avg_factor=7.0), elem.sum() / 7.0)
