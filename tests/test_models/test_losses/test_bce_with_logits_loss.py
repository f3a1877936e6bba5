"""BCEWithLogitsLoss (fused and element-wise paths) against a float64 formula."""
import pytest
import torch
import torch.nn.functional as F

from cissreg.models.losses import BCEWithLogitsLoss
from cissreg.models.losses.bce_with_logits_loss import softplus_sum
from cissreg.registry import MODELS


def naive_bce(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """-(t log s + (1 - t) log(1 - s)), s = sigmoid(x), stable in float64."""
    x, t = x.double(), t.double()
    log_s = -torch.log1p(torch.exp(-x.abs())) + x.clamp(max=0)  # log sigmoid(x)
    log_1ms = log_s - x  # log(1 - sigmoid(x))
    return -(t * log_s + (1 - t) * log_1ms)


def make(shape=(3, 50, 7), seed=0, scale=4.0, shift=-2.0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen) * scale + shift
    t = torch.rand(*shape, generator=gen) * (torch.rand(*shape, generator=gen) < 0.1)
    return x, t


@pytest.mark.parametrize('scale,shift', [(4.0, -2.0), (0.0, -11.5), (40.0, 0.0), (0.0, 30.0)])
def test_softplus_sum_accuracy(scale, shift):
    x = torch.randn(300_001, generator=torch.Generator().manual_seed(1)) * scale + shift
    expected = F.softplus(x.double(), threshold=1e9).sum()
    torch.testing.assert_close(softplus_sum(x).double(), expected, rtol=1e-6, atol=1e-6)


def test_fused_sum_value_and_gradients():
    x, t = make()
    expected = naive_bce(x, t).sum()
    loss = BCEWithLogitsLoss(reduction='sum', loss_weight=0.5)
    xg, tg = x.clone().requires_grad_(True), t.clone().requires_grad_(True)
    value = loss(xg, tg)
    torch.testing.assert_close(value.double(), 0.5 * expected, rtol=1e-6, atol=1e-6)
    value.backward()
    xd, td = x.double().requires_grad_(True), t.double().requires_grad_(True)
    (0.5 * naive_bce(xd, td).sum()).backward()
    torch.testing.assert_close(xg.grad.double(), xd.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(tg.grad.double(), td.grad, rtol=1e-5, atol=1e-6)


def test_avg_factor_non_contiguous_and_elementwise_paths():
    x, t = make()
    per_elem = naive_bce(x, t)
    loss = MODELS.build(dict(type='BCEWithLogitsLoss', loss_weight=0.5))
    # YOLOv8 use: mean with avg_factor (fused), here on transposed (non-contiguous) inputs
    xt, tt = x.transpose(1, 2), t.transpose(1, 2)
    assert not xt.is_contiguous()
    torch.testing.assert_close(loss(xt, tt, avg_factor=torch.tensor(3.0)).double(),
                               0.5 * per_elem.sum() / 3, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(loss(x, t).double(), 0.5 * per_elem.mean(), rtol=1e-6, atol=1e-7)
    weight = torch.rand(x.shape[-1])
    torch.testing.assert_close(loss(x, t, weight=weight, avg_factor=2.0).double(),
                               0.5 * (per_elem * weight).sum() / 2, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(loss(x, t, reduction_override='none').double(), 0.5 * per_elem,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match='same shape'):
        loss(x, t[:1])
    with pytest.raises(ValueError, match='avg_factor'):
        loss(x, t, weight=weight, avg_factor=2.0, reduction_override='sum')


def test_fused_path_is_exact_where_torch_sum_drifts():
    """5.4M equal logits (an untrained head's bias): the fused sum stays exact."""
    x = torch.full((8, 8400, 80), -11.5)
    t = torch.zeros_like(x)
    expected = naive_bce(x[:1, :1, :1], t[:1, :1, :1]).sum() * x.numel()
    value = BCEWithLogitsLoss(reduction='sum')(x, t)
    torch.testing.assert_close(value.double(), expected, rtol=1e-6, atol=0.0)
