"""ChannelWiseDivergence against a float64 reference written from the paper's formula."""
import math

import pytest
import torch

from cissreg.models.distillers import ConvConnector
from cissreg.models.losses import ChannelWiseDivergence
from cissreg.registry import MODELS


def reference_cwd(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """Shu et al. (ICCV 2021): per channel, phi(x) = softmax over H*W of x / tau;
    tau^2 * sum_i phi(T)_i * log(phi(T)_i / phi(S)_i), averaged over channels and batch.
    Explicit exp / sum (no log_softmax), one channel at a time, float64."""
    n, c = student.shape[:2]
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        for j in range(c):
            s = student[i, j].reshape(-1).double() / tau
            t = teacher[i, j].reshape(-1).double() / tau
            p_s = torch.exp(s) / torch.exp(s).sum()
            p_t = torch.exp(t) / torch.exp(t).sum()
            total = total + tau**2 * (p_t * torch.log(p_t / p_s)).sum()
    return total / (n * c)


@pytest.mark.parametrize('tau', [1.0, 2.5, 0.7])
def test_value_and_gradient_match_reference(tau):
    g = torch.Generator().manual_seed(0)
    student = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64) * 2
    teacher = torch.randn(2, 3, 5, 4, generator=g, dtype=torch.float64) * 2
    loss_fn = ChannelWiseDivergence(tau=tau, loss_weight=1.0)

    s_impl = student.clone().requires_grad_()
    loss = loss_fn(s_impl, teacher)
    s_ref = student.clone().requires_grad_()
    ref = reference_cwd(s_ref, teacher, tau)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-10, abs=1e-12)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(s_impl.grad, s_ref.grad, rtol=1e-9, atol=1e-12)

    # float32 inputs: same numbers to float32 precision
    loss32 = loss_fn(student.float(), teacher.float())
    assert loss32.dtype == torch.float32
    assert loss32.item() == pytest.approx(ref.item(), rel=1e-5)


def test_teacher_is_a_constant_and_identical_maps_give_zero():
    teacher = torch.randn(1, 2, 3, 3, requires_grad=True)
    loss = ChannelWiseDivergence(tau=3.0)(teacher.detach().clone().requires_grad_(), teacher)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()
    assert teacher.grad is None


def test_reductions_weight_and_loss_weight():
    g = torch.Generator().manual_seed(1)
    student = torch.randn(3, 4, 2, 2, generator=g, dtype=torch.float64)
    teacher = torch.randn(3, 4, 2, 2, generator=g, dtype=torch.float64)
    per_channel = ChannelWiseDivergence(tau=2.0, reduction='none')(student, teacher)
    assert per_channel.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            expected = reference_cwd(student[i:i + 1, j:j + 1], teacher[i:i + 1, j:j + 1], 2.0)
            assert per_channel[i, j].item() == pytest.approx(expected.item(), rel=1e-10)
    weight = torch.rand(3, 4, generator=g, dtype=torch.float64)
    loss = ChannelWiseDivergence(tau=2.0, loss_weight=0.05)
    assert loss(student, teacher).item() == pytest.approx(0.05 * per_channel.mean().item())
    assert loss(student, teacher, weight=weight, avg_factor=7.0).item() == pytest.approx(
        0.05 * (per_channel * weight).sum().item() / 7.0)
    assert loss(student, teacher, reduction_override='sum').item() == pytest.approx(
        0.05 * per_channel.sum().item())


def test_mismatched_channels_through_a_connector():
    """Student with 3 channels, teacher with 5: a 1x1 conv connector maps the student."""
    torch.manual_seed(0)
    connector = MODELS.build(dict(type='ConvConnector', in_channels=3, out_channels=5)).double()
    assert isinstance(connector, ConvConnector)
    student = torch.randn(2, 3, 4, 6, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(2, 5, 4, 6, dtype=torch.float64)
    tau = 1.5
    loss_fn = ChannelWiseDivergence(tau=tau)
    with pytest.raises(ValueError, match='connector'):
        loss_fn(student, teacher)
    loss = loss_fn(connector(student), teacher)
    loss.backward()

    # reference: the 1x1 conv written out as a channel mix, then the CWD formula
    weight = connector.conv.weight.detach().clone().requires_grad_()
    bias = connector.conv.bias.detach().clone().requires_grad_()
    s_ref = student.detach().clone().requires_grad_()
    mapped = torch.einsum('oc,nchw->nohw', weight[:, :, 0, 0], s_ref) + bias[None, :, None, None]
    ref = reference_cwd(mapped, teacher, tau)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-10)
    torch.testing.assert_close(student.grad, s_ref.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(connector.conv.weight.grad, weight.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(connector.conv.bias.grad, bias.grad, rtol=1e-9, atol=1e-12)


def test_large_logits_stay_finite():
    student = torch.randn(1, 2, 4, 4) * 1e3
    teacher = torch.randn(1, 2, 4, 4) * 1e3
    assert math.isfinite(ChannelWiseDivergence(tau=1.0)(student, teacher).item())


def test_half_precision_inputs_are_computed_in_float32():
    g = torch.Generator().manual_seed(2)
    student = torch.randn(1, 2, 3, 3, generator=g)
    teacher = torch.randn(1, 2, 3, 3, generator=g)
    loss = ChannelWiseDivergence(tau=2.0)(student.half(), teacher.half())
    assert loss.dtype == torch.float32
    ref = reference_cwd(student.half().float(), teacher.half().float(), 2.0)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match='tau'):
        ChannelWiseDivergence(tau=0)
    with pytest.raises(ValueError, match='reduction'):
        ChannelWiseDivergence(reduction='batchmean')
    with pytest.raises(ValueError, match='same shape'):
        ChannelWiseDivergence()(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 4))
