"""IncrementalLoop through a real runner: results file, task checkpoints, exact resume,
per-stage optimizers through the runner's builder."""
import json
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook

from cissreg.engine.hooks import IncrementalHook
from cissreg.registry import HOOKS, RUNNERS
from cissreg.testing.clip_cil_parts import digits_run_cfg
from cissreg.testing.tools import load_tool

test_tool = load_tool('test.py')


class Interrupted(RuntimeError):
    pass


@HOOKS.register_module(force=True)
class InterruptAfterEpochHook(Hook):
    """Simulates a killed run once the checkpoint of epoch ``epoch`` is written."""

    priority = 'LOWEST'  # after the checkpoint hook

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == self.epoch:
            raise Interrupted(f'stopped after epoch {self.epoch}')


@HOOKS.register_module(force=True)
class InterruptBeforeTaskHook(IncrementalHook):
    """Simulates a run killed right after task ``task - 1`` finished (checkpoint written)."""

    def __init__(self, task: int) -> None:
        self.task = task

    def before_train_task(self, runner, task_id: int) -> None:
        if task_id == self.task:
            raise Interrupted(f'stopped before task {task_id}')


@HOOKS.register_module(force=True)
class RecordEpochsHook(Hook):
    """Records the epochs (and task, stage) a run actually trains, and the optimizer."""

    epochs = []
    optimizers = {}

    def before_train_epoch(self, runner) -> None:
        loop = runner.train_loop
        type(self).epochs.append((runner.epoch, loop.task, loop.stage))
        optimizer = runner.optim_wrapper.optimizer
        type(self).optimizers.setdefault((loop.task, loop.stage), (
            type(optimizer).__name__, [g['lr'] for g in optimizer.param_groups],
            type(runner.train_dataloader).__name__))


def _train(cfg):
    runner = RUNNERS.build(cfg)
    model = runner.train()
    return runner, {k: v.clone() for k, v in model.state_dict().items()}


def _results(work_dir):
    with open(osp.join(work_dir, 'cil_results.json')) as f:
        return json.load(f)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('uninterrupted'))
    runner, weights = _train(digits_run_cfg(work_dir))
    return work_dir, _results(work_dir), weights, runner


def test_results_file_log_and_task_checkpoints(uninterrupted):
    work_dir, results, _, runner = uninterrupted
    # schedule: task 0: 2 epochs; tasks 1, 2: 2 (prompts) + 1 (head)
    assert runner.train_loop.max_epochs == 8 and runner.epoch == 8
    assert [t['task'] for t in results['tasks']] == [0, 1, 2]
    cil = results['CILMetric']
    last = cil['grouped']['2']
    assert list(last) == ['all', '0-1', '2-3', '4-5', 'old', 'new']
    assert cil['acc_matrix'][2] == [last['0-1'], last['2-3'], last['4-5']]
    alls = [cil['grouped'][str(t)]['all'] for t in range(3)]
    assert cil['Last'] == pytest.approx(alls[2])
    assert cil['Avg'] == pytest.approx(sum(alls) / 3)
    assert results['tasks'][2]['metrics']['cil/Last'] == pytest.approx(cil['Last'])
    assert 'AA' not in cil and 'AIA' not in cil
    for t in range(3):
        assert osp.isfile(osp.join(work_dir, f'task_{t}.pth'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'task_2.pth')
    log = open(runner.logger.log_file).read()
    assert f'cil/Last: {cil["Last"]:.4f}' in log


def test_bare_resume_in_the_middle_of_task_two_matches(uninterrupted, tmp_path):
    _, results, weights, _ = uninterrupted
    work_dir = str(tmp_path)
    # epochs 1-2: task 0; 3-5: task 1; 6-8: task 2 -> stop after epoch 6 (task 2, stage 1)
    cfg = digits_run_cfg(work_dir)
    cfg.custom_hooks = [dict(type='InterruptAfterEpochHook', epoch=6)]
    with pytest.raises(Interrupted):
        _train(cfg)
    checkpoint = torch.load(osp.join(work_dir, 'epoch_6.pth'), weights_only=True)
    state = checkpoint['meta']['incremental']
    assert (state['task'], state['stage'], state['stage_epoch']) == (2, 1, 1)
    assert not osp.isfile(osp.join(work_dir, 'task_2.pth'))
    RecordEpochsHook.epochs.clear()
    cfg = digits_run_cfg(work_dir, resume=True)  # no load_from: last_checkpoint decides
    cfg.custom_hooks = [dict(type='RecordEpochsHook')]
    _, resumed = _train(cfg)
    assert RecordEpochsHook.epochs == [(6, 2, 1), (7, 2, 2)]  # only the rest of task 2
    assert _results(work_dir) == results
    different = [k for k in weights if not torch.equal(weights[k], resumed[k])]
    assert not different, different


def test_bare_resume_after_a_task_checkpoint_starts_the_next_task(uninterrupted, tmp_path):
    _, results, weights, _ = uninterrupted
    work_dir = str(tmp_path)
    cfg = digits_run_cfg(work_dir)
    cfg.custom_hooks = [dict(type='InterruptBeforeTaskHook', task=2)]
    with pytest.raises(Interrupted):
        _train(cfg)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read() == osp.join(work_dir, 'task_1.pth')  # newer than epoch_5.pth
    RecordEpochsHook.epochs.clear()
    cfg = digits_run_cfg(work_dir, resume=True)
    cfg.custom_hooks = [dict(type='RecordEpochsHook')]
    _, resumed = _train(cfg)
    assert RecordEpochsHook.epochs == [(5, 2, 1), (6, 2, 1), (7, 2, 2)]
    assert _results(work_dir) == results
    assert all(torch.equal(weights[k], resumed[k]) for k in weights)


def test_tools_test_reproduces_a_task_checkpoint(uninterrupted, tmp_path):
    work_dir, results, _, _ = uninterrupted
    args = test_tool.argparse.Namespace(
        config=None, checkpoint=osp.join(work_dir, 'task_1.pth'), work_dir=str(tmp_path),
        out=None, show_dir=None, cfg_options=None, launcher='none')
    cfg = test_tool.merge_args(digits_run_cfg(str(tmp_path)), args)
    metrics = RUNNERS.build(cfg).test()
    expected = results['CILMetric']['grouped']['1']
    assert metrics['cil/task'] == 1
    for key in ('all', '0-1', '2-3', 'old', 'new'):
        assert metrics[f'cil/acc_{key}'] == pytest.approx(expected[key], abs=1e-9)


def test_train_and_eval_class_orders_must_agree(tmp_path):
    cfg = digits_run_cfg(str(tmp_path), **{'val_dataloader.dataset.class_order_seed': 7})
    with pytest.raises(ValueError, match='order the classes differently'):
        RUNNERS.build(cfg).train()


def test_task_split_must_match_the_model(tmp_path):
    cfg = digits_run_cfg(str(tmp_path), **{'train_cfg.task_split.init_class': 4,
                                           'train_cfg.task_split.increment': 3})
    with pytest.raises(ValueError, match=r"differs from the model's \[2, 2, 2, 2, 2\]"):
        RUNNERS.build(cfg).train()


def test_stage_optimizers_come_from_the_runner_builder(tmp_path):
    """paramwise_cfg applies to every stage; a stage's optim_wrapper merges over the top;
    a stage's init_lr replaces the lr in task 0 only."""
    cfg = digits_run_cfg(str(tmp_path), **{
        'train_cfg.num_tasks': 2,
        'train_cfg.stages.prompts.init_lr': 0.006,
        'optim_wrapper.paramwise_cfg': dict(custom_keys={'prompt_learner': dict(lr_mult=0.5),
                                                         'heads': dict(lr_mult=0.1)}),
    })
    cfg.custom_hooks = [dict(type='RecordEpochsHook')]
    RecordEpochsHook.optimizers.clear()
    _train(cfg)
    name, lrs, loader = RecordEpochsHook.optimizers[(0, 1)]
    assert name == 'AdamW' and loader == 'FeatureBatchLoader'
    assert lrs == pytest.approx([0.003])  # task 0's prompts (only they train), half of 0.006
    assert RecordEpochsHook.optimizers[(1, 1)][1] == pytest.approx([0.001])  # half of 0.002
    name, lrs, loader = RecordEpochsHook.optimizers[(1, 2)]
    assert name == 'SGD' and loader == 'FeatureBatchLoader'
    assert lrs == pytest.approx([0.001, 0.001])  # head weight and bias, 0.1 x the stage's 0.01


def test_load_from_a_task_checkpoint_with_resume_continues(uninterrupted, tmp_path):
    work_dir, results, weights, _ = uninterrupted
    RecordEpochsHook.epochs.clear()
    cfg = digits_run_cfg(str(tmp_path), resume=True, load_from=osp.join(work_dir, 'task_0.pth'))
    cfg.custom_hooks = [dict(type='RecordEpochsHook')]
    _, resumed = _train(cfg)
    assert RecordEpochsHook.epochs[0] == (2, 1, 1)  # task 0 (no stage 2) is not retrained
    assert _results(str(tmp_path)) == results
    assert all(torch.equal(weights[k], resumed[k]) for k in weights)
