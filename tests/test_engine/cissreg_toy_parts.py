"""Tiny model / dataset / metric / hook for runner tests (imported by tests, not collected).

Randomness on purpose: the dataset adds numpy noise to every sample (an "augmentation"), the
model has dropout, and the train sampler shuffles, so a resumed run only matches an
uninterrupted one when all of them replay exactly.
"""
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F
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
                 p: float = 0.5) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden)
        self.bn = nn.BatchNorm1d(hidden)
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
    """``size`` fixed points in 3 clusters; each access adds numpy-global-RNG noise."""

    def __init__(self, size: int = 16, in_dim: int = 4, num_classes: int = 3,
                 noise: float = 0.3) -> None:
        g = torch.Generator().manual_seed(1234)
        self.labels = torch.arange(size) % num_classes
        centers = torch.randn(num_classes, in_dim, generator=g) * 2
        self.points = centers[self.labels] + torch.randn(size, in_dim, generator=g) * 0.5
        self.noise = noise
        self.metainfo = dict(classes=tuple(f'c{i}' for i in range(num_classes)))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> dict:
        jitter = torch.from_numpy(np.random.randn(self.points.shape[1])).float() * self.noise
        return dict(inputs=self.points[idx] + jitter, labels=self.labels[idx])


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
