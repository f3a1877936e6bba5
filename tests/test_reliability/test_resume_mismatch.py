"""--resume with another optimizer or class count: a named refusal (issue 13 items 4-5)."""
from pathlib import Path

import pytest
import torch

from cissreg.engine.runner import CissRunner
from cissreg.utils import CheckpointMismatchError


@pytest.fixture(scope='module')
def sgd_run(toy, tmp_path_factory) -> Path:
    """One epoch with SGD + momentum and EMA, 3 classes."""
    work_dir = tmp_path_factory.mktemp('sgd')
    cfg = toy.toy_cfg(work_dir, max_epochs=1)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1)
    CissRunner.from_cfg(cfg).train()
    return work_dir


def _resume_cfg(toy, work_dir: Path, **changes):
    cfg = toy.toy_cfg(work_dir, max_epochs=2)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1)
    cfg.resume = True
    for key, value in changes.items():  # replaces whole entries (model keys are merged)
        cfg[key] = dict(cfg.model, **value) if key == 'model' else value
    return cfg


@pytest.mark.parametrize('optimizer', [dict(type='Adam', lr=0.01), dict(type='AdamW', lr=0.01)])
def test_resume_with_another_optimizer_names_both(toy, sgd_run, optimizer):
    cfg = _resume_cfg(toy, sgd_run, optim_wrapper=dict(optimizer=optimizer))
    with pytest.raises(CheckpointMismatchError) as err:
        CissRunner.from_cfg(cfg).train()
    message = str(err.value)
    assert f'cannot resume the optimizer from {sgd_run / "epoch_1.pth"}' in message
    assert f'saved by SGD, and the config builds {optimizer["type"]}' in message
    assert 'betas' in message and 'resume_optimizer = False' in message


def test_resume_optimizer_false_starts_a_fresh_optimizer(toy, sgd_run, tmp_path):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'epoch_1.pth').write_bytes((sgd_run / 'epoch_1.pth').read_bytes())
    cfg = _resume_cfg(toy, work_dir, optim_wrapper=dict(optimizer=dict(type='Adam', lr=0.01)),
                      load_from=str(work_dir / 'epoch_1.pth'), resume_optimizer=False)
    runner = CissRunner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2 and runner.iter == 8
    state = runner.optim_wrapper.optimizer.state_dict()
    assert isinstance(runner.optim_wrapper.optimizer, torch.optim.Adam)
    assert all(float(s['step']) == 4 for s in state['state'].values())  # epoch 2 only


def test_resume_with_another_class_count_is_named_before_the_ema_hook(toy, sgd_run):
    cfg = _resume_cfg(toy, sgd_run, model=dict(num_classes=4))
    with pytest.raises(CheckpointMismatchError) as err:
        CissRunner.from_cfg(cfg).train()
    message = str(err.value)
    assert f'checkpoint {sgd_run / "epoch_1.pth"}' in message
    assert 'fc2.weight: checkpoint [3, 8] vs model [4, 8]' in message
    assert 'fc2.bias: checkpoint [3] vs model [4]' in message


def test_ema_state_is_checked_too(toy, sgd_run, tmp_path):
    """A checkpoint whose model weights fit but whose EMA weights do not."""
    checkpoint = torch.load(sgd_run / 'epoch_1.pth', weights_only=True)
    checkpoint['ema_state_dict']['module.fc2.weight'] = torch.zeros(5, 8)
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    torch.save(checkpoint, work_dir / 'epoch_1.pth')
    cfg = _resume_cfg(toy, work_dir, load_from=str(work_dir / 'epoch_1.pth'))
    with pytest.raises(CheckpointMismatchError) as err:
        CissRunner.from_cfg(cfg).train()
    assert 'its EMA weights (ema_state_dict) do not fit' in str(err.value)
    assert 'fc2.weight: checkpoint [5, 8] vs model [3, 8]' in str(err.value)

    cfg.load_from_strict = False  # partial: the mismatched EMA tensor keeps its value
    runner = CissRunner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2
