"""KLResponseLoss against float64 references written from Hinton et al.'s formula."""
import pytest
import torch

from cissreg.models.losses import KLResponseLoss


def softmax64(x: torch.Tensor) -> torch.Tensor:
    e = torch.exp(x.double() - x.double().max())
    return e / e.sum()


def reference_class_kl(student, teacher, class_indexes, tau):
    """Mean over (image, anchor) of tau^2 * KL(softmax(T/tau) || softmax(S[class_indexes]/tau))."""
    n, _, h, w = student.shape
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                s = torch.stack([student[i, k, y, x] for k in class_indexes])
                p_s = softmax64(s / tau)
                p_t = softmax64(teacher[i, :, y, x] / tau)
                total = total + tau**2 * (p_t * torch.log(p_t / p_s)).sum()
    return total / (n * h * w)


def reference_box_kl(student, teacher, reg_max, tau):
    """Mean over (image, side, anchor) of the per-side KL of the reg_max bins."""
    n, _, h, w = student.shape
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        for side in range(4):
            bins = slice(side * reg_max, (side + 1) * reg_max)
            for y in range(h):
                for x in range(w):
                    p_s = softmax64(student[i, bins, y, x] / tau)
                    p_t = softmax64(teacher[i, bins, y, x] / tau)
                    total = total + tau**2 * (p_t * torch.log(p_t / p_s)).sum()
    return total / (n * 4 * h * w)


def reference_sigmoid(student, teacher, class_indexes, tau):
    """Mean over anchors of sum over the teacher's classes of tau^2 * (BCE(q, p) - H(p))."""
    n, _, h, w = student.shape
    total = torch.zeros((), dtype=torch.float64)
    for i in range(n):
        for y in range(h):
            for x in range(w):
                for j, k in enumerate(class_indexes):
                    p = 1 / (1 + torch.exp(-teacher[i, j, y, x].double() / tau))
                    q = 1 / (1 + torch.exp(-student[i, k, y, x].double() / tau))
                    bce = -(p * torch.log(q) + (1 - p) * torch.log(1 - q))
                    entropy = -(p * torch.log(p) + (1 - p) * torch.log(1 - p))
                    total = total + tau**2 * (bce - entropy)
    return total / (n * h * w)


def _pair(shape_s, shape_t, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape_s, generator=g, dtype=torch.float64) * 2,
            torch.randn(*shape_t, generator=g, dtype=torch.float64) * 2)


def _check(loss_fn, reference, student, teacher):
    s_impl = student.clone().requires_grad_()
    s_ref = student.clone().requires_grad_()
    loss = loss_fn(s_impl, teacher)
    ref = reference(s_ref)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-10, abs=1e-12)
    loss.backward()
    ref.backward()
    torch.testing.assert_close(s_impl.grad, s_ref.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('tau', [1.0, 3.0])
def test_class_logits_restricted_to_the_teachers_classes(tau):
    student, teacher = _pair((2, 6, 3, 2), (2, 3, 3, 2))
    class_indexes = [4, 0, 2]  # teacher class j is student class class_indexes[j]
    _check(KLResponseLoss(tau=tau, class_indexes=class_indexes),
           lambda s: reference_class_kl(s, teacher, class_indexes, tau), student, teacher)
    # default: the teacher's classes are the student's first ones
    _check(KLResponseLoss(tau=tau), lambda s: reference_class_kl(s, teacher, [0, 1, 2], tau),
           student, teacher)


@pytest.mark.parametrize('tau', [1.0, 0.5])
def test_box_distributions_per_side(tau):
    reg_max = 5
    student, teacher = _pair((2, 4 * reg_max, 2, 3), (2, 4 * reg_max, 2, 3), seed=1)
    _check(KLResponseLoss(tau=tau, reg_max=reg_max),
           lambda s: reference_box_kl(s, teacher, reg_max, tau), student, teacher)
    per_side = KLResponseLoss(tau=tau, reg_max=reg_max, reduction='none')(student, teacher)
    assert per_side.shape == (2, 4, 2, 3)


@pytest.mark.parametrize('tau', [1.0, 2.0])
def test_sigmoid_mode(tau):
    student, teacher = _pair((2, 5, 2, 2), (2, 2, 2, 2), seed=2)
    class_indexes = [3, 1]
    _check(KLResponseLoss(tau=tau, class_indexes=class_indexes, mode='sigmoid'),
           lambda s: reference_sigmoid(s, teacher, class_indexes, tau), student, teacher)


def test_identical_outputs_give_zero_and_teacher_gets_no_gradient():
    teacher = torch.randn(1, 3, 2, 2, requires_grad=True)
    for mode in ('softmax', 'sigmoid'):
        student = teacher.detach().clone().requires_grad_()
        loss = KLResponseLoss(tau=2.0, mode=mode)(student, teacher)
        assert loss.item() == pytest.approx(0.0, abs=1e-6)
        loss.backward()
    assert teacher.grad is None


def test_flat_inputs_weight_avg_factor_and_loss_weight():
    student, teacher = _pair((7, 4), (7, 4), seed=3)  # [N, C]: one distribution per row
    per_row = KLResponseLoss(tau=2.0, reduction='none')(student, teacher)
    assert per_row.shape == (7, )
    ref = reference_class_kl(student[:, :, None, None], teacher[:, :, None, None], range(4), 2.0)
    assert per_row.mean().item() == pytest.approx(ref.item(), rel=1e-10)
    weight = torch.rand(7, dtype=torch.float64)
    loss = KLResponseLoss(tau=2.0, loss_weight=0.001)
    assert loss(student, teacher, weight=weight, avg_factor=3.0).item() == pytest.approx(
        0.001 * (per_row * weight).sum().item() / 3.0)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match='mode'):
        KLResponseLoss(mode='bce')
    with pytest.raises(ValueError, match='reg_max'):
        KLResponseLoss(reg_max=16, class_indexes=[0])
    with pytest.raises(ValueError, match='distinct'):
        KLResponseLoss(class_indexes=[0, 0])
    with pytest.raises(ValueError, match='3 entries but the teacher outputs 2'):
        KLResponseLoss(class_indexes=[0, 1, 2])(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match='>= the student'):
        KLResponseLoss(class_indexes=[0, 9])(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match='teacher has 5 classes but the student only 4'):
        KLResponseLoss()(torch.zeros(1, 4, 2, 2), torch.zeros(1, 5, 2, 2))
    with pytest.raises(ValueError, match='64 box-bin channels'):
        KLResponseLoss(reg_max=16)(torch.zeros(1, 60, 2, 2), torch.zeros(1, 60, 2, 2))
    with pytest.raises(ValueError, match='same batch and spatial sizes'):
        KLResponseLoss()(torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 4, 4))
