"""IncrementalLoop through a real runner: results file, task checkpoints, exact resume."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from clip_cil_tiny_parts import ROOT, digits_run_cfg
from mmengine.hooks import Hook

from cissreg.registry import HOOKS, RUNNERS

spec = importlib.util.spec_from_file_location('cissreg_test_tool',
                                              osp.join(ROOT, 'tools', 'test.py'))
test_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_tool)


class Interrupted(RuntimeError):
    pass


@HOOKS.register_module(force=True)
class InterruptAfterEpochHook(Hook):
    """Simulates a killed run once the checkpoint of epoch ``epoch`` is written."""

    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_train_epoch(self, runner) -> None:
        if runner.epoch + 1 == self.epoch:
            raise Interrupted(f'stopped after epoch {self.epoch}')


@HOOKS.register_module(force=True)
class RecordEpochsHook(Hook):
    """Records the epochs (and task, stage) a run actually trains."""

    epochs = []

    def before_train_epoch(self, runner) -> None:
        loop = runner.train_loop
        type(self).epochs.append((runner.epoch, loop.task, loop.stage))


def _train(cfg):
    runner = RUNNERS.build(cfg)
    model = runner.train()
    return runner, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('uninterrupted'))
    runner, weights = _train(digits_run_cfg(work_dir))
    with open(osp.join(work_dir, 'cil_results.json')) as f:
        return work_dir, json.load(f), weights, runner


def test_results_file_and_log(uninterrupted):
    work_dir, results, _, runner = uninterrupted
    # schedule: task 0: 2 epochs; tasks 1, 2: 2 (prompts) + 1 (head)
    assert runner.train_loop.max_epochs == 8 and runner.epoch == 8
    assert [t['task'] for t in results['tasks']] == [0, 1, 2]
    last = results['tasks'][2]['grouped']
    assert list(last) == ['all', '0-1', '2-3', '4-5', 'old', 'new']
    assert len(results['acc_matrix']) == 3 and results['acc_matrix'][2] == [
        last['0-1'], last['2-3'], last['4-5']]
    assert results['AIA'] == pytest.approx(
        sum(t['grouped']['all'] for t in results['tasks']) / 3)
    assert results['AA'] == pytest.approx(sum(results['acc_matrix'][2]) / 3)
    assert results['class_order'] == runner.train_dataloader.dataset.metainfo['class_order']
    for t in range(3):
        assert osp.isfile(osp.join(work_dir, f'task_{t}.pth'))
    log = open(runner.logger.log_file).read() if osp.isfile(runner.logger.log_file) else ''
    assert f'AIA {results["AIA"]:.2f}' in log
    assert 'CIL task 2 grouped accuracy (%): all: ' + f'{last["all"]:.2f}' in log


def test_resume_in_the_middle_of_task_two_matches(uninterrupted, tmp_path):
    _, results, weights, _ = uninterrupted
    work_dir = str(tmp_path)
    # epochs 1-2: task 0; 3-5: task 1; 6-8: task 2 -> stop after epoch 6 (task 2, stage 1)
    cfg = digits_run_cfg(work_dir)
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='InterruptAfterEpochHook', epoch=6)]
    with pytest.raises(Interrupted):
        _train(cfg)
    checkpoint = torch.load(osp.join(work_dir, 'epoch_6.pth'), weights_only=True)
    assert checkpoint['meta']['cil']['task'] == 2 and checkpoint['meta']['cil']['stage'] == 1
    assert checkpoint['meta']['cil']['stage_epoch'] == 1
    assert not osp.isfile(osp.join(work_dir, 'task_2.pth'))
    RecordEpochsHook.epochs.clear()
    cfg = digits_run_cfg(work_dir, resume=True)
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='RecordEpochsHook')]
    _, resumed = _train(cfg)
    assert RecordEpochsHook.epochs == [(6, 2, 1), (7, 2, 2)]  # only the rest of task 2
    with open(osp.join(work_dir, 'cil_results.json')) as f:
        resumed_results = json.load(f)
    assert resumed_results == results
    assert resumed.keys() == weights.keys()
    different = [k for k in weights if not torch.equal(weights[k], resumed[k])]
    assert not different, different


def test_tools_test_reproduces_a_task_checkpoint(uninterrupted, tmp_path):
    work_dir, results, _, _ = uninterrupted
    args = test_tool.argparse.Namespace(
        config=None, checkpoint=osp.join(work_dir, 'task_1.pth'), work_dir=str(tmp_path),
        out=None, show_dir=None, cfg_options=None, launcher='none')
    cfg = test_tool.merge_args(digits_run_cfg(str(tmp_path)), args)
    metrics = RUNNERS.build(cfg).test()
    expected = results['tasks'][1]['grouped']
    assert metrics['cil/task'] == 1
    for key in ('all', '0-1', '2-3', 'old', 'new'):
        assert metrics[f'cil/acc_{key}'] == pytest.approx(expected[key], abs=1e-9)


def test_train_and_eval_class_orders_must_agree(tmp_path):
    cfg = digits_run_cfg(str(tmp_path), **{'val_dataloader.dataset.class_order_seed': 7})
    with pytest.raises(ValueError, match='order the classes differently'):
        RUNNERS.build(cfg).train()


def test_task_split_must_match_the_model(tmp_path):
    cfg = digits_run_cfg(str(tmp_path), **{'train_cfg.init_class': 4})
    with pytest.raises(ValueError, match=r"differs from the model's \[2, 2, 2, 2, 2\]"):
        RUNNERS.build(cfg).train()


@HOOKS.register_module(force=True)
class RecordLoadersHook(Hook):
    """Records which kind of batches each (task, stage) trained on."""

    def __init__(self) -> None:
        self.loaders = {}

    def before_train_epoch(self, runner) -> None:
        loop = runner.train_loop
        self.loaders[(loop.task, loop.stage)] = type(runner.train_dataloader).__name__


def test_lora_stage_reads_images_and_refits_statistics(tmp_path):
    cfg = digits_run_cfg(str(tmp_path), **{
        'train_cfg.num_tasks': 2, 'model.lora': dict(rank=2, alpha=4, layers=[1]),
        'train_cfg.second_stage.optim_wrapper.optimizer.lr': 1.0})
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='RecordLoadersHook')]
    runner = RUNNERS.build(cfg)
    runner.train()
    recorder = next(h for h in runner.hooks if isinstance(h, RecordLoadersHook))
    assert recorder.loaders == {(0, 1): 'FeatureBatchLoader', (1, 1): 'FeatureBatchLoader',
                                (1, 2): 'DataLoader'}
    loop, model = runner.train_loop, runner.model
    feats, labels = loop._extract(1)  # features of the encoder after LoRA training
    for c in (2, 3):
        assert torch.allclose(model.replay_sampler.means[c], feats[labels == c].mean(0),
                              atol=1e-5)
    with torch.no_grad():  # the stale features (encoder before LoRA) would not match
        for name, p in model.named_parameters():
            if 'lora_B' in name:
                p.zero_()
    stale, _ = loop._extract(1)
    assert (stale[labels == 2].mean(0) - model.replay_sampler.means[2]).abs().max() > 1e-3


def test_resume_from_a_task_checkpoint_continues_with_the_next_task(uninterrupted, tmp_path):
    work_dir, results, weights, _ = uninterrupted
    RecordEpochsHook.epochs.clear()
    cfg = digits_run_cfg(str(tmp_path), resume=True, load_from=osp.join(work_dir, 'task_0.pth'))
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='RecordEpochsHook')]
    _, resumed = _train(cfg)
    assert RecordEpochsHook.epochs[0] == (2, 1, 1)  # task 0 (no stage 2) is not retrained
    with open(tmp_path / 'cil_results.json') as f:
        assert json.load(f) == results
    assert all(torch.equal(weights[k], resumed[k]) for k in weights)
