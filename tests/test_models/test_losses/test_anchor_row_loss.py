"""AnchorRowLoss: the anchor mask is the default weight, the mean runs over the anchors."""
import pytest
import torch

from cissreg.models.losses.anchor_row_loss import AnchorRowLoss


class _RowNorm(AnchorRowLoss):
    """Toy subclass: loss of a row = its squared norm / t, anchors = rows with target >= 0."""

    def anchors(self, target):
        return target >= 0

    def elementwise(self, pred, target):
        return pred.pow(2).sum(1) / self.temperature


def test_default_weight_is_anchor_mask_and_mean_over_anchors():
    pred = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([0, -1, 1])
    loss = _RowNorm(temperature=0.5)
    # independent reference: rows 0 and 2 count, (1 / 0.5 + 9 / 0.5) / 2
    assert loss(pred, target).item() == pytest.approx((2.0 + 18.0) / 2)
    assert loss(pred, target, reduction_override='sum').item() == pytest.approx(20.0)
    assert loss(pred, target, reduction_override='none').tolist() == [2.0, 0.0, 18.0]
    # an explicit weight replaces the anchor mask: plain mean over the three rows
    ones = torch.ones(3, dtype=torch.float64)
    assert loss(pred, target, weight=ones).item() == pytest.approx((2.0 + 8.0 + 18.0) / 3)


def test_no_anchor_gives_zero_mean_with_gradient():
    pred = torch.ones(2, 3, requires_grad=True)
    out = _RowNorm()(pred, torch.tensor([-1, -1]))
    assert out.item() == 0.0
    out.backward()
    assert pred.grad is not None


def test_anchors_is_abstract():
    with pytest.raises(NotImplementedError, match='AnchorRowLoss must implement anchors'):
        AnchorRowLoss()(torch.ones(2, 3), torch.tensor([0, 0]))
