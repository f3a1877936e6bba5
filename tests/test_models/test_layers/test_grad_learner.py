"""GradLearner: the simulated step against a float64 reference; growing keeps old state."""
import torch

from cissreg.models.layers import GradLearner, grow_optimizer_state, softmax_ce_grad
from cissreg.registry import MODELS


def _reference_fitness(params, z, y, alpha, eta, eps, lam):
    """Float64, written out: g_true, tau, g_hat (2-layer MLP), g_tilde, z', lambda * CE."""
    w1, b1, w2, b2 = params
    z = z.double()
    m, c = z.shape
    g_true = torch.zeros(m, c, dtype=torch.float64)
    for i in range(m):
        e = torch.exp(z[i] - z[i].max())
        g_true[i] = e / e.sum()
        g_true[i, y[i]] -= 1.0
    tau = torch.sqrt((g_true**2).sum(1, keepdim=True))
    g_hat = torch.clamp(z @ w1.T + b1, min=0) @ w2.T + b2
    g_tilde = alpha * tau * g_hat / (torch.sqrt((g_hat**2).sum(1, keepdim=True)) + eps)
    zp = z - eta * g_tilde
    ce = torch.stack([torch.log(torch.exp(zp[i]).sum()) - zp[i, y[i]] for i in range(m)])
    return lam * ce.mean()


def test_softmax_ce_grad_is_per_pixel_gradient_of_summed_ce():
    z = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.tensor([0, 3, 1, 1, 2, 0])
    zg = z.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(zg, y, reduction='sum').backward()
    torch.testing.assert_close(softmax_ce_grad(z, y), zg.grad)


def test_simulated_step_and_fitness_equal_float64_reference():
    torch.manual_seed(0)
    learner = GradLearner(num_classes=5, hidden=8, layers=2)
    z = torch.randn(9, 5) * 2
    y = torch.randint(0, 5, (9, ))
    loss_fit = MODELS.build(dict(type='FitnessLoss', loss_weight=0.7))
    zg = z.clone().requires_grad_(True)
    loss = loss_fit(learner.simulated_logits(zg, y, alpha=0.5, eta=1.3, eps=1e-6), y)
    loss.backward()
    assert zg.grad is None  # the logits are detached: only w gets gradients
    params = [p.detach().double().requires_grad_(True) for p in learner.parameters()]
    ref = _reference_fitness(params, z, y, 0.5, 1.3, 1e-6, 0.7)
    ref.backward()
    torch.testing.assert_close(loss.double(), ref, rtol=1e-6, atol=1e-7)
    for p, r in zip(learner.parameters(), params):
        torch.testing.assert_close(p.grad.double(), r.grad, rtol=1e-4, atol=1e-7)


def test_normalisation_makes_step_size_alpha_eta_tau():
    torch.manual_seed(1)
    learner = GradLearner(num_classes=3, hidden=4, layers=3)
    z, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    step = z - learner.simulated_logits(z, y, alpha=0.5, eta=2.0, eps=0.0)
    tau = softmax_ce_grad(z, y).norm(dim=1)
    torch.testing.assert_close(step.norm(dim=1), 0.5 * 2.0 * tau)


def test_grow_keeps_old_weights_and_adam_moments_bit_identical():
    torch.manual_seed(2)
    learner = GradLearner(num_classes=3, hidden=6, layers=2)
    opt = torch.optim.Adam(learner.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        learner(torch.randn(4, 3)).pow(2).sum().backward()
        opt.step()
    old = [p.detach().clone() for p in learner.parameters()]
    old_state = [{k: v.clone() for k, v in opt.state[p].items()} for p in learner.parameters()]
    grow_optimizer_state(opt, learner.grow(5))
    new = list(learner.parameters())
    assert [tuple(p.shape) for p in new] == [(6, 5), (6, ), (5, 6), (5, )]
    assert all(any(p is q for q in opt.param_groups[0]['params']) for p in new)
    blocks = [(slice(None), slice(0, 3)), (slice(None), ), (slice(0, 3), slice(None)),
              (slice(0, 3), )]
    for p, o, st, blk in zip(new, old, old_state, blocks):
        assert torch.equal(p.detach()[blk], o)
        for key in ('exp_avg', 'exp_avg_sq'):
            grown = opt.state[p][key]
            assert torch.equal(grown[blk], st[key])
            rest = grown.clone()
            rest[blk] = 0
            assert torch.count_nonzero(rest) == 0
        assert torch.equal(opt.state[p]['step'], st['step'])
    # the grown learner still trains
    opt.zero_grad()
    learner(torch.randn(4, 5)).pow(2).sum().backward()
    opt.step()
