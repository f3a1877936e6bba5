"""FiniteLossModel: a NaN / inf loss term stops training (or skips the step) with names."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from cissreg.models.base_model import FiniteLossModel
from cissreg.structures import DetDataSample


class _Toy(FiniteLossModel):

    def __init__(self, bad_value: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.w = torch.nn.Parameter(torch.ones(2))
        self.bad_value = bad_value

    def forward(self, inputs, data_samples=None, mode='loss'):
        good = (self.w * inputs.float().mean()).sum()
        return dict(loss_good=good, loss_bad=good * 0 + self.bad_value)


def _batch():
    samples = [DetDataSample(metainfo=dict(img_path=f'img_{i}.jpg')) for i in range(2)]
    return dict(inputs=torch.ones(2, 3, 4, 4), data_samples=samples)


@pytest.mark.parametrize('bad_value', [float('nan'), float('inf')])
def test_nonfinite_loss_raises_naming_term_and_files(bad_value):
    model = _Toy(bad_value)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.w.detach().clone()
    with pytest.raises(FloatingPointError) as info:
        model.train_step(_batch(), optim)
    message = str(info.value)
    assert 'loss_bad' in message and 'loss_good' not in message.split('batch images')[0]
    assert 'img_0.jpg' in message and 'img_1.jpg' in message and 'iteration' in message
    assert torch.equal(model.w, before)  # no optimizer step on a bad loss


def test_skip_nonfinite_skips_the_step_and_counts_it():
    model = _Toy(float('nan'), skip_nonfinite=True)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.w.detach().clone()
    log_vars = model.train_step(_batch(), optim)
    assert torch.equal(model.w, before) and model.num_skipped_steps == 1
    assert 'loss_bad' not in log_vars


def test_finite_loss_steps():
    model = _Toy(1.0)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = model.w.detach().clone()
    model.train_step(_batch(), optim)
    assert not torch.equal(model.w, before)
