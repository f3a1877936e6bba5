"""The incremental training loop: tasks -> stages -> epochs, shared by every multi-step method."""
import copy
import json
import math
import os.path as osp
from operator import attrgetter
from typing import Dict, List, Optional, Union

from mmengine.dist import get_dist_info, is_main_process
from mmengine.model import is_model_wrapper
from mmengine.runner.base_loop import BaseLoop
from torch.utils.data import DataLoader

from cissreg.datasets.base_task_split import BaseTaskSplit
from cissreg.evaluation.metrics.incremental_metric import IncrementalMetricMixin
from cissreg.models.incremental_model import IncrementalModelMixin
from cissreg.registry import LOOPS, TASK_UTILS
from cissreg.utils.atomic_io import ATOMIC_LOCAL_BACKEND, atomic_write_text

from .incremental_state import IncrementalStateHook
from .stage_config import as_list, stage_optim_cfg, stage_scheduler_cfgs


@LOOPS.register_module()
class IncrementalLoop(BaseLoop):
    """Train a model on a sequence of tasks, each in one or more stages of epochs.

    A new incremental method is a model + hooks + a config, never a new loop. The loop knows
    nothing of prompts, heads or replay; it talks to four parties through base classes:

    * **Task split** (``train_cfg.task_split``, registered in ``TASK_UTILS``): a
      :class:`~cissreg.datasets.base_task_split.BaseTaskSplit` such as
      ``ClassIncrementalSplit`` or ``CISSTaskSplit``: the classes per task, ``task_info``
      for the model, each task's training subset and evaluation subset.
    * **Model** (the unwrapped ``runner.model``): an
      :class:`~cissreg.models.incremental_model.IncrementalModelMixin`: ``begin_task``,
      ``set_stage``, ``runs_stage`` and ``task_sizes`` (see there for when each runs).
    * **Hooks**: :class:`~cissreg.engine.hooks.IncrementalHook` events
      ``before_train_task(runner, task_id)``, ``before_train_stage(runner, task_id, stage)``,
      ``after_train_stage(runner, task_id, stage)``, ``after_train_task(runner, task_id)``.
    * **Metrics**: an
      :class:`~cissreg.evaluation.metrics.incremental_metric.IncrementalMetricMixin` keeps
      its state across tasks (saved in checkpoints) and adds a record to the results file.

    The split is stated once per config: either in ``task_split`` or, for a model sized at
    construction, by the model's ``task_sizes``, which the loop hands to a split config that
    gives none (and checks against one that does). The loop then hands it on: to the model in
    every ``task_info``, to hooks as :attr:`task_sizes`, to the metrics in
    ``dataset_meta['task_sizes']`` (as mmengine hands ``dataset_meta``).

    For every task: ``begin_task``; ``before_train_task``; for every stage with epochs:
    ``set_stage``, a loader over ``train_subset`` (built like the train dataloader config),
    ``before_train_stage``, a fresh optimizer built by ``runner.build_optim_wrapper`` (so
    ``constructor`` / ``paramwise_cfg`` work) from the top-level ``optim_wrapper`` merged with
    the stage's ``optim_wrapper``, schedulers from the stage's ``param_scheduler`` (else the
    top-level one; ``end`` and a cosine ``T_max`` default to the stage's epochs), the
    epochs, ``after_train_stage``; then ``after_train_task``, evaluation of the val (or test)
    loop on ``eval_subset``, the results file (json, written atomically: each task's metrics,
    plus ``incremental_record()`` of metrics that define it; metrics with ``state_dict`` /
    ``load_state_dict`` are saved in checkpoints and restored on resume) and the checkpoint
    ``task_{t}.pth``, which ``last_checkpoint`` then names.

    ``runner.epoch`` / ``runner.iter`` count over all tasks and stages, so epoch checkpoints
    resume in the middle of a stage: the checkpoint's ``meta['incremental']`` holds the task,
    stage, epoch within the stage, the per-task metrics and the metrics' own state. A bare
    ``--resume`` picks the newest of epoch and task checkpoints. Randomness is reseeded per
    epoch by ``ResumableRandomnessHook`` (registered by ``CissRunner``), not here.

    Args:
        runner (Runner): The runner.
        dataloader (dict): Train dataloader config over the full training set.
        task_split (dict): Config of the registered task split.
        max_epochs (int, optional): Epochs of the single stage when ``stages`` is not given.
        stages (list[dict] | dict[str, dict], optional): One dict per stage, in order (a
            dict of named stages keeps its order): ``max_epochs``, optional
            ``init_max_epochs`` and ``init_lr`` (task 0), ``optim_wrapper`` (merged over the
            top-level one) and ``param_scheduler``.
        num_tasks (int, optional): Stop after this many tasks. Defaults to all.
        results_file (str): Results json in the work dir. Defaults to
            ``'incremental_results.json'``.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, dict],
                 task_split: dict,
                 max_epochs: Optional[int] = None,
                 stages: Optional[Union[List[dict], Dict[str, dict]]] = None,
                 num_tasks: Optional[int] = None,
                 results_file: str = 'incremental_results.json') -> None:
        if not isinstance(dataloader, dict):
            raise TypeError('IncrementalLoop needs the train dataloader as a config dict')
        if (stages is None) == (max_epochs is None):
            raise ValueError('IncrementalLoop: give either max_epochs (one stage) or stages')
        self._loader_cfg = copy.deepcopy(dataloader)
        super().__init__(runner, copy.deepcopy(dataloader))
        self.dataset = self.dataloader.dataset
        self.task_split = TASK_UTILS.build(task_split)
        if not isinstance(self.task_split, BaseTaskSplit):
            raise TypeError(f'IncrementalLoop: train_cfg.task_split builds a '
                            f'{type(self.task_split).__name__}, not a BaseTaskSplit')
        if not isinstance(self.model, IncrementalModelMixin):
            raise TypeError(f'IncrementalLoop: the model {type(self.model).__name__} is not an '
                            'IncrementalModelMixin (cissreg.models.incremental_model): derive '
                            'it from IncrementalModelMixin and BaseModel')
        if isinstance(stages, dict):  # named stages: a child config changes one by its key
            stages = list(stages.values())
        self.stages = [dict(s) for s in (stages or [dict(max_epochs=max_epochs)])]
        self.task_sizes = self._resolve_task_sizes()
        total = len(self.task_sizes)
        self.num_tasks = min(num_tasks or total, total)
        self.results_file = results_file
        if not isinstance(runner.optim_wrapper, dict):
            raise TypeError('IncrementalLoop builds one optimizer per task and stage: give '
                            '`optim_wrapper` as a config dict')
        self._optim_cfg = copy.deepcopy(dict(runner.optim_wrapper))
        self._scheduler_cfg = as_list(copy.deepcopy(runner.param_schedulers))

        self._task, self._stage, self._stage_epoch = 0, 1, 0
        self._epoch, self._iter = 0, 0
        self._restored = False
        self._saving_task = False
        self._in_epoch_end = False
        self.history: Dict[int, Dict[str, float]] = {}
        self._max_epochs, self._max_iters = self._count_schedule()
        eval_classes = self._eval_loop().dataloader.dataset.metainfo.get('classes')
        train_classes = self.dataset.metainfo.get('classes')
        if eval_classes is not None and list(eval_classes) != list(train_classes or []):
            raise ValueError('IncrementalLoop: the train and evaluation datasets order the '
                             'classes differently (give both the same class_order_seed / '
                             f'class_order): {list(train_classes)} vs {list(eval_classes)}')
        runner.register_hook(IncrementalStateHook(self))

    # ------------------------------------------------------------------ properties
    @property
    def model(self):
        """The unwrapped model."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    # mmengine's loop protocol, read-only; epochs and iterations count over all tasks / stages
    max_epochs = property(attrgetter('_max_epochs'), doc='Epochs of the whole run.')
    max_iters = property(attrgetter('_max_iters'), doc='Iterations of the whole run.')
    epoch = property(attrgetter('_epoch'), doc='Epochs trained so far.')
    iter = property(attrgetter('_iter'), doc='Iterations trained so far.')
    task = property(attrgetter('_task'), doc='Current task index.')
    stage = property(attrgetter('_stage'), doc='Current stage (1-based).')

    # ------------------------------------------------------------------ schedule
    def _resolve_task_sizes(self) -> List[int]:
        """Classes per task: the split's, adopting the model's when the split gives none."""
        model_sizes = self.model.task_sizes
        if model_sizes is not None:
            self.task_split.adopt_task_sizes(model_sizes)
        split_sizes = list(self.task_split.task_sizes(self.dataset))
        if model_sizes is not None and list(model_sizes) != split_sizes:
            raise ValueError(f'IncrementalLoop: the task split {split_sizes} '
                             f"({self.task_split.__class__.__name__}) differs from the model's "
                             f'{list(model_sizes)}')
        return split_sizes

    def epochs_of(self, task: int, stage: int) -> int:
        """Epochs of ``stage`` (1-based) in ``task``; 0 for a stage that does not run."""
        cfg = self.stages[stage - 1]
        if not self.model.runs_stage(task, stage):
            return 0
        if task == 0 and cfg.get('init_max_epochs') is not None:
            return int(cfg['init_max_epochs'])
        return int(cfg['max_epochs'])

    def _batches_per_epoch(self, task: int) -> int:
        n = len(self.task_split.train_subset(self.dataset, task))
        per_rank = math.ceil(n / get_dist_info()[1])
        batch = self._loader_cfg['batch_size']
        if self._loader_cfg.get('drop_last', False):
            return per_rank // batch
        return math.ceil(per_rank / batch)

    def _count_schedule(self):
        epochs = iters = 0
        for t in range(self.num_tasks):
            for s in range(1, len(self.stages) + 1):
                e = self.epochs_of(t, s)
                epochs += e
                iters += e * self._batches_per_epoch(t)
        return epochs, iters

    # ------------------------------------------------------------------ building
    def task_loader(self, task: int, dataset=None) -> DataLoader:
        """A loader like the train dataloader config over task ``task``'s samples.

        Args:
            task (int): Task index.
            dataset (Dataset, optional): Take the subset of this dataset instead of the
                training set (e.g. the same samples with another pipeline).
        """
        cfg = copy.deepcopy(self._loader_cfg)
        cfg['dataset'] = self.task_split.train_subset(dataset or self.dataset, task)
        randomness = self.runner.cfg.get('randomness') or {}
        return self.runner.build_dataloader(
            cfg, seed=self.runner.seed, diff_rank_seed=randomness.get('diff_rank_seed', False))

    def _build_stage_optim(self, task: int, stage: int) -> None:
        stage_cfg = self.stages[stage - 1]
        runner = self.runner
        runner.optim_wrapper = runner.build_optim_wrapper(
            stage_optim_cfg(self._optim_cfg, stage_cfg, first_task=task == 0))
        schedulers = stage_scheduler_cfgs(self._scheduler_cfg, stage_cfg,
                                          self.epochs_of(task, stage))
        runner.param_schedulers = (runner.build_param_scheduler(schedulers)
                                   if schedulers else None)
        runner.optim_wrapper.initialize_count_status(runner.model, self._iter, self._max_iters)

    def _wrap_for_stage(self) -> None:
        """Re-wrap a distributed model after ``set_stage``: DDP records the parameters that
        require grad when it wraps the model, and each stage may train other ones."""
        runner = self.runner
        if is_model_wrapper(runner.model):
            runner.model = runner.wrap_model(runner.cfg.get('model_wrapper_cfg'),
                                             runner.model.module)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """Position, per-task metrics and metric states, plain types only."""
        stage_epoch = self._stage_epoch + int(self._in_epoch_end)
        return dict(task=self._task, stage=self._stage, stage_epoch=stage_epoch,
                    task_done=self._saving_task,
                    classes=list(self.dataset.metainfo.get('classes', [])),
                    history=[[t, self.history[t]] for t in sorted(self.history)],
                    metric_states=[m.state_dict() for m in self._stateful_metrics()])

    def restore(self, state: dict) -> None:
        """Rebuild the model and optimizer of the checkpoint's position (called before the
        runner loads the model, optimizer and scheduler states)."""
        classes = list(self.dataset.metainfo.get('classes', []))
        if state.get('classes') and list(state['classes']) != classes:
            raise ValueError('resume: the checkpoint was trained with another class order '
                             '(class_order_seed / class_order of the dataset)')
        task, stage = int(state['task']), int(state['stage'])
        self.history = {int(t): row for t, row in state.get('history', [])}
        for metric, metric_state in zip(self._stateful_metrics(), state['metric_states']):
            metric.load_state_dict(metric_state)
        for t in range(task + 1):  # a model that grows per task reaches the saved shapes
            self.model.begin_task(t, self.task_split.task_info(self.dataset, t))
        self.model.set_stage(stage)
        self.dataloader = self.task_loader(task)
        self._build_stage_optim(task, stage)
        if state['task_done']:
            self._task, self._stage, self._stage_epoch = task + 1, 1, 0
        else:
            self._task, self._stage = task, stage
            self._stage_epoch = int(state['stage_epoch'])
            self._restored = True
        self.runner.logger.info(f'IncrementalLoop: resuming at task {self._task}, stage '
                                f'{self._stage}, epoch {self._stage_epoch} of the stage')

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
        if not self._restored:
            model.begin_task(task, self.task_split.task_info(self.dataset, task))
        self.runner.call_hook('before_train_task', task_id=task)
        for stage in range(self._stage, len(self.stages) + 1):
            epochs = self.epochs_of(task, stage)
            if epochs == 0:
                continue
            self._stage = stage
            if not self._restored:
                model.set_stage(stage)
            self._wrap_for_stage()
            self.dataloader = self.task_loader(task)
            self.runner.call_hook('before_train_stage', task_id=task, stage=stage)
            if not self._restored:
                self._build_stage_optim(task, stage)
            self._restored = False
            while self._stage_epoch < epochs:
                self.run_epoch()
            self._stage_epoch = 0
            self.runner.call_hook('after_train_stage', task_id=task, stage=stage)
        self.runner.call_hook('after_train_task', task_id=task)
        self.history[task] = self._evaluate(task)
        self._write_results()
        self._save_task_checkpoint(task)

    def run_epoch(self) -> None:
        """One epoch of the current stage."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
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
        outputs = self.runner.model.train_step(data_batch,
                                               optim_wrapper=self.runner.optim_wrapper)
        self.runner.call_hook('after_train_iter', batch_idx=idx, data_batch=data_batch,
                              outputs=outputs)
        self._iter += 1

    def _save_task_checkpoint(self, task: int) -> None:
        runner = self.runner
        self._saving_task = True
        try:
            runner.save_checkpoint(runner.work_dir, f'task_{task}.pth',
                                   meta=dict(epoch=self._epoch, iter=self._iter),
                                   backend_args=dict(backend=ATOMIC_LOCAL_BACKEND))
        finally:
            self._saving_task = False
        if is_main_process():
            atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'),
                              osp.join(runner.work_dir, f'task_{task}.pth'))

    # ------------------------------------------------------------------ evaluation
    def _eval_loop(self):
        loop = self.runner.val_loop or self.runner.test_loop
        if loop is None:
            raise RuntimeError('IncrementalLoop evaluates after every task: configure val_* '
                               '(or test_*) dataloader, cfg and evaluator')
        return loop

    def _stateful_metrics(self) -> list:
        return [m for m in self._eval_loop().evaluator.metrics
                if isinstance(m, IncrementalMetricMixin)]

    def _evaluate(self, task: int) -> Dict[str, float]:
        loop = self._eval_loop()
        full_loader = loop.dataloader
        key = 'val_dataloader' if loop is self.runner.val_loop else 'test_dataloader'
        cfg = copy.deepcopy(dict(self.runner.cfg[key]))
        cfg['dataset'] = self.task_split.eval_subset(full_loader.dataset, task)
        loop.dataloader = self.runner.build_dataloader(cfg, seed=self.runner.seed)
        meta = loop.evaluator.dataset_meta
        loop.evaluator.dataset_meta = dict(meta or {}, task_sizes=list(self.task_sizes))
        try:
            metrics = loop.run()
        finally:
            loop.dataloader = full_loader
            loop.evaluator.dataset_meta = meta
        return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}

    def results(self) -> dict:
        """What the results file holds: per-task metrics and the metrics' own records."""
        out = dict(seed=self.runner.seed, num_tasks=self.num_tasks,
                   tasks=[dict(task=t, metrics=self.history[t]) for t in sorted(self.history)])
        for metric in self._stateful_metrics():
            out[type(metric).__name__] = metric.incremental_record()
        return out

    def _write_results(self) -> None:
        if is_main_process():
            atomic_write_text(osp.join(self.runner.work_dir, self.results_file),
                              json.dumps(self.results(), indent=2))
