"""Tiny model / dataset / metric / hook for runner tests (imported by tests).

Randomness on purpose: the dataset adds numpy noise to every sample (an "augmentation"), the
model has dropout, and the train sampler shuffles, so a resumed run only matches an
uninterrupted one when all of them replay exactly.
"""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from cissreg.registry import DATASETS, HOOKS, METRICS, MODELS


@MODELS.register_module()
class ToyDropoutNet(BaseModel):
    """Linear -> BN -> ReLU -> Dropout -> Linear classifier on [B, in_dim] vectors."""

    def __init__(self, in_dim: int = 4, hidden: int = 8, num_classes: int = 3,
                 p: float = 0.5, sync_bn: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.bn = nn.SyncBatchNorm(hidden) if sync_bn else nn.BatchNorm1d(hidden)
        self.drop = nn.Dropout(p)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, inputs, labels, mode: str = 'tensor'):
        x = torch.stack(inputs)
        logits = self.fc2(self.drop(torch.relu(self.bn(self.fc1(x)))))
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, torch.stack(labels)))
        if mode == 'predict':
            return [dict(pred=int(p), label=int(t)) for p, t in zip(logits.argmax(1), labels)]
        return logits


@DATASETS.register_module()
class ToyNoisyDataset(Dataset):
    """``size`` fixed points in 3 clusters; each access adds numpy-global-RNG noise.

    ``pipeline`` (transform configs, built through mmengine's ``Compose``) is applied to each
    ``dict(inputs, labels)`` sample; empty by default.
    """

    def __init__(self, size: int = 16, in_dim: int = 4, num_classes: int = 3,
                 noise: float = 0.3, pipeline: Sequence[dict] = ()) -> None:
        g = torch.Generator().manual_seed(1234)
        self.labels = torch.arange(size) % num_classes
        centers = torch.randn(num_classes, in_dim, generator=g) * 2
        self.points = centers[self.labels] + torch.randn(size, in_dim, generator=g) * 0.5
        self.noise = noise
        self.metainfo = dict(classes=tuple(f'c{i}' for i in range(num_classes)))
        self.pipeline = Compose(list(pipeline))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> dict:
        jitter = torch.from_numpy(np.random.randn(self.points.shape[1])).float() * self.noise
        return self.pipeline(dict(inputs=self.points[idx] + jitter, labels=self.labels[idx]))


@METRICS.register_module()
class ToyAccuracy(BaseMetric):
    """Fraction of correct predictions."""

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(int(s['pred'] == s['label']) for s in data_samples)

    def compute_metrics(self, results) -> dict:
        return dict(accuracy=float(np.mean(results)))


@HOOKS.register_module()
class ToyDumpWeightsHook(Hook):
    """After training, every rank saves its weights and model wrapper type to work_dir."""

    def after_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        torch.save(dict(state_dict=model.state_dict(), wrapper=type(runner.model).__name__,
                        world_size=runner.world_size),
                   osp.join(runner.work_dir, f'rank{runner.rank}_weights.pth'))


class ToyInterrupt(RuntimeError):
    """Raised by :class:`ToyInterruptHook` to simulate a killed run."""


@HOOKS.register_module()
class ToyInterruptHook(Hook):
    """Raise after epoch ``at_epoch`` / iteration ``at_iter`` (1-based), after checkpointing."""

    priority = 'LOWEST'

    def __init__(self, at_epoch: Optional[int] = None, at_iter: Optional[int] = None) -> None:
        self.at_epoch = at_epoch
        self.at_iter = at_iter

    def after_train_epoch(self, runner) -> None:
        if self.at_epoch is not None and runner.epoch + 1 == self.at_epoch:
            raise ToyInterrupt(f'simulated kill after epoch {self.at_epoch}')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.at_iter is not None and runner.iter + 1 == self.at_iter:
            raise ToyInterrupt(f'simulated kill after iteration {self.at_iter}')


def toy_cfg(work_dir: str, max_epochs: int = 4, seed: Optional[int] = 0,
            num_workers: int = 0) -> Config:
    """Epoch-based config: shuffled noisy data, dropout model, val every epoch, EMA, SGD."""
    return Config(dict(
        default_scope='cissreg',
        model=dict(type='ToyDropoutNet'),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=dict(type='ToyNoisyDataset'), batch_size=4, num_workers=num_workers,
            persistent_workers=False, sampler=dict(type='DefaultSampler', shuffle=True)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        val_dataloader=dict(
            dataset=dict(type='ToyNoisyDataset'), batch_size=8,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        val_cfg=dict(),
        val_evaluator=dict(type='ToyAccuracy'),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=[dict(type='MultiStepLR', milestones=[2], by_epoch=True)],
        default_hooks=dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1000)),
        custom_hooks=[dict(type='EMAHook')],
        randomness=dict(seed=seed),
        log_level='WARNING'))


TOY_CONFIG = '''
custom_imports = dict(imports=['cissreg.testing.toy_parts'], allow_failed_imports=False)
default_scope = 'cissreg'
runner_type = 'CissRunner'
env_cfg = dict(dist_cfg=dict(backend='nccl'))  # as shipped for GPUs; CPUs use gloo anyway
model = dict(type='ToyDropoutNet')
train_dataloader = dict(
    dataset=dict(type='ToyNoisyDataset', size=16), batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True))
train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
val_dataloader = dict(
    dataset=dict(type='ToyNoisyDataset', size=8), batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False))
val_cfg = dict()
val_evaluator = dict(type='ToyAccuracy')
test_dataloader = val_dataloader
test_cfg = dict()
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook', interval=1),
                     logger=dict(type='LoggerHook', interval=1))
custom_hooks = [dict(type='ToyDumpWeightsHook')]
randomness = dict(seed=0)
'''


def write_toy_config(directory) -> str:
    """Write a config that imports this module (``custom_imports``) into ``directory``.

    Returns:
        str: Path of the config.
    """
    path = osp.join(directory, 'toy_config.py')
    with open(path, 'w') as f:
        f.write(TOY_CONFIG)
    return path
