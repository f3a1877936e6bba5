"""ExpMomentumEMA: YOLOv8's ramped decay against a float64 formula and ultralytics' ModelEMA."""
import math

import pytest
import torch
from torch import nn

from cissreg.models.layers import ExpMomentumEMA
from cissreg.registry import MODELS
from cissreg.testing.reference import require


def _toy_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.SiLU(), nn.Conv2d(4, 2, 1))


def _train_step(model: nn.Module, step: int) -> None:
    """Move the weights and the BN running statistics like a training step would."""
    g = torch.Generator().manual_seed(100 + step)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    model.train()
    model(torch.randn(2, 3, 6, 6, generator=g) * 3 + 1)


def _naive_decay(momentum: float, tau: float, t: int) -> float:
    return (1 - momentum) * (1 - math.exp(-t / tau))


@pytest.mark.parametrize('interval', [1, 2])
def test_ramped_decay_matches_float64_formula(interval):
    momentum, tau, calls = 0.1, 3.0, 8
    model = _toy_model()
    ema = ExpMomentumEMA(model, momentum=momentum, tau=tau, interval=interval)
    ref = {k: v.double().clone() for k, v in model.state_dict().items()}
    t = 0
    for call in range(1, calls + 1):
        _train_step(model, call)
        ema.update_parameters(model)
        if call % interval == 0:
            t += 1
            d = _naive_decay(momentum, tau, t)
            for k, v in model.state_dict().items():
                if v.dtype.is_floating_point:
                    ref[k] = d * ref[k] + (1 - d) * v.double()
    assert int(ema.steps) == calls
    averaged = ema.module.state_dict()
    for k, v in model.state_dict().items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(averaged[k].double(), ref[k], rtol=0, atol=1e-6)
        else:  # num_batches_tracked follows the model
            assert torch.equal(averaged[k], v), k
    # The BN running stats were averaged, not copied (they differ from the model's).
    assert not torch.allclose(averaged['1.running_mean'], model.state_dict()['1.running_mean'])


def test_buffers_copied_when_update_buffers_false():
    momentum, tau = 0.1, 3.0
    model = _toy_model()
    ema = ExpMomentumEMA(model, momentum=momentum, tau=tau, update_buffers=False)
    ref = {k: p.detach().double().clone() for k, p in model.named_parameters()}
    for t in range(1, 5):
        _train_step(model, t)
        ema.update_parameters(model)
        d = _naive_decay(momentum, tau, t)
        for k, p in model.named_parameters():
            ref[k] = d * ref[k] + (1 - d) * p.detach().double()
    for k, p in ema.module.named_parameters():
        torch.testing.assert_close(p.double(), ref[k], rtol=0, atol=1e-6)
    for b_avg, b_src in zip(ema.module.buffers(), model.buffers()):
        assert torch.equal(b_avg, b_src)


def test_built_from_registry_with_ultralytics_defaults():
    model = _toy_model()
    ema = MODELS.build(dict(type='ExpMomentumEMA'), default_args=dict(model=model))
    assert isinstance(ema, ExpMomentumEMA)
    assert ema.momentum == pytest.approx(1e-4) and ema.tau == 2000 and ema.update_buffers
    assert all(not p.requires_grad for p in ema.module.parameters())


def test_invalid_tau():
    with pytest.raises(ValueError, match='tau'):
        ExpMomentumEMA(_toy_model(), tau=0)


@pytest.mark.parametrize('decay,tau', [(0.9999, 2000), (0.9, 3)])
def test_equals_ultralytics_model_ema(decay, tau):
    torch_utils = require('ultralytics.utils.torch_utils')
    model = _toy_model()
    theirs = torch_utils.ModelEMA(model, decay=decay, tau=tau)
    ours = ExpMomentumEMA(model, momentum=1 - decay, tau=tau)
    for step in range(1, 7):
        _train_step(model, step)
        theirs.update(model)
        ours.update_parameters(model)
    their_state, our_state = theirs.ema.state_dict(), ours.module.state_dict()
    assert their_state.keys() == our_state.keys()
    for k, v in their_state.items():
        # ultralytics leaves integer buffers (num_batches_tracked) at their initial value.
        if v.dtype.is_floating_point:
            torch.testing.assert_close(our_state[k], v, rtol=1e-6, atol=1e-7)
