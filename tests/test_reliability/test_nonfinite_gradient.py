"""A finite loss with a NaN gradient: stopped before the step, or skipped without touching the
weights, the optimizer state or the EMA (issue: non-finite gradients were stepped on)."""
import importlib
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from cissreg.engine.runner import CissRunner
from cissreg.models.base_model import NonFiniteGradientError

HERE = Path(__file__).parent


@pytest.fixture(scope='module')
def nan_parts():
    return importlib.import_module('cissreg.testing.nan_parts')


def _cfg(work_dir: Path, skip: bool, max_epochs: int) -> Config:
    """16 samples in order, batch 2: sample 5 (toy/5.png) is in iteration 3 of each epoch."""
    return Config(dict(
        default_scope='cissreg',
        model=dict(type='ToyRegressionNet', skip_nonfinite=skip),
        work_dir=str(work_dir),
        # a logger of its own (mmengine reuses one of the same name created in the same second)
        experiment_name=f'nonfinite_grad_{work_dir.name}',
        train_dataloader=dict(
            dataset=dict(type='ToyFileDataset', nan_grad_index=5), batch_size=2, num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-3, momentum=0.9),
                           clip_grad=dict(max_norm=10.0)),
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='EMAHook')],
        randomness=dict(seed=0),
        log_level='WARNING'))


def _finite(state: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state.values()
               if isinstance(v, torch.Tensor) and v.is_floating_point())


def test_nonfinite_gradient_stops_naming_the_current_batch(nan_parts, tmp_path):
    cfg = _cfg(tmp_path, skip=False, max_epochs=2)
    runner = CissRunner.from_cfg(cfg)
    with pytest.raises(NonFiniteGradientError) as info:
        runner.train()
    message = str(info.value)
    # epoch 1 is iterations 1-8; the bad batch of epoch 1 is its 3rd
    assert 'non-finite gradient at iteration 3 ' in message
    assert "batch files: ['toy/4.png', 'toy/5.png']" in message
    assert 'fc.weight' in message
    assert 'no checkpoint has been saved yet.' in message
    assert _finite(runner.model.state_dict())  # the optimizer did not step


def test_the_checkpoint_claim_is_checked(nan_parts, tmp_path):
    from mmengine.logging import MessageHub
    model = nan_parts.ToyRegressionNet()
    path = tmp_path / 'epoch_2.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    MessageHub.get_current_instance().update_info('last_ckpt', str(path))
    assert model._checkpoint_note() == f'the last checkpoint {path} is finite (checked).'
    state = model.state_dict()
    state['fc.bias'][0] = float('nan')
    torch.save(dict(state_dict=state), path)
    assert model._checkpoint_note() == (
        f'the last checkpoint {path} holds 1 non-finite tensor(s) (state_dict.fc.bias); '
        'resume from an earlier checkpoint.')


def test_skip_nonfinite_gradient_leaves_weights_optimizer_and_ema_alone(nan_parts, tmp_path,
                                                                        monkeypatch):
    cfg = _cfg(tmp_path, skip=True, max_epochs=1)
    runner = CissRunner.from_cfg(cfg)
    snapshots = {}

    real_step = torch.optim.SGD.step

    def recording_step(self, *args, **kwargs):
        snapshots.setdefault('steps', 0)
        snapshots['steps'] += 1
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, 'step', recording_step)
    runner.train()
    model = runner.model
    assert model.num_skipped_steps == 1
    assert snapshots['steps'] == 7  # 8 iterations, one skipped
    assert _finite(model.state_dict())
    optimizer_state = runner.optim_wrapper.optimizer.state_dict()['state']
    assert all(_finite(s) for s in optimizer_state.values())
    ema_hook = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook')
    assert _finite(ema_hook.ema_model.state_dict())
    assert int(ema_hook.ema_model.steps) == 7  # the skipped step is not averaged in
    log = '\n'.join(p.read_text() for p in tmp_path.glob('*/*.log'))
    assert len(re.findall(r'non-finite gradient at iteration 3 .*\n.*toy/5\.png', log)) == 1
    assert 'step skipped (1 skipped so far)' in log


def test_dist_train_sh_skips_a_nonfinite_gradient_on_every_rank(tmp_path):
    """2 processes, one NaN-gradient sample, skip_nonfinite: one skip per epoch, finite."""
    from test_nonfinite_loss import _dist_train
    returncode, output, work_dir = _dist_train(tmp_path, 'GRAD_SKIP_CONFIG')
    assert returncode == 0, output[-3000:]
    for count in (1, 2):
        assert len(re.findall(rf'step skipped \({count} skipped so far\)', output)) == 1, \
            output[-3000:]
    assert '(3 skipped so far)' not in output
    assert re.search(r'non-finite gradient at iteration \d+ .*\n(.*\n)?.*rank \d: batch files: '
                     r'\[[^]]*toy/5\.png', output), output[-3000:]
    checkpoint = torch.load(work_dir / 'epoch_2.pth', weights_only=True)
    assert _finite(checkpoint['state_dict'])
    assert _finite(checkpoint['ema_state_dict'])
    assert all(_finite(s) for s in checkpoint['optimizer']['state'].values())
