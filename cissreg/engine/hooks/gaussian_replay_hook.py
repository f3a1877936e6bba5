"""When to fit and when to replay the old classes' Gaussians (the sampler decides what)."""
from typing import List, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import Tensor

from cissreg.registry import HOOKS


@HOOKS.register_module()
class GaussianReplayHook(Hook):
    """Gaussian feature replay for :class:`IncrementalLoop` + :class:`CLIPPromptClassifier`.

    * ``after_train_task``: the model's ``replay_sampler`` (a ``GaussianFeatureSampler``)
      fits mean / covariance of every class of the finished task from the loop's
      :meth:`~IncrementalLoop.task_features` (frozen image features of all its training
      samples).
    * ``before_train_epoch`` (stage 1 of tasks >= 1): ``samples_per_old_class`` features per
      old class are drawn at once from a generator seeded by ``(seed, epoch)``, shuffled and
      split into as many near-equal chunks as the epoch has batches (times the world size:
      in a distributed run every rank gets its own chunks, each feature is used once).
    * ``before_train_iter``: batch ``i`` gets chunk ``i`` as ``replay_feats`` /
      ``replay_labels``, trained together with its real new-class samples.

    Args:
        samples_per_old_class (int): Replayed features per old class and epoch.
            Defaults to 20.
    """

    priority = 'NORMAL'

    def __init__(self, samples_per_old_class: int = 20) -> None:
        if samples_per_old_class < 0:
            raise ValueError('samples_per_old_class must be >= 0')
        self.samples_per_old_class = samples_per_old_class
        self._chunks: Optional[List[Tuple[Tensor, Tensor]]] = None

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def after_train_task(self, runner, task_id: int) -> None:
        feats, labels = runner.train_loop.task_features()
        self._model(runner).replay_sampler.update(feats, labels)

    def before_train_epoch(self, runner) -> None:
        self._chunks = None
        loop = runner.train_loop
        if loop.stage != 1 or loop.task == 0 or self.samples_per_old_class == 0:
            return
        model = self._model(runner)
        num_old = model.class_range(loop.task)[0]
        seed = int(np.random.SeedSequence([runner.seed & 0xFFFFFFFF, runner.epoch, 7919])
                   .generate_state(1)[0])
        generator = torch.Generator().manual_seed(seed)
        feats, labels = model.replay_sampler.sample(
            torch.arange(num_old), self.samples_per_old_class, generator=generator)
        feats, labels = feats.flatten(0, 1), labels.flatten()
        order = torch.randperm(len(labels), generator=generator).to(labels.device)
        num_batches = max(len(runner.train_dataloader), 1)
        rank, world_size = get_dist_info()
        chunks = list(zip(feats[order].tensor_split(num_batches * world_size),
                          labels[order].tensor_split(num_batches * world_size)))
        self._chunks = chunks[rank::world_size]

    def before_train_iter(self, runner, batch_idx: int, data_batch: dict = None) -> None:
        if self._chunks is not None and batch_idx < len(self._chunks):
            data_batch['replay_feats'], data_batch['replay_labels'] = self._chunks[batch_idx]

    def after_train_epoch(self, runner) -> None:
        self._chunks = None
