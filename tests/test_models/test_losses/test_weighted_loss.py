"""WeightedLoss: a subclass that writes only its formula gets mmdet's whole loss contract."""
import pytest
import torch
from mmengine.registry import Registry
from torch import Tensor

from cissreg.models.losses.weighted_loss import WeightedLoss


class PowerLoss(WeightedLoss):
    """``|pred - target| ** power`` (a 10-line subclass: constructor + formula)."""

    def __init__(self, power: float = 2.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.power = power

    def elementwise(self, pred: Tensor, target: Tensor, scale: float = 1.0) -> Tensor:
        return scale * (pred - target).abs().pow(self.power)


def reference(pred, target, power=2.0, scale=1.0, weight=None, reduction='mean',
              avg_factor=None, loss_weight=1.0):
    """The contract written out in float64."""
    loss = scale * (pred.double() - target.double()).abs() ** power
    if weight is not None:
        loss = loss * weight.double()
    if reduction == 'none':
        return loss_weight * loss
    if reduction == 'sum':
        return loss_weight * loss.sum()
    return loss_weight * (loss.sum() / avg_factor if avg_factor is not None else loss.mean())


@pytest.mark.parametrize('reduction', ['none', 'mean', 'sum'])
@pytest.mark.parametrize('weighted', [False, True])
def test_reductions_weights_and_gradients_match_the_reference(reduction, weighted):
    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(5, 3, generator=gen, requires_grad=True)
    target = torch.randn(5, 3, generator=gen)
    weight = torch.rand(5, 1, generator=gen) if weighted else None  # broadcast over columns
    loss_fn = PowerLoss(power=3.0, reduction=reduction, loss_weight=0.7)
    loss = loss_fn(pred, target, weight=weight)
    expected = reference(pred.detach(), target, 3.0, weight=weight, reduction=reduction,
                         loss_weight=0.7)
    torch.testing.assert_close(loss, expected.float())
    loss.sum().backward()
    pred64 = pred.detach().double().requires_grad_()
    reference(pred64, target, 3.0, weight=weight, reduction=reduction,
              loss_weight=0.7).sum().backward()
    torch.testing.assert_close(pred.grad, pred64.grad.float())


def test_avg_factor_override_and_kwargs_reach_the_formula():
    pred, target = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0.0, 0.0, 1.0])
    loss_fn = PowerLoss(loss_weight=2.0)  # mean by default
    # (1 + 4 + 9) / 7 * 2, with scale=0.5 forwarded to elementwise()
    assert loss_fn(pred, target, avg_factor=7.0).item() == pytest.approx(4.0)
    assert loss_fn(pred, target, avg_factor=7.0, scale=0.5).item() == pytest.approx(2.0)
    assert loss_fn(pred, target, reduction_override='sum').item() == pytest.approx(28.0)
    torch.testing.assert_close(loss_fn(pred, target, reduction_override='none'),
                               torch.tensor([2.0, 8.0, 18.0]))
    with pytest.raises(ValueError, match='avg_factor can not be used with reduction="sum"'):
        loss_fn(pred, target, avg_factor=2.0, reduction_override='sum')
    with pytest.raises(ValueError, match=r"reduction must be one of .* got 'avg'"):
        loss_fn(pred, target, reduction_override='avg')
    with pytest.raises(ValueError, match="got 'batchmean'"):
        PowerLoss(reduction='batchmean')


def test_empty_mean_is_zero_and_connected():
    pred = torch.zeros(0, 4, requires_grad=True)
    loss = PowerLoss()(pred, torch.zeros(0, 4))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert pred.grad.shape == (0, 4)


def test_a_subclass_without_a_formula_names_itself():

    class Unfinished(WeightedLoss):
        pass

    with pytest.raises(NotImplementedError, match='Unfinished must implement elementwise'):
        Unfinished()(torch.zeros(2), torch.zeros(2))


def test_a_registered_subclass_builds_from_config():
    registry = Registry('test_weighted_loss')  # a private registry: no global side effect
    registry.register_module(module=PowerLoss)
    loss_fn = registry.build(dict(type='PowerLoss', power=1.0, reduction='sum', loss_weight=3))
    assert loss_fn(torch.tensor([1.0, -2.0]), torch.zeros(2)).item() == pytest.approx(9.0)
