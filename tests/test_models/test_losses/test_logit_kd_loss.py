"""logit_kd loss (DKD) against a float64 reference."""
import torch

from cissreg.registry import MODELS
from cissreg.testing.ciss_loss_reference import bce, logits_and_labels, per_class_pixel_mean_sum


def test_logit_kd_against_reference_and_target_detached():
    x, _ = logits_and_labels(1)
    old, _ = logits_and_labels(2)
    old = old.requires_grad_(True)
    loss = MODELS.build(dict(type='LogitKDLoss', loss_weight=5.0))
    xg = x.clone().requires_grad_(True)
    value = loss(xg, old)
    value.backward()
    assert old.grad is None
    xd = x.double().requires_grad_(True)
    p = 1 / (1 + torch.exp(-old.detach().double()))
    ref = 5.0 * per_class_pixel_mean_sum(bce(xd, p))
    ref.backward()
    torch.testing.assert_close(value.double(), ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(xg.grad.double(), xd.grad, rtol=1e-5, atol=1e-7)
