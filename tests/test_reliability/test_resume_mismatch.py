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


def test_resume_adam_over_adamw_is_refused_in_one_line(toy, tmp_path):
    """Same state layout, another optimizer type: named from the saved config, not evaluated."""
    work_dir = tmp_path / 'work'
    cfg = toy.toy_cfg(work_dir, max_epochs=1)
    cfg.optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.01),
                             paramwise_cfg=dict(custom_keys={'fc1': dict(lr_mult=0.5),
                                                             'bn': dict(lr_mult=0.1)}))
    CissRunner.from_cfg(cfg).train()
    cfg = _resume_cfg(toy, work_dir, optim_wrapper=dict(
        optimizer=dict(type='Adam', lr=0.01), paramwise_cfg=cfg.optim_wrapper.paramwise_cfg))
    with pytest.raises(CheckpointMismatchError) as err:
        CissRunner.from_cfg(cfg).train()
    message = str(err.value)
    assert 'saved by AdamW, and the config builds Adam' in message
    assert 'update the weights differently' in message
    assert message.count('\n') == 2  # header, one summarising line, the advice


def test_optimizer_mismatch_is_one_line_for_all_groups(toy):
    from cissreg.utils.state_dict_check import describe_optimizer_mismatch
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(7)]
    sgd = torch.optim.SGD([dict(params=[p]) for p in params], lr=0.1, momentum=0.9)
    adam = torch.optim.Adam([dict(params=[p]) for p in params], lr=0.1)
    assert describe_optimizer_mismatch(sgd.state_dict(), adam) == (
        'all 7 parameter groups: the checkpoint lacks the hyper-parameter(s) amsgrad, betas, '
        'capturable, decoupled_weight_decay, eps that Adam needs')


def test_resume_with_another_scheduler_type_is_refused(toy, tmp_path):
    work_dir = tmp_path / 'work'
    cfg = toy.toy_cfg(work_dir, max_epochs=1)
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, end=2)]
    CissRunner.from_cfg(cfg).train()
    cfg = _resume_cfg(toy, work_dir, param_scheduler=[
        dict(type='MultiStepLR', milestones=[1], by_epoch=True)])
    with pytest.raises(CheckpointMismatchError) as err:
        CissRunner.from_cfg(cfg).train()
    assert ('cannot resume the parameter schedulers from '
            f'{work_dir / "epoch_1.pth"}: it holds 1 scheduler state(s) [LinearLR], and the '
            'config builds [MultiStepLR]') in str(err.value)

    cfg.resume_param_scheduler = False  # the new schedule starts from its beginning
    runner = CissRunner.from_cfg(cfg)
    runner.train()
    assert runner.param_schedulers[0].milestones == {1: 1}
    assert runner.optim_wrapper.get_lr()['lr'] == [pytest.approx(0.01)]


def test_resume_with_changed_milestones_warns_and_keeps_the_saved_ones(
        toy, sgd_run, tmp_path, captured_log):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    (work_dir / 'epoch_1.pth').write_bytes((sgd_run / 'epoch_1.pth').read_bytes())
    cfg = _resume_cfg(toy, work_dir, load_from=str(work_dir / 'epoch_1.pth'), param_scheduler=[
        dict(type='MultiStepLR', milestones=[5], by_epoch=True)])
    runner = CissRunner.from_cfg(cfg)
    with captured_log() as messages:
        runner.train()
    assert runner.param_schedulers[0].milestones == {2: 1}
    warnings = [m for m in messages if 'param_scheduler settings differ from' in m]
    assert len(warnings) == 1
    assert "MultiStepLR.milestones: checkpoint Counter({2: 1}), config Counter({5: 1})" in \
        warnings[0]
