"""InfoNCE / SupCon / PseudoSupCon / Prototypical losses vs float64 references (value, grad)."""
import math

import pytest
import torch
import torch.nn.functional as F

from cissreg.models.losses import InfoNCELoss, PrototypicalLoss, PseudoSupConLoss, SupConLoss


def _feats(n=8, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)


def _supcon_loop(z, y, t):
    """Khosla et al. eq. 2 written term by term; mean over anchors with a positive."""
    losses = []
    for i in range(len(z)):
        if y[i] < 0:
            continue
        pos = [p for p in range(len(z)) if p != i and y[p] == y[i]]
        if not pos:
            continue
        denom = sum(torch.exp(z[i] @ z[a] / t) for a in range(len(z)) if a != i)
        losses.append(-sum(torch.log(torch.exp(z[i] @ z[p] / t) / denom) for p in pos) / len(pos))
    return torch.stack(losses).mean()


def _gcd_info_nce(z, t):
    """GCD's info_nce_logits + cross-entropy (positives first, label 0)."""
    b = len(z) // 2
    ids = torch.arange(b).repeat(2)
    same = ids[:, None] == ids[None, :]
    eye = torch.eye(len(z), dtype=torch.bool)
    sim = z @ z.t()
    pos = sim[same & ~eye].view(len(z), -1)
    neg = sim[~same].view(len(z), -1)
    logits = torch.cat([pos, neg], 1) / t
    return F.cross_entropy(logits, torch.zeros(len(z), dtype=torch.long))


def _check(loss_fn, ref_fn, z):
    a = z.clone().requires_grad_()
    b = z.clone().requires_grad_()
    got, ref = loss_fn(a), ref_fn(b)
    got.backward()
    ref.backward()
    assert got.item() == pytest.approx(ref.item(), rel=1e-10)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize('t', [1.0, 0.07])
def test_info_nce_equals_gcd_formulation(t):
    z = _feats(8)
    ids = torch.arange(4).repeat(2)
    _check(lambda f: InfoNCELoss(temperature=t)(f, ids), lambda f: _gcd_info_nce(f, t), z)


def test_supcon_equals_term_by_term_reference():
    z = _feats(10, seed=1)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 3, 1, 2, 0])  # class 3 has no positive: not an anchor
    _check(lambda f: SupConLoss(temperature=0.07)(f, y), lambda f: _supcon_loop(f, y, 0.07), z)


def test_pseudo_supcon_rows_without_label_are_negatives_only():
    z = _feats(9, seed=2)
    y = torch.tensor([0, -1, 0, 1, -1, 1, 2, -1, 2])
    _check(lambda f: PseudoSupConLoss()(f, y), lambda f: _supcon_loop(f, y, 0.07), z)
    # dropping the -1 rows changes the loss: they are in the denominators
    keep = y >= 0
    assert PseudoSupConLoss()(z[keep], y[keep]).item() != pytest.approx(
        PseudoSupConLoss()(z, y).item())


def test_contract_weight_reduction_loss_weight():
    z = _feats(6, seed=3)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    per = SupConLoss(reduction='none')(z, y)
    assert per.shape == (6, )
    assert SupConLoss(loss_weight=2.0)(z, y).item() == pytest.approx(2 * per.mean().item())
    w = torch.tensor([1., 0, 1, 0, 1, 0])
    assert SupConLoss()(z, y, weight=w, avg_factor=3).item() == pytest.approx(
        (per * w).sum().item() / 3)
    assert SupConLoss()(z, y, reduction_override='sum').item() == pytest.approx(
        per.sum().item())
    assert SupConLoss()(z, torch.full((6, ), -1)).item() == 0.0


def _proto_loop(z, y, t):
    classes = sorted({int(c) for c in y if c >= 0})
    protos = []
    for c in classes:
        m = sum(z[i] for i in range(len(z)) if y[i] == c)
        protos.append(m / torch.sqrt(m @ m))
    out = []
    for i in range(len(z)):
        if y[i] < 0:
            continue
        s = [torch.exp(z[i] @ p / t) for p in protos]
        out.append(-torch.log(s[classes.index(int(y[i]))] / sum(s)))
    return torch.stack(out).mean()


def test_prototypical_equals_reference():
    z = _feats(9, seed=4)
    y = torch.tensor([2, -1, 2, 5, 5, -1, 7, 7, 2])
    _check(lambda f: PrototypicalLoss(temperature=0.1)(f, y),
           lambda f: _proto_loop(f, y, 0.1), z)


def test_info_nce_perfect_pairs_is_lower():
    z = _feats(8, seed=5)
    ids = torch.arange(4).repeat(2)
    aligned = torch.cat([z[:4], z[:4]])
    loss = InfoNCELoss(temperature=0.5)
    assert loss(aligned, ids) < loss(z, ids)
    assert math.isfinite(loss(aligned, ids).item())
