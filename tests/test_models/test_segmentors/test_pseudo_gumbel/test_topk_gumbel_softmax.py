"""TopKGumbelSoftmax: exact one-hot forward, soft-path backward, sparse == dense mixing."""
import pytest
import torch
import torch.nn.functional as F

from cissreg.models.segmentors.pseudo_gumbel import (TopKGumbelSoftmax, dense_topk_mix,
                                                     gumbel_noise, sparse_topk_mix)


def _inputs(b=2, t=5, v=300, d=16, k=32, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, t, v, generator=g, dtype=dtype).requires_grad_()
    emb = torch.randn(v, d, generator=g, dtype=dtype).requires_grad_()
    noise = gumbel_noise((b, t, k), torch.device('cpu'), dtype, g)
    return logits, emb, noise


@pytest.mark.parametrize('mixing', ['embedding_bag', 'sparse_mm'])
def test_hard_forward_is_exactly_an_embedding_row(mixing):
    logits, emb, noise = _inputs()
    out = TopKGumbelSoftmax(tau=0.7, k=32, mixing=mixing)(logits, emb, noise=noise)
    # independent: argmax over the top-k of (logits + noise), mapped to vocabulary ids
    vals, ids = logits.detach().topk(32, dim=-1)
    chosen = ids.gather(-1, (vals + noise).argmax(-1, keepdim=True)).squeeze(-1)
    assert out.shape == (2, 5, 16)
    assert torch.equal(out.detach(), emb.detach()[chosen])


@pytest.mark.parametrize('mixing', ['embedding_bag', 'sparse_mm', 'dense'])
def test_backward_equals_soft_path_autograd(mixing):
    logits, emb, noise = _inputs(dtype=torch.float64)
    upstream = torch.randn(2, 5, 16, dtype=torch.float64)
    out = TopKGumbelSoftmax(tau=0.7, k=32, mixing=mixing)(logits, emb, noise=noise)
    g_logits, g_emb = torch.autograd.grad(out, (logits, emb), upstream)

    # reference: the dense formulation, dense gather, y = y_hard - y_soft.detach() + y_soft
    vals, ids = logits.topk(32, dim=-1)
    y_soft = F.softmax((vals + noise) / 0.7, dim=-1)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, y_soft.argmax(-1, keepdim=True), 1.0)
    y = y_hard - y_soft.detach() + y_soft
    ref = (y.unsqueeze(-1) * emb[ids]).sum(-2)
    r_logits, r_emb = torch.autograd.grad(ref, (logits, emb), upstream, retain_graph=True)
    torch.testing.assert_close(g_logits, r_logits, rtol=0, atol=1e-10)
    torch.testing.assert_close(g_emb, r_emb, rtol=0, atol=1e-10)
    # and the logits' gradient is the soft mixture's (no gradient from the hard row)
    soft = (y_soft.unsqueeze(-1) * emb.detach()[ids]).sum(-2)
    s_logits, = torch.autograd.grad(soft, logits, upstream)
    torch.testing.assert_close(g_logits, s_logits, rtol=0, atol=1e-10)
    assert g_logits.abs().sum() > 0


def test_soft_mode_returns_the_mixture():
    logits, emb, noise = _inputs(dtype=torch.float64)
    out = TopKGumbelSoftmax(tau=0.5, k=32, hard=False)(logits, emb, noise=noise)
    vals, ids = logits.topk(32, dim=-1)
    ref = (F.softmax((vals + noise) / 0.5, -1).unsqueeze(-1) * emb[ids]).sum(-2)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize('mixing', ['embedding_bag', 'sparse_mm'])
@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-6), (torch.float32, 1e-5)])
def test_sparse_mixing_equals_dense_gather(mixing, dtype, tol):
    # float64: 1e-6 absolute; float32: the two paths sum in a different order, so their
    # gradients differ by a few ulps (~2e-6 on values of size ~5): 1e-5 relative + absolute.
    g = torch.Generator().manual_seed(1)
    n, k, v, d = 40, 16, 500, 24
    w = torch.rand(n, k, generator=g, dtype=dtype).requires_grad_()
    ids = torch.stack([torch.randperm(v, generator=g)[:k] for _ in range(n)])
    emb = torch.randn(v, d, generator=g, dtype=dtype).requires_grad_()
    upstream = torch.randn(n, d, generator=g, dtype=dtype)
    out = sparse_topk_mix(w, ids, emb, mixing)
    ref = dense_topk_mix(w, ids, emb)
    gw, ge = torch.autograd.grad(out, (w, emb), upstream)
    rw, re = torch.autograd.grad(ref, (w, emb), upstream)
    rtol = 0 if dtype == torch.float64 else tol
    torch.testing.assert_close(out, ref, rtol=rtol, atol=tol)
    torch.testing.assert_close(gw, rw, rtol=rtol, atol=tol)
    torch.testing.assert_close(ge, re, rtol=rtol, atol=tol)


def test_seeded_noise_reproducible_and_k_capped_by_vocab():
    logits, emb, _ = _inputs(v=20, k=20)
    layer = TopKGumbelSoftmax(k=128)
    a = layer(logits, emb, generator=torch.Generator().manual_seed(0))
    b = layer(logits, emb, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match='mixing'):
        TopKGumbelSoftmax(mixing='gather')


@pytest.mark.parametrize('k', [0, -3, 2.0, True])
def test_k_must_be_a_positive_int(k):
    with pytest.raises(ValueError, match=f'k must be an int >= 1, got {k!r}'):
        TopKGumbelSoftmax(k=k)


def test_k_one_warns_and_really_cuts_the_logit_gradient():
    logits, emb, _ = _inputs(k=1)
    with pytest.warns(UserWarning, match='Gumbel path is off'):
        gumbel = TopKGumbelSoftmax(k=1)
    out = gumbel(logits, emb)
    assert torch.equal(out.detach(), emb.detach()[logits.detach().argmax(-1)])
    out.sum().backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))
