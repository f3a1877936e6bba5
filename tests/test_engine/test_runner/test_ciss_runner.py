"""CissRunner: exact resumption, per-epoch worker seeding, strict / partial ``load_from``."""
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.runner import Runner

from cissreg.engine.runner import CissRunner
from cissreg.utils import CheckpointMismatchError


def _weights(runner) -> dict:
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f'{key} differs by {(a[key] - b[key]).abs().max()}'


def _interrupted_then_resumed(runner_cls, cfg, toy, **interrupt) -> dict:
    """Train with a simulated kill, then resume (fresh runner object) to the end."""
    killed = cfg.copy()
    killed.custom_hooks = cfg.custom_hooks + [dict(type='ToyInterruptHook', **interrupt)]
    with pytest.raises(toy.ToyInterrupt):
        runner_cls.from_cfg(killed).train()
    resumed = cfg.copy()
    resumed.resume = True
    runner = runner_cls.from_cfg(resumed)
    runner.train()
    return _weights(runner)


def test_resume_after_kill_reproduces_uninterrupted_weights(toy, tmp_path):
    """Shuffling sampler, numpy-noise augmentation, dropout, validation, EMA: all replayed."""
    full = CissRunner.from_cfg(toy.toy_cfg(tmp_path / 'full'))
    full.train()
    reference = _weights(full)

    resumed = _interrupted_then_resumed(
        CissRunner, toy.toy_cfg(tmp_path / 'resumed'), toy, at_epoch=2)
    _assert_same_weights(reference, resumed)
    ckpt = torch.load(tmp_path / 'resumed' / 'epoch_4.pth', weights_only=True)
    assert ckpt['meta']['epoch'] == 4


def test_plain_mmengine_runner_does_not_resume_exactly(toy, tmp_path):
    """Sensitivity check of the scenario above: mmengine's Runner diverges after resuming."""
    full = Runner.from_cfg(toy.toy_cfg(tmp_path / 'full'))
    full.train()
    resumed = _interrupted_then_resumed(Runner, toy.toy_cfg(tmp_path / 'resumed'), toy,
                                        at_epoch=2)
    assert any(not torch.equal(v, resumed[k]) for k, v in _weights(full).items())


def test_iteration_based_resume_is_exact(toy, tmp_path):

    def iter_cfg(work_dir):
        cfg = toy.toy_cfg(work_dir)
        cfg.train_cfg = dict(by_epoch=False, max_iters=10, val_interval=5)
        cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
        cfg.param_scheduler = [dict(type='MultiStepLR', milestones=[6], by_epoch=False)]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=3, by_epoch=False)
        cfg.log_processor = dict(by_epoch=False)
        return cfg

    full = CissRunner.from_cfg(iter_cfg(tmp_path / 'full'))
    full.train()
    resumed = _interrupted_then_resumed(CissRunner, iter_cfg(tmp_path / 'resumed'), toy,
                                        at_iter=7)  # checkpoint at 6, killed at 7
    _assert_same_weights(_weights(full), resumed)


def test_resume_adopts_checkpoint_seed_when_config_has_none(toy, tmp_path):
    """seed=None: the resumed run takes the seed (RNGs and sampler) from the checkpoint."""
    full = CissRunner.from_cfg(toy.toy_cfg(tmp_path / 'full', seed=None))
    full.train()
    work_dir = tmp_path / 'resumed'
    work_dir.mkdir()
    shutil.copy(tmp_path / 'full' / 'epoch_2.pth', work_dir / 'epoch_2.pth')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_2.pth'))
    cfg = toy.toy_cfg(work_dir, seed=None)
    cfg.resume = True
    runner = CissRunner.from_cfg(cfg)
    runner.train()
    assert runner.seed == full.seed
    _assert_same_weights(_weights(full), _weights(runner))


def test_resume_with_worker_processes_is_exact(toy, tmp_path):
    full = CissRunner.from_cfg(toy.toy_cfg(tmp_path / 'full', max_epochs=3, num_workers=2))
    full.train()
    resumed = _interrupted_then_resumed(
        CissRunner, toy.toy_cfg(tmp_path / 'resumed', max_epochs=3, num_workers=2), toy,
        at_epoch=1)
    _assert_same_weights(_weights(full), resumed)


def _two_epochs_of_noise(runner_cls, toy) -> list:
    """Noise the workers added to each (unshuffled) sample, for epochs 0 and 1."""
    loader = runner_cls.build_dataloader(
        dict(dataset=dict(type='ToyNoisyDataset', size=8), batch_size=4, num_workers=2,
             sampler=dict(type='DefaultSampler', shuffle=False)), seed=0)
    noise = []
    for epoch in range(2):
        loader.sampler.set_epoch(epoch)
        inputs = torch.cat([torch.stack(batch['inputs']) for batch in loader])
        noise.append(inputs - loader.dataset.points)
    return noise


def test_workers_draw_new_augmentations_every_epoch(toy):
    """mmengine reseeds non-persistent workers identically every epoch; CissRunner does not."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('cissreg'):
        mm_epoch0, mm_epoch1 = _two_epochs_of_noise(Runner, toy)
        ours_epoch0, ours_epoch1 = _two_epochs_of_noise(CissRunner, toy)
    assert torch.equal(mm_epoch0, mm_epoch1)
    assert not torch.allclose(ours_epoch0, ours_epoch1)
    assert ours_epoch0.abs().max() > 0


def _trained_checkpoint(toy, tmp_path) -> Path:
    cfg = toy.toy_cfg(tmp_path / 'src', max_epochs=1)
    CissRunner.from_cfg(cfg).train()
    return tmp_path / 'src' / 'epoch_1.pth'


def _runner_loading(toy, work_dir, checkpoint, num_classes, **cfg_options) -> CissRunner:
    cfg = toy.toy_cfg(work_dir, max_epochs=1)
    cfg.model.num_classes = num_classes
    cfg.custom_hooks = []  # EMAHook needs before_run; these tests call load_or_resume directly
    cfg.load_from = str(checkpoint)
    cfg.merge_from_dict(cfg_options)
    return CissRunner.from_cfg(cfg)


def test_load_from_is_strict_and_names_keys_and_shapes(toy, tmp_path):
    checkpoint = _trained_checkpoint(toy, tmp_path)
    runner = _runner_loading(toy, tmp_path / 'five', checkpoint, num_classes=5)
    with pytest.raises(CheckpointMismatchError) as err:
        runner.load_or_resume()
    message = str(err.value)
    assert str(checkpoint) in message
    assert 'fc2.weight: checkpoint [3, 8] vs model [5, 8]' in message
    assert 'fc2.bias: checkpoint [3] vs model [5]' in message
    assert 'load_from_strict = False' in message


def test_load_from_names_missing_and_unexpected_keys(toy, tmp_path):
    checkpoint = _trained_checkpoint(toy, tmp_path)
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt['state_dict']['fc3.weight'] = ckpt['state_dict'].pop('fc1.weight')
    renamed = tmp_path / 'renamed.pth'
    torch.save(ckpt, renamed)
    runner = _runner_loading(toy, tmp_path / 'renamed', renamed, num_classes=3)
    with pytest.raises(CheckpointMismatchError, match=r'missing from the checkpoint: fc1\.weight'
                       r'[\s\S]*in the checkpoint but not in the model: fc3\.weight'):
        runner.load_or_resume()


def test_load_from_partial_when_config_allows(toy, tmp_path):
    checkpoint = _trained_checkpoint(toy, tmp_path)
    saved = torch.load(checkpoint, weights_only=True)['state_dict']
    runner = _runner_loading(toy, tmp_path / 'five', checkpoint, num_classes=5,
                             load_from_strict=False)
    before = _weights(runner)
    runner.load_or_resume()
    after = _weights(runner)
    for key in ('fc1.weight', 'fc1.bias', 'bn.running_mean'):
        assert torch.equal(after[key], saved[key])
    assert torch.equal(after['fc2.weight'], before['fc2.weight'])  # kept its initial value
    assert after['fc2.weight'].shape == (5, 8)


def test_matching_load_from_loads_every_tensor(toy, tmp_path):
    checkpoint = _trained_checkpoint(toy, tmp_path)
    saved = torch.load(checkpoint, weights_only=True)['state_dict']
    runner = _runner_loading(toy, tmp_path / 'same', checkpoint, num_classes=3)
    runner.load_or_resume()
    _assert_same_weights(saved, _weights(runner))
