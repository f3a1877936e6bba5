"""When to fit and when to replay the old classes' Gaussians (the sampler decides what)."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.dist import get_dist_info
from mmengine.model import is_model_wrapper
from torch import Tensor

from cissreg.registry import HOOKS

from .feature_cache_hook import FeatureCacheHook
from .incremental_hook import IncrementalHook


@HOOKS.register_module()
class GaussianReplayHook(IncrementalHook):
    """Gaussian feature replay for :class:`IncrementalLoop` + :class:`CLIPPromptClassifier`.

    The features come from :class:`FeatureCacheHook` (the frozen image encoder's features of
    the task's training samples, evaluation pipeline).

    * ``before_train_task``: the model gets the task's features (``set_task_features``: class
      means for image hard pairs).
    * ``after_train_task``: the model's ``replay_sampler`` (``GaussianFeatureSampler``) fits
      mean / covariance of every class of the finished task.
    * ``before_train_epoch`` (``stages``, tasks >= 1): ``samples_per_old_class`` features per
      old class are drawn at once, shuffled and split into as many near-equal chunks as the
      epoch has batches (times the world size: each rank gets its own chunks). Draws use
      torch's global RNG, which ``ResumableRandomnessHook`` (priority HIGHEST) has just
      reseeded from the run's seed and position, so a resumed run replays the same features.
    * ``before_train_iter``: batch ``i`` gets chunk ``i`` as ``replay_feats`` /
      ``replay_labels``, trained together with its real new-class samples.

    Args:
        samples_per_old_class (int): Replayed features per old class and epoch.
            Defaults to 20.
        stages (Sequence[int]): Stages that replay. Defaults to ``(1, )``.
    """

    priority = 'NORMAL'

    def __init__(self, samples_per_old_class: int = 20, stages: Sequence[int] = (1, )) -> None:
        if samples_per_old_class < 0:
            raise ValueError('samples_per_old_class must be >= 0')
        self.samples_per_old_class = samples_per_old_class
        self.stages = tuple(stages)
        self._chunks: Optional[List[Tuple[Tensor, Tensor]]] = None

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    @staticmethod
    def _features(runner) -> Tuple[Tensor, Tensor]:
        for hook in runner.hooks:
            if isinstance(hook, FeatureCacheHook):
                return hook.task_features(runner)
        raise RuntimeError('GaussianReplayHook needs FeatureCacheHook (it serves the frozen '
                           'features the statistics are fitted on): add it to default_hooks')

    def before_train_task(self, runner, task_id: int) -> None:
        model = self._model(runner)
        feats, labels = self._features(runner)
        device = model.replay_sampler.means.device
        model.set_task_features(feats.to(device), labels.to(device))

    def after_train_task(self, runner, task_id: int) -> None:
        feats, labels = self._features(runner)
        self._model(runner).replay_sampler.update(feats, labels)

    def before_train_epoch(self, runner) -> None:
        self._chunks = None
        loop = runner.train_loop
        if loop.stage not in self.stages or loop.task == 0 or self.samples_per_old_class == 0:
            return
        model = self._model(runner)
        num_old = model.class_range(loop.task)[0]
        feats, labels = model.replay_sampler.sample(torch.arange(num_old),
                                                    self.samples_per_old_class)
        feats, labels = feats.flatten(0, 1), labels.flatten()
        order = torch.randperm(len(labels)).to(labels.device)
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
