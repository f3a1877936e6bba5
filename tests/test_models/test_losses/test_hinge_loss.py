"""HingeLoss and hard-pair selection against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from cissreg.models.losses import HingeLoss, select_hard_pairs


def _inputs(requires_grad: bool = False):
    feats = torch.tensor([[[3.0, 4.0], [1.0, 0.0]],      # pair 0: old class samples
                          [[0.0, 1.0], [1.0, 1.0]]])     # pair 1
    old_text = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=requires_grad)
    new_text = torch.tensor([[0.0, 1.0], [1.0, 1.0]], requires_grad=requires_grad)
    return feats, old_text, new_text


# max(0, cos(f, t_new) - cos(f, t_old) + 0.1) per sample, by hand:
# pair 0: (0.6, 0.8): 0.8 - 0.6 + 0.1 = 0.3;  (1, 0): 0 - 1 + 0.1 < 0 -> 0
# pair 1: (0, 1): 1/sqrt2 - 1 + 0.1 < 0 -> 0; (1,1)/sqrt2: 1 - 1/sqrt2 + 0.1
HAND = [[0.3, 0.0], [0.0, 1.1 - 1 / math.sqrt(2)]]


def test_values_by_hand():
    feats, old_text, new_text = _inputs()
    loss = HingeLoss(margin=0.1, loss_weight=2.0)
    elementwise = loss(feats, old_text, new_text, reduction_override='none')
    assert torch.allclose(elementwise, 2.0 * torch.tensor(HAND), atol=1e-6)
    assert loss(feats, old_text, new_text).item() == pytest.approx(2.0 * np.mean(HAND), abs=1e-6)
    weight = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert loss(feats, old_text, new_text, weight=weight, avg_factor=2.0).item() == \
        pytest.approx(2.0 * 0.3 / 2.0, abs=1e-6)
    # margin 0.5: 0.7, 0 (-0.5 clipped), 1/sqrt2 - 0.5, 1.5 - 1/sqrt2
    by_hand = (0.7 + 0.0 + (1 / math.sqrt(2) - 0.5) + (1.5 - 1 / math.sqrt(2))) / 4
    assert HingeLoss(margin=0.5)(feats, old_text, new_text).item() == pytest.approx(
        by_hand, abs=1e-6)


@pytest.mark.parametrize('detach', [True, False])
def test_old_text_detach(detach):
    feats, old_text, new_text = _inputs(requires_grad=True)
    HingeLoss(detach_old_text=detach)(feats, old_text, new_text).backward()
    assert new_text.grad is not None and new_text.grad.abs().sum() > 0
    if detach:
        assert old_text.grad is None
    else:
        assert old_text.grad.abs().sum() > 0


def test_gradient_matches_finite_difference():
    feats, old_text, new_text = _inputs()
    new_text = new_text.double().requires_grad_()
    old_text = old_text.double()
    feats = feats.double()
    loss = HingeLoss(margin=0.1, detach_old_text=False)
    assert torch.autograd.gradcheck(lambda t: loss(feats, old_text, t), (new_text, ))


def test_no_pairs_gives_connected_zero():
    text = torch.randn(0, 4, requires_grad=True)
    out = HingeLoss()(torch.randn(0, 3, 4), text, text)
    assert out.item() == 0.0 and out.requires_grad


def test_select_hard_pairs_by_hand():
    sim = torch.tensor([[0.9, 0.2, 0.85], [0.95, 0.5, 0.8]])
    old_ids, new_ids = torch.tensor([0, 1]), torch.tensor([4, 5, 6])
    # > 0.8 (0.8 itself excluded): (1,4) 0.95, (0,4) 0.9, (0,6) 0.85
    assert select_hard_pairs(sim, old_ids, new_ids, 0.8).tolist() == [[1, 4], [0, 4], [0, 6]]
    assert select_hard_pairs(sim, old_ids, new_ids, 0.8, top_k=2).tolist() == [[1, 4], [0, 4]]
    assert select_hard_pairs(sim, old_ids, new_ids, 0.99).shape == (0, 2)
    with pytest.raises(ValueError, match='does not match'):
        select_hard_pairs(sim, old_ids, new_ids[:2], 0.5)


def test_select_pairs_uses_cosine_of_features():
    old = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    new = torch.tensor([[2.0, 0.2], [0.1, 1.0], [-1.0, 0.0]])
    cos = np.array([[1 / np.hypot(1, 0.1), 0.1 / np.hypot(0.1, 1), -1.0],
                    [0.1 / np.hypot(1, 0.1), 1 / np.hypot(0.1, 1), 0.0]])
    loss = HingeLoss(hard_pair_threshold=0.5, top_hard_pairs=None)
    pairs = loss.select_pairs(old, new, torch.tensor([7, 8]), torch.tensor([10, 11, 12]))
    expected = [(7 + i, 10 + j) for i, j in zip(*np.nonzero(cos > 0.5))]
    expected.sort(key=lambda p: -cos[p[0] - 7, p[1] - 10])
    assert [tuple(p) for p in pairs.tolist()] == expected


def test_bad_arguments():
    with pytest.raises(ValueError, match='pair_source'):
        HingeLoss(pair_source='audio')
    with pytest.raises(ValueError, match='reduction'):
        HingeLoss(reduction='avg')
