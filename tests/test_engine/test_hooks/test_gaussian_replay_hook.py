"""GaussianReplayHook: replayed features per batch, only where replay applies."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from cissreg.engine.hooks import GaussianReplayHook
from cissreg.models.clip import GaussianFeatureSampler


class _Model(nn.Module):
    def __init__(self, sampler):
        super().__init__()
        self.replay_sampler = sampler

    @staticmethod
    def class_range(task):
        return 3 * task, 3 * task + 3


def _runner(task, stage, epoch, num_batches):
    sampler = GaussianFeatureSampler(num_classes=9, feat_dim=4)
    feats = torch.randn(60, 4, generator=torch.Generator().manual_seed(0))
    sampler.update(feats, torch.arange(60) % 6)
    return SimpleNamespace(train_loop=SimpleNamespace(task=task, stage=stage),
                           model=_Model(sampler), seed=11, epoch=epoch,
                           train_dataloader=[None] * num_batches)


def _replayed(hook, runner):
    hook.before_train_epoch(runner)
    batches = []
    for i in range(len(runner.train_dataloader)):
        data = {}
        hook.before_train_iter(runner, batch_idx=i, data_batch=data)
        batches.append(data)
    hook.after_train_epoch(runner)
    return batches


def test_hook_spreads_samples_evenly_over_batches():
    hook = GaussianReplayHook(samples_per_old_class=10)
    torch.manual_seed(3)
    batches = _replayed(hook, _runner(task=2, stage=1, epoch=4, num_batches=7))
    sizes = [len(b['replay_labels']) for b in batches]
    assert sum(sizes) == 6 * 10 and max(sizes) - min(sizes) <= 1 and min(sizes) >= 60 // 7
    labels = torch.cat([b['replay_labels'] for b in batches])
    assert torch.bincount(labels, minlength=6).tolist() == [10] * 6  # old classes 0..5 only
    assert all(b['replay_feats'].shape == (n, 4) for b, n in zip(batches, sizes))
    torch.manual_seed(3)  # ResumableRandomnessHook reseeds the global RNG per epoch
    same = _replayed(hook, _runner(task=2, stage=1, epoch=4, num_batches=7))
    other = _replayed(hook, _runner(task=2, stage=1, epoch=5, num_batches=7))
    assert all(torch.equal(a['replay_feats'], b['replay_feats']) for a, b in zip(batches, same))
    assert not torch.equal(batches[0]['replay_feats'], other[0]['replay_feats'])


@pytest.mark.parametrize('task,stage', [(0, 1), (2, 2)])
def test_hook_replays_only_in_stage_one_after_task_zero(task, stage):
    batches = _replayed(GaussianReplayHook(4), _runner(task, stage, epoch=0, num_batches=3))
    assert all('replay_feats' not in b for b in batches)
