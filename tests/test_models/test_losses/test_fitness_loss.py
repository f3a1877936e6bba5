"""FitnessLoss: lambda * mean cross entropy, against a float64 log-sum-exp reference."""
import torch

from cissreg.registry import MODELS


def test_fitness_loss_value_and_grad():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(7, 4, generator=gen) * 2
    y = torch.randint(0, 4, (7, ), generator=gen)
    loss = MODELS.build(dict(type='FitnessLoss', loss_weight=0.5))
    zg = z.clone().requires_grad_(True)
    value = loss(zg, y)
    value.backward()
    zd = z.double().requires_grad_(True)
    ref = 0.5 * torch.stack([torch.log(torch.exp(zd[i]).sum()) - zd[i, y[i]]
                             for i in range(7)]).mean()
    ref.backward()
    torch.testing.assert_close(value.double(), ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(zg.grad.double(), zd.grad, rtol=1e-5, atol=1e-7)
