"""Class-incremental training loop: tasks x stages x epochs, evaluation and results per task."""
import copy
import json
import math
import os
import os.path as osp
import random
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dist import get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.dataset import pseudo_collate
from mmengine.model import is_model_wrapper
from mmengine.runner.base_loop import BaseLoop
from torch.utils.data import DataLoader

from cissreg.datasets.cil import (ClassSubset, class_range_subset, range_key,
                                  task_class_ranges)
from cissreg.registry import DATASETS, LOOPS, OPTIM_WRAPPERS, OPTIMIZERS
from .feature_loader import FeatureBatchLoader


def _derive_seed(*entropy: int) -> int:
    return int(np.random.SeedSequence([int(e) & 0xFFFFFFFF for e in entropy])
               .generate_state(1)[0])


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _IncrementalStateHook(Hook):
    """Stores the loop position in checkpoints and restores it when resuming."""

    priority = 'VERY_HIGH'

    def __init__(self, loop: 'IncrementalLoop') -> None:
        self.loop = loop

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['cil'] = self.loop.state_dict()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not runner._resume:
            return
        state = checkpoint.get('meta', {}).get('cil')
        if state is None:
            raise KeyError('resuming an IncrementalLoop run needs a checkpoint written by it '
                           "(meta['cil'] with the task, stage and epoch is missing)")
        self.loop.restore(state)


@LOOPS.register_module()
class IncrementalLoop(BaseLoop):
    """Train tasks ``init_class + increment * k`` one after another, in one or two stages.

    For every task ``t``:

    1. ``model.begin_task(t, class_names)``; the task's training images are encoded once
       with the evaluation pipeline (``feature_pipeline``) and handed to the model
       (``set_task_features``).
    2. Stage 1 (``init_max_epochs`` for task 0, else ``max_epochs``) and, for tasks with a
       second stage, stage 2 (``second_stage['max_epochs']``). Each stage gets a fresh
       optimizer over the parameters the model makes trainable (``model.set_stage``) and its
       own schedulers. While the image encoder is frozen, epochs iterate the cached features
       (``cache_features=True``) instead of decoding and encoding images again; a stage that
       trains the encoder (LoRA) reads images and invalidates the cache.
    3. Hook event ``after_train_task(task_id)`` (``GaussianReplayHook`` stores the task's
       feature statistics there, from :meth:`task_features`), evaluation on all seen classes
       through the runner's val (or test) loop and ``CILMetric``, the results file
       (``results_file`` in the work dir, json) and the same values in the log, and the
       checkpoint ``task_{t}.pth``.

    Hooks see the usual events; ``runner.epoch`` / ``runner.iter`` count over all tasks and
    stages, so epoch checkpoints (``CheckpointHook``) resume in the middle of a task: the
    checkpoint's ``meta['cil']`` holds the task, stage and epoch in the stage; the Gaussian
    statistics and heads are model buffers and the cached features are recomputed. RNGs are
    reseeded from ``(seed, epoch)`` at each epoch start, so a resumed run ends with the same
    results as an uninterrupted one.

    Optimizers: stage 1 uses the config's ``optim_wrapper`` / ``param_scheduler`` (``init_lr``
    overrides the learning rate of task 0); stage 2 uses ``second_stage['optim_wrapper']``
    (merged into the top-level one) / ``second_stage['param_scheduler']``. A scheduler
    without ``end`` (and a cosine one without ``T_max``) spans its stage.

    Args:
        runner (Runner): The runner.
        dataloader (dict): Train dataloader config (its dataset is the full training set).
        init_class (int): Classes of task 0.
        increment (int): Classes of each later task.
        max_epochs (int): Stage-1 epochs of tasks >= 1.
        init_max_epochs (int, optional): Stage-1 epochs of task 0. Defaults to ``max_epochs``.
        init_lr (float, optional): Stage-1 learning rate of task 0.
        second_stage (dict, optional): ``dict(max_epochs, optim_wrapper, param_scheduler)``.
        cache_features (bool): Train on cached features while the encoder is frozen.
            Defaults to True.
        feature_pipeline (list[dict], optional): Pipeline of the feature pass. Defaults to the
            val (or test) dataset's pipeline.
        feature_batch_size (int): Batch size of the feature pass. Defaults to 128.
        num_tasks (int, optional): Stop after this many tasks. Defaults to all.
        results_file (str): Results json name in the work dir. Defaults to
            ``'cil_results.json'``.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, dict],
                 init_class: int,
                 increment: int,
                 max_epochs: int,
                 init_max_epochs: Optional[int] = None,
                 init_lr: Optional[float] = None,
                 second_stage: Optional[dict] = None,
                 cache_features: bool = True,
                 feature_pipeline: Optional[List[dict]] = None,
                 feature_batch_size: int = 128,
                 num_tasks: Optional[int] = None,
                 results_file: str = 'cil_results.json') -> None:
        if not isinstance(dataloader, dict):
            raise TypeError('IncrementalLoop needs the train dataloader as a config dict')
        self._loader_cfg = copy.deepcopy(dataloader)
        super().__init__(runner, copy.deepcopy(dataloader))
        self.full_dataset = self.dataloader.dataset
        self.class_names = list(self.full_dataset.metainfo['classes'])
        self.num_classes = len(self.class_names)
        self.ranges = task_class_ranges(self.num_classes, init_class, increment)
        self.num_tasks = min(num_tasks or len(self.ranges), len(self.ranges))
        self.init_class, self.increment = init_class, increment
        self.stage1_epochs = max_epochs
        self.init_max_epochs = max_epochs if init_max_epochs is None else init_max_epochs
        self.init_lr = init_lr
        self.second_stage = dict(second_stage or {})
        self.cache_features = cache_features
        self.feature_batch_size = feature_batch_size
        self.results_file = results_file
        self._check_model()

        if not isinstance(runner.optim_wrapper, dict):
            raise TypeError('IncrementalLoop builds one optimizer per task and stage: give '
                            '`optim_wrapper` as a config dict')
        self._optim_cfgs = {1: copy.deepcopy(dict(runner.optim_wrapper))}
        stage2_optim = copy.deepcopy(dict(runner.optim_wrapper))
        stage2_optim.update(copy.deepcopy(self.second_stage.get('optim_wrapper', {})))
        self._optim_cfgs[2] = stage2_optim
        schedulers = runner.param_schedulers
        self._scheduler_cfgs = {
            1: self._as_list(copy.deepcopy(schedulers)),
            2: self._as_list(copy.deepcopy(self.second_stage.get('param_scheduler')))
        }

        pipeline = feature_pipeline or self._eval_pipeline()
        dataset_cfg = copy.deepcopy(self._loader_cfg['dataset'])
        dataset_cfg['pipeline'] = pipeline
        self.feature_dataset = DATASETS.build(dataset_cfg)
        if list(self.feature_dataset.get_gt_labels()) != list(self.full_dataset.get_gt_labels()):
            raise ValueError('IncrementalLoop: the feature-pass dataset differs from the train '
                             'dataset (same config but another sample list)')

        self._task, self._stage, self._stage_epoch = 0, 1, 0
        self._epoch, self._iter = 0, 0
        self._restored = False
        self._saving_task = False
        self._in_epoch_end = False
        self._feats: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
        self._feats_task: Optional[int] = None
        self._max_epochs, self._max_iters = self._count_schedule()
        self._metric = self._find_metric()
        eval_meta = self._eval_loop().dataloader.dataset.metainfo
        if list(eval_meta.get('classes', [])) != self.class_names:
            raise ValueError('IncrementalLoop: the train and evaluation datasets order the '
                             'classes differently (give both the same class_order_seed / '
                             f'class_order): {self.class_names} vs {list(eval_meta["classes"])}')
        runner.register_hook(_IncrementalStateHook(self))

    # ------------------------------------------------------------------ setup helpers
    @staticmethod
    def _as_list(cfg) -> List[dict]:
        if cfg is None:
            return []
        return [dict(c) for c in cfg] if isinstance(cfg, (list, tuple)) else [dict(cfg)]

    @property
    def model(self):
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def _check_model(self) -> None:
        model = self.model
        for name in ('begin_task', 'set_stage', 'extract_feat', 'has_second_stage'):
            if not hasattr(model, name):
                raise TypeError(f'IncrementalLoop: the model {type(model).__name__} has no '
                                f'{name}()')
        sizes = [e - s for s, e in self.ranges]
        if list(model.task_sizes) != sizes:
            raise ValueError(f'IncrementalLoop: the task split {sizes} (init_class='
                             f'{self.init_class}, increment={self.increment}, '
                             f'{self.num_classes} classes in the dataset) differs from the '
                             f"model's {list(model.task_sizes)}")

    def _eval_loop(self):
        loop = self.runner.val_loop or self.runner.test_loop
        if loop is None:
            raise RuntimeError('IncrementalLoop evaluates after every task: configure '
                               'val_dataloader / val_cfg / val_evaluator (or test_*)')
        return loop

    def _eval_pipeline(self) -> List[dict]:
        for key in ('val_dataloader', 'test_dataloader'):
            cfg = self.runner.cfg.get(key)
            if cfg and isinstance(cfg.get('dataset'), dict) and 'pipeline' in cfg['dataset']:
                return copy.deepcopy(list(cfg['dataset']['pipeline']))
        raise ValueError('IncrementalLoop: set feature_pipeline (no val/test dataset pipeline '
                         'to copy)')

    def _find_metric(self):
        from cissreg.evaluation.metrics import CILMetric
        metrics = [m for m in self._eval_loop().evaluator.metrics if isinstance(m, CILMetric)]
        if not metrics:
            raise TypeError('IncrementalLoop: the val (or test) evaluator must include '
                            "dict(type='CILMetric', ...)")
        return metrics[0]

    def epochs_of(self, task: int, stage: int) -> int:
        """Epochs of ``stage`` in ``task`` (0 for a stage that does not run)."""
        if stage == 1:
            return self.init_max_epochs if task == 0 else self.stage1_epochs
        if not self.second_stage or not self.model.has_second_stage(task):
            return 0
        return int(self.second_stage.get('max_epochs', 0))

    def _batches_per_epoch(self, task: int) -> int:
        start, end = self.ranges[task]
        labels = self.full_dataset.get_gt_labels()
        n = int(((labels >= start) & (labels < end)).sum())
        _, world = get_dist_info()
        per_rank = math.ceil(n / world)
        batch = self._loader_cfg['batch_size']
        if self._loader_cfg.get('drop_last', False):
            return per_rank // batch
        return math.ceil(per_rank / batch)

    def _count_schedule(self) -> Tuple[int, int]:
        epochs = iters = 0
        for t in range(self.num_tasks):
            for s in (1, 2):
                e = self.epochs_of(t, s)
                epochs += e
                iters += e * self._batches_per_epoch(t)
        return epochs, iters

    @property
    def max_epochs(self) -> int:
        return self._max_epochs

    @property
    def max_iters(self) -> int:
        return self._max_iters

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def iter(self) -> int:
        return self._iter

    @property
    def task(self) -> int:
        """Current task index."""
        return self._task

    @property
    def stage(self) -> int:
        """Current stage (1 or 2)."""
        return self._stage

    # ------------------------------------------------------------------ data
    def _image_loader(self, task: int) -> DataLoader:
        start, end = self.ranges[task]
        cfg = copy.deepcopy(self._loader_cfg)
        cfg['dataset'] = class_range_subset(self.full_dataset, start, end)
        return self.runner.build_dataloader(
            cfg, seed=self.runner.seed,
            diff_rank_seed=self.runner._randomness_cfg.get('diff_rank_seed', False))

    @torch.no_grad()
    def _extract(self, task: int) -> Tuple[torch.Tensor, torch.Tensor]:
        start, end = self.ranges[task]
        subset = class_range_subset(self.feature_dataset, start, end)
        loader = DataLoader(subset, batch_size=self.feature_batch_size, shuffle=False,
                            num_workers=self._loader_cfg.get('num_workers', 0),
                            collate_fn=pseudo_collate)
        model = self.model
        was_training = model.training
        model.eval()
        feats, labels = [], []
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            feats.append(model.extract_feat(data['inputs']).float().cpu())
            labels.append(data['labels'].cpu())
        model.train(was_training)
        return torch.cat(feats), torch.cat(labels)

    def task_features(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Features [N, D] and labels [N] of the current task's training set, encoded by the
        current image encoder with the evaluation pipeline (cached while it is frozen)."""
        if self._feats is None or self._feats_task != self._task:
            self._feats = self._extract(self._task)
            self._feats_task = self._task
        return self._feats

    def _stage_loader(self, task: int, stage: int):
        model = self.model
        if self.cache_features and not model.image_encoder_trainable:
            feats, labels = self.task_features()
            start, end = self.ranges[task]
            return FeatureBatchLoader(
                feats, labels, self._loader_cfg['batch_size'],
                dataset=class_range_subset(self.full_dataset, start, end),
                drop_last=self._loader_cfg.get('drop_last', False), seed=self.runner.seed)
        return self._image_loader(task)

    # ------------------------------------------------------------------ optimisation
    def _scheduler_cfgs_for(self, task: int, stage: int) -> List[dict]:
        epochs = self.epochs_of(task, stage)
        cfgs = copy.deepcopy(self._scheduler_cfgs[stage])
        for cfg in cfgs:
            if 'Cosine' in str(cfg.get('type')) and 'T_max' not in cfg:
                cfg['T_max'] = epochs
            cfg.setdefault('end', epochs)
        return cfgs

    def _build_stage_optim(self, task: int, stage: int) -> None:
        cfg = copy.deepcopy(self._optim_cfgs[stage])
        optimizer_cfg = dict(cfg.pop('optimizer'))
        if stage == 1 and task == 0 and self.init_lr is not None:
            optimizer_cfg['lr'] = self.init_lr
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError(f'task {task} stage {stage}: the model has nothing to train')
        cfg.pop('constructor', None)
        cfg.pop('paramwise_cfg', None)
        cfg.setdefault('type', 'OptimWrapper')
        cfg['optimizer'] = OPTIMIZERS.build(dict(optimizer_cfg, params=params))
        self.runner.optim_wrapper = OPTIM_WRAPPERS.build(cfg)
        schedulers = self._scheduler_cfgs_for(task, stage)
        self.runner.param_schedulers = (self.runner.build_param_scheduler(schedulers)
                                        if schedulers else None)
        self.runner.optim_wrapper.initialize_count_status(self.runner.model, self._iter,
                                                          self._max_iters)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Position (task, stage, epoch in stage) and metric history, plain types only."""
        stage_epoch = self._stage_epoch
        if self._in_epoch_end:
            stage_epoch += 1  # CheckpointHook saves before the loop counts the epoch
        return dict(task=self._task, stage=self._stage, stage_epoch=stage_epoch,
                    task_done=self._saving_task, epoch=self._epoch + int(self._in_epoch_end),
                    class_order=list(self.full_dataset.metainfo.get('class_order', [])),
                    metric=self._metric.state_dict())

    def restore(self, state: dict) -> None:
        """Prepare the model and the optimizer of the checkpoint's position (called before
        the runner loads the model, optimizer and scheduler states)."""
        order = list(self.full_dataset.metainfo.get('class_order', []))
        if state.get('class_order') and list(state['class_order']) != order:
            raise ValueError('resume: the checkpoint was trained with another class order '
                             '(class_order_seed / class_order of the dataset)')
        task, stage = int(state['task']), int(state['stage'])
        self._metric.load_state_dict(state['metric'])
        self.model.begin_task(task, self.class_names)
        self.model.set_stage(stage)
        self.dataloader = self._image_loader(task)
        self._build_stage_optim(task, stage)
        if state['task_done']:
            self._task, self._stage, self._stage_epoch = task + 1, 1, 0
            self._restored = False
        else:
            self._task, self._stage = task, stage
            self._stage_epoch = int(state['stage_epoch'])
            self._restored = True
        self.runner.logger.info(
            f'IncrementalLoop: resuming at task {self._task}, stage {self._stage}, '
            f'epoch {self._stage_epoch} of the stage')

    # ------------------------------------------------------------------ running
    def run(self):
        """Run the remaining tasks; returns the model."""
        self.runner.call_hook('before_train')
        while self._task < self.num_tasks:
            self._run_task(self._task)
            self._task += 1
            self._stage, self._stage_epoch = 1, 0
        self.runner.call_hook('after_train')
        return self.runner.model

    def _run_task(self, task: int) -> None:
        model = self.model
        model.begin_task(task, self.class_names)
        feats, labels = self.task_features()
        model.set_task_features(feats.to(model.head_ready.device),
                                labels.to(model.head_ready.device))
        for stage in (1, 2):
            epochs = self.epochs_of(task, stage)
            if stage < self._stage or epochs == 0:
                continue
            self._stage = stage
            model.set_stage(stage)
            self._wrap_for_stage()
            self.dataloader = self._stage_loader(task, stage)
            if not self._restored:
                self._build_stage_optim(task, stage)
            self._restored = False
            encoder_trains = model.image_encoder_trainable
            while self._stage_epoch < epochs:
                self.run_epoch()
            self._stage_epoch = 0
            if encoder_trains:
                self._feats = None  # the encoder changed: re-encode for the statistics
        model.eval()
        self.runner.call_hook('after_train_task', task_id=task)
        self._evaluate(task)
        self._saving_task = True
        try:
            self.runner.save_checkpoint(self.runner.work_dir, f'task_{task}.pth',
                                        meta=dict(epoch=self._epoch, iter=self._iter))
        finally:
            self._saving_task = False

    def _wrap_for_stage(self) -> None:
        """Re-wrap a distributed model after ``set_stage``.

        DDP records the parameters that require grad when it wraps the model; each stage
        trains other ones (prompts, then a head and LoRA), so the wrapper is rebuilt to
        synchronise exactly those.
        """
        runner = self.runner
        if is_model_wrapper(runner.model):
            runner.model = runner.wrap_model(runner.cfg.get('model_wrapper_cfg'),
                                             runner.model.module)

    def run_epoch(self) -> None:
        """One epoch of the current stage."""
        _seed_all(_derive_seed(self.runner.seed, self._epoch))
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        if isinstance(self.dataloader, FeatureBatchLoader):
            self.dataloader.set_epoch(self._epoch)
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        self._in_epoch_end = True
        try:
            self.runner.call_hook('after_train_epoch')
        finally:
            self._in_epoch_end = False
        self._epoch += 1
        self._stage_epoch += 1

    def run_iter(self, idx: int, data_batch: dict) -> None:
        """One optimisation step."""
        self.runner.call_hook('before_train_iter', batch_idx=idx, data_batch=data_batch)
        outputs = self.runner.model.train_step(data_batch, optim_wrapper=self.runner.optim_wrapper)
        self.runner.call_hook('after_train_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
        self._iter += 1

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, task: int) -> Dict[str, float]:
        loop = self._eval_loop()
        full_loader = loop.dataloader
        dataset = full_loader.dataset
        if isinstance(dataset, ClassSubset):
            dataset = dataset.dataset
        cfg_key = 'val_dataloader' if loop is self.runner.val_loop else 'test_dataloader'
        cfg = copy.deepcopy(dict(self.runner.cfg[cfg_key]))
        cfg['dataset'] = class_range_subset(dataset, 0, self.ranges[task][1])
        loop.dataloader = self.runner.build_dataloader(cfg, seed=self.runner.seed)
        try:
            metrics = loop.run()
        finally:
            loop.dataloader = full_loader
        self._write_results(task)
        return metrics

    def results(self, last_task: int) -> dict:
        """The results of tasks ``0..last_task`` as written to the results file."""
        history = self._metric.history
        tasks = []
        for t in range(last_task + 1):
            row = history.get(t)
            if row is None:
                continue
            tasks.append(dict(task=t, classes=range_key(*self.ranges[t]),
                              grouped=row['grouped']))
        summary = self._metric.summary(last_task) or {}
        order = self.full_dataset.metainfo.get('class_order', [])
        return dict(num_classes=self.num_classes, init_class=self.init_class,
                    increment=self.increment, seed=self.runner.seed,
                    class_order=list(order), class_names=self.class_names, tasks=tasks,
                    acc_matrix=[history[t]['task_acc'] for t in range(last_task + 1)
                                if t in history],
                    AIA=summary.get('AIA'), AA=summary.get('AA'),
                    forgetting=summary.get('forgetting'))

    def _write_results(self, task: int) -> None:
        if not is_main_process():
            return
        results = self.results(task)
        row = results['tasks'][-1]['grouped'] if results['tasks'] else {}
        fmt = ', '.join(f'{k}: {v:.2f}' if v is not None else f'{k}: -'
                        for k, v in row.items())
        lines = [f'CIL task {task} grouped accuracy (%): {fmt}']
        if results['AIA'] is not None:
            forgetting = results['forgetting']
            lines.append(f'CIL after task {task}: AIA {results["AIA"]:.2f}, AA '
                         f'{results["AA"]:.2f}, forgetting '
                         + (f'{forgetting:.2f}' if forgetting is not None else '-'))
        for line in lines:
            self.runner.logger.info(line)
        path = osp.join(self.runner.work_dir, self.results_file)
        tmp = f'{path}.tmp'
        with open(tmp, 'w', encoding='utf-8') as f:
            json.dump(results, f, indent=2)
        os.replace(tmp, path)
