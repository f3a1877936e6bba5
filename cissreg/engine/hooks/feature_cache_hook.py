"""Train on cached image features while the model's feature extractor is frozen."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import is_model_wrapper
from torch import Tensor
from torch.utils.data import DataLoader

from cissreg.engine.loops.feature_loader import FeatureBatchLoader
from cissreg.registry import DATASETS, HOOKS

from .incremental_hook import IncrementalHook


@HOOKS.register_module()
class FeatureCacheHook(IncrementalHook):
    """Encode a task's training images once and train its stages on the features.

    For :class:`IncrementalLoop` with a classifier whose ``extract_feat(inputs)`` [B, D] does
    not change during the run (a frozen image encoder) and whose loss accepts batches
    ``dict(feats=[B, D], labels=[B])``:

    * ``before_train_task``: forget the previous task's features.
    * ``before_train_stage``: unless the model says the stage ``needs_images`` (e.g. LoRA in
      the encoder path of a head), the loop's loader is replaced by a
      :class:`FeatureBatchLoader` over the cached features (same batch size, a permutation
      per ``(seed, epoch)``, each batch with its samples' ``img_paths`` so a non-finite
      loss names the image files); a stage that needs images drops the cache afterwards.
    * :meth:`task_features` serves the same features to other hooks (Gaussian statistics).

    The features are computed with ``pipeline`` (default: the val dataset's pipeline), i.e.
    without random augmentation: a ``RandomFlip`` in the train pipeline has no effect on
    cached epochs. Each cached epoch sees every training image once, unaugmented.

    Args:
        pipeline (list[dict], optional): Pipeline of the feature pass. Defaults to the
            val (or test) dataset's pipeline.
        batch_size (int): Batch size of the feature pass. Defaults to 128.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, pipeline: Optional[Sequence[dict]] = None, batch_size: int = 128) -> None:
        self.pipeline = None if pipeline is None else [dict(p) for p in pipeline]
        self.batch_size = batch_size
        self._dataset = None
        self._cache: Optional[Tuple[int, Tensor, Tensor, List[str]]] = None

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _feature_dataset(self, runner):
        if self._dataset is None:
            cfg = dict(runner.cfg.train_dataloader.dataset)
            cfg['pipeline'] = self.pipeline or self._eval_pipeline(runner)
            self._dataset = DATASETS.build(cfg)
            train = runner.train_loop.dataset
            if list(self._dataset.get_gt_labels()) != list(train.get_gt_labels()):
                raise ValueError('FeatureCacheHook: the feature-pass dataset differs from the '
                                 'train dataset (same config but another sample list)')
        return self._dataset

    @staticmethod
    def _eval_pipeline(runner) -> list:
        for key in ('val_dataloader', 'test_dataloader'):
            cfg = runner.cfg.get(key)
            if cfg and 'pipeline' in cfg.get('dataset', {}):
                return [dict(p) for p in cfg['dataset']['pipeline']]
        raise ValueError('FeatureCacheHook: set pipeline (no val/test pipeline to copy)')

    @torch.no_grad()
    def _extract(self, runner, task: int) -> Tuple[Tensor, Tensor, List[str]]:
        loop = runner.train_loop
        subset = loop.task_split.train_subset(self._feature_dataset(runner), task)
        loader = DataLoader(subset, batch_size=self.batch_size, shuffle=False,
                            collate_fn=pseudo_collate)
        model = self._model(runner)
        was_training = model.training
        model.eval()
        feats, labels, paths = [], [], []
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            feats.append(model.extract_feat(data['inputs']).float().cpu())
            labels.append(data['labels'].cpu())
            paths += [str(s.metainfo.get('img_path', '?')) for s in batch['data_samples']]
        model.train(was_training)
        return torch.cat(feats), torch.cat(labels), paths

    def task_features(self, runner) -> Tuple[Tensor, Tensor]:
        """Features [N, D] and labels [N] of the current task's training samples."""
        return self._task_cache(runner)[1:3]

    def _task_cache(self, runner) -> Tuple[int, Tensor, Tensor, List[str]]:
        task = runner.train_loop.task
        if self._cache is None or self._cache[0] != task:
            self._cache = (task, *self._extract(runner, task))
        return self._cache

    def before_train_task(self, runner, task_id: int) -> None:
        self._cache = None

    def before_train_stage(self, runner, task_id: int, stage: int) -> None:
        if getattr(self._model(runner), 'needs_images', False):
            return
        loop = runner.train_loop
        images = loop.dataloader
        _, feats, labels, img_paths = self._task_cache(runner)
        loop.dataloader = FeatureBatchLoader(feats, labels, images.batch_size,
                                             dataset=images.dataset, img_paths=img_paths,
                                             drop_last=images.drop_last, seed=runner.seed)

    def before_train_epoch(self, runner) -> None:
        loader = runner.train_loop.dataloader
        if isinstance(loader, FeatureBatchLoader):
            loader.set_epoch(runner.epoch)

    def after_train_stage(self, runner, task_id: int, stage: int) -> None:
        if getattr(self._model(runner), 'needs_images', False):
            self._cache = None  # the stage may have changed what extract_feat returns
