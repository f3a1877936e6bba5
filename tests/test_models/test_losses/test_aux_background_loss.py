"""aux_background loss (DKD) against a float64 reference."""
import torch

from cissreg.registry import MODELS
from cissreg.testing.ciss_loss_reference import bce, logits_and_labels, per_class_pixel_mean_sum


def test_aux_background_loss_is_bce_to_zero():
    x, _ = logits_and_labels(4, c=1)
    loss = MODELS.build(dict(type='AuxBackgroundLoss'))
    xg = x.clone().requires_grad_(True)
    value = loss(xg, None)
    value.backward()
    xd = x.double().requires_grad_(True)
    ref = per_class_pixel_mean_sum(bce(xd, torch.zeros_like(xd)))
    ref.backward()
    torch.testing.assert_close(value.double(), ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(xg.grad.double(), xd.grad, rtol=1e-5, atol=1e-7)
