"""cissreg's Runner: crash-safe checkpoints, exact resumption, strict loading, CPU DDP."""
import inspect
import pickle
import re
from collections import OrderedDict
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.device import get_device
from mmengine.dist import is_distributed
from mmengine.hooks import CheckpointHook, EMAHook, Hook
from mmengine.model import is_model_wrapper, revert_sync_batchnorm
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
from torch import nn
from torch.utils.data import DataLoader

from cissreg.engine.hooks.resumable_randomness_hook import ResumableRandomnessHook
from cissreg.engine.optim.nominal_batch_constructor import fill_auto_cfg
from cissreg.models.distillers.export import STUDENT_PREFIX
from cissreg.models.incremental_model import IncrementalModelMixin
from cissreg.registry import MODEL_WRAPPERS, MODELS, RUNNERS
from cissreg.utils.seeding import worker_init_fn
from cissreg.utils.setup_env import register_all_modules
from cissreg.utils.state_dict_check import CheckpointMismatchError, compare_state_dict

from .checkpoint_checks import check_ema_state, check_optimizer_state, check_scheduler_state
from .config_check import check_config
from .config_text import MemoTextConfig
from .cpu_distributed import init_cpu_dist
from .saved_config import saved_config_value

_DEFAULT_REVISE_KEYS = ((r'^module\.', ''), )


@RUNNERS.register_module()
class CissRunner(Runner):
    """mmengine ``Runner`` with reliability guarantees for long runs.

    Built like mmengine's Runner (``runner_type = 'CissRunner'`` in the config). On top of it:

    * **Task split.** The ``task_sizes`` of an incremental model reach the val / test
      metrics in ``dataset_meta`` (so ``tools/test.py`` on a task checkpoint groups classes
      as training did).
    * **Set-up.** Building one calls :func:`cissreg.utils.register_all_modules` (without
      changing the default scope, which comes from the config's ``default_scope``).

    * **Atomic checkpoints** come from the config's ``AtomicCheckpointHook`` (see
      ``configs/_base_/default_runtime.py``); a config that asks for mmengine's plain
      ``CheckpointHook`` gets it, with a warning.
    * **Exact resumption.** RNGs are reseeded at every resumable position and data-loader
      workers are seeded per epoch (see ``ResumableRandomnessHook``); on resume the train
      sampler adopts the checkpoint's seed like the RNGs do. Bit-exact with
      ``persistent_workers=False`` (persistent workers' RNG cannot be rebuilt; a warning
      says so on resume).
    * **Strict loading.** ``load_from`` / ``resume`` refuse a checkpoint whose keys or shapes
      differ from the model, naming them; ``load_from_strict = False`` in the config loads
      the matching tensors only (with a warning listing the rest).
    * **Distributed training on CPUs.** With ``launcher='pytorch'`` or ``'slurm'`` and no
      GPU, a gloo process group is initialised here (mmengine's ``init_dist`` calls
      ``torch.cuda.set_device``) and the model is wrapped in DDP without ``device_ids``
      (SyncBN layers, GPU-only, become BatchNorm). On GPUs mmengine's nccl path is unchanged.
    """

    _resuming_optimizer = False  # set while resume() loads a checkpoint

    def __init__(self, *args, **kwargs) -> None:
        # builds through mmengine's root registries and checkpoint loading need it; idempotent
        register_all_modules(init_default_scope=False)
        super().__init__(*args, **kwargs)

    @classmethod
    def from_cfg(cls, cfg) -> 'CissRunner':
        check_config(cfg)  # warns on near-miss top-level keys; names bad keys of loops
        return super().from_cfg(MemoTextConfig.of(cfg))

    def setup_env(self, env_cfg: Dict) -> None:
        if self.distributed and not is_distributed() and not torch.cuda.is_available():
            dist_cfg = env_cfg.get('dist_cfg', {})
            init_cpu_dist(self.launcher, timeout=dist_cfg.get('timeout'),
                          port=dist_cfg.get('port'))
        super().setup_env(env_cfg)

    def build_model(self, model: Union[nn.Module, Dict]) -> nn.Module:
        """Build through cissreg's ``MODELS`` so config-key errors name the component."""
        if isinstance(model, dict):
            return MODELS.build(model)
        return super().build_model(model)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict], model: nn.Module) -> nn.Module:
        """mmengine's wrapping, with ``FiniteLossDistributedDataParallel`` (mmengine's DDP
        wrapper that can skip a non-finite step) as the default distributed wrapper and a
        gloo path for CPU-only distributed runs."""
        if self.distributed and model_wrapper_cfg is None and not is_model_wrapper(model):
            model_wrapper_cfg = dict(
                type='cissreg.FiniteLossDistributedDataParallel', broadcast_buffers=False,
                find_unused_parameters=self.cfg.get('find_unused_parameters', False))
        if not self.distributed or is_model_wrapper(model) or get_device() != 'cpu':
            return super().wrap_model(model_wrapper_cfg, model)
        model = revert_sync_batchnorm(model.to('cpu'))
        if self.cfg.get('sync_bn') is not None:
            self.logger.warning('sync_bn is ignored: SyncBatchNorm needs GPUs, and this '
                                'distributed run is on CPUs.')
        self.logger.info('Distributed training on CPUs: gloo process group, '
                         'DistributedDataParallel without device_ids.')
        model_wrapper_cfg = dict(model_wrapper_cfg)
        model_wrapper_cfg.setdefault('type', 'MMDistributedDataParallel')
        return MODEL_WRAPPERS.build(model_wrapper_cfg, default_args=dict(module=model))

    def build_val_loop(self, loop):
        """mmengine's ``build_val_loop``, handing the model's task split to the metrics."""
        return self._hand_task_sizes(super().build_val_loop(loop))

    def build_test_loop(self, loop):
        """mmengine's ``build_test_loop``, handing the model's task split to the metrics."""
        return self._hand_task_sizes(super().build_test_loop(loop))

    def _hand_task_sizes(self, loop):
        """Add an incremental model's ``task_sizes`` to the evaluator's ``dataset_meta``."""
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if isinstance(model, IncrementalModelMixin) and model.task_sizes is not None:
            meta = loop.evaluator.dataset_meta or {}
            loop.evaluator.dataset_meta = dict(meta, task_sizes=list(model.task_sizes))
        return loop

    def save_checkpoint(self, *args, **kwargs) -> None:
        """mmengine's, recording in ``meta['optimizer_types']`` the class of each built
        optimizer (read back by the resume check: a loop may build a stage's own optimizer)."""
        bound = inspect.signature(Runner.save_checkpoint).bind(self, *args, **kwargs)
        meta = dict(bound.arguments.get('meta') or {})
        wrapper = self.optim_wrapper
        if isinstance(wrapper, OptimWrapperDict):
            meta['optimizer_types'] = {name: type(w.optimizer).__name__
                                       for name, w in wrapper.optim_wrappers.items()}
        elif isinstance(wrapper, OptimWrapper):
            meta['optimizer_types'] = {'': type(wrapper.optimizer).__name__}
        bound.arguments['meta'] = meta
        return Runner.save_checkpoint(*bound.args, **bound.kwargs)

    def build_optim_wrapper(self, optim_wrapper):
        """mmengine's, with ``optimizer=dict(type='auto')``'s ``auto_cfg`` completed from the
        run: ``train_cfg.max_epochs`` (the built loop), the train dataset's size and the
        head's ``num_classes`` (see :func:`~cissreg.engine.optim.fill_auto_cfg`)."""
        if isinstance(optim_wrapper, dict):
            optim_wrapper = fill_auto_cfg(optim_wrapper, **self._auto_cfg_values())
        return super().build_optim_wrapper(optim_wrapper)

    def _auto_cfg_values(self) -> Dict[str, Optional[int]]:
        """``max_epochs``, ``num_images`` and ``num_classes`` of this run (None if unknown)."""
        loop = self._train_loop
        values = dict(max_epochs=None, num_images=None, num_classes=None)
        if isinstance(loop, dict):
            values['max_epochs'] = loop.get('max_epochs')
        elif loop is not None:
            values['max_epochs'] = getattr(loop, 'max_epochs', None)
            values['num_images'] = len(loop.dataloader.dataset)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        model = getattr(model, 'student', model)
        values['num_classes'] = getattr(getattr(model, 'bbox_head', None), 'num_classes', None)
        return values

    @staticmethod
    def build_dataloader(dataloader: Union[DataLoader, Dict],
                         seed: Optional[int] = None,
                         diff_rank_seed: bool = False) -> DataLoader:
        """mmengine's ``build_dataloader`` with per-epoch worker seeding.

        mmengine's default ``worker_init_fn`` seeds worker ``i`` with ``seed + i`` every time
        workers start, so non-persistent workers repeat the same augmentations each epoch; it
        is replaced by one seeded from torch's per-iterator worker seed. A ``worker_init_fn``
        set in the config is kept.
        """
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        init_fn = loader.worker_init_fn
        if isinstance(init_fn, partial) and init_fn.func is mmengine_worker_init_fn:
            loader.worker_init_fn = partial(
                worker_init_fn,
                rank=init_fn.keywords['rank'],
                disable_subprocess_warning=init_fn.keywords.get('disable_subprocess_warning',
                                                                False))
        return loader

    def register_hooks(self,
                       default_hooks: Optional[Dict[str, Union[Hook, Dict]]] = None,
                       custom_hooks: Optional[List[Union[Hook, Dict]]] = None) -> None:
        super().register_hooks(default_hooks, custom_hooks)
        self.register_hook(ResumableRandomnessHook())
        for hook in self.hooks:
            if isinstance(hook, EMAHook):
                hook.after_train_iter = _unless_step_skipped(hook.after_train_iter)
        plain = [hook for hook in self.hooks if type(hook) is CheckpointHook]
        if plain:
            self.logger.warning(
                "default_hooks.checkpoint is mmengine's CheckpointHook, whose writes a kill can "
                'corrupt or lose; use type="AtomicCheckpointHook" (same arguments), '
                'as configs/_base_/default_runtime.py does.')

    def load_checkpoint(self,
                        filename: str,
                        map_location: Union[str, Callable] = 'cpu',
                        strict: Optional[bool] = None,
                        revise_keys: Sequence[Tuple[str, str]] = _DEFAULT_REVISE_KEYS) -> dict:
        """Load model weights from ``filename`` (safe ``weights_only`` loading).

        Args:
            filename (str): Checkpoint path.
            map_location (str | callable): As in ``torch.load``. Defaults to ``'cpu'``.
            strict (bool, optional): Refuse any key / shape difference. Defaults to the
                config's ``load_from_strict`` (True when unset).
            revise_keys (sequence of (pattern, replacement)): Regex renames applied to the
                checkpoint keys first. Defaults to stripping a ``module.`` prefix.

        Returns:
            dict: The loaded checkpoint.

        Raises:
            CheckpointMismatchError: ``strict`` and the checkpoint (model or EMA weights)
                does not fit the model; not ``strict`` and no tensor matches; or, when
                resuming, its optimizer state does not fit
                the config's optimizer.
        """
        if strict is None:
            strict = self.cfg.get('load_from_strict', True)
        checkpoint = _load_checkpoint(filename, map_location=map_location)
        if not isinstance(checkpoint, dict):
            raise CheckpointMismatchError(
                f'checkpoint {filename} holds a {type(checkpoint).__name__}, not a state dict '
                'or a dict with "state_dict"')
        model = self.model.module if is_model_wrapper(self.model) else self.model
        mismatch = compare_state_dict(
            model, _revise_keys(checkpoint.get('state_dict', checkpoint), revise_keys))
        if mismatch and strict:
            raise CheckpointMismatchError(
                f'checkpoint {filename} does not fit the model '
                f'{type(model).__name__}:\n{mismatch.describe()}\nSet load_from_strict = False '
                'in the config to load only the tensors that match.'
                + _distiller_hint(filename, mismatch))
        if mismatch and not strict:
            _refuse_no_match(filename, model, checkpoint, mismatch)
        check_ema_state(filename, checkpoint, model, strict, self.logger)
        if self._resuming_optimizer:
            self.optim_wrapper = self.build_optim_wrapper(self.optim_wrapper)
            check_optimizer_state(filename, checkpoint, self.optim_wrapper)
        # hooks (EMAHook swaps the EMA and model weights) run after the checks, before loading
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        state_dict = _revise_keys(checkpoint.get('state_dict', checkpoint), revise_keys)
        if mismatch:
            self.logger.warning(f'Partial load of {filename} (load_from_strict=False); these '
                                f'tensors keep their initial values:\n{mismatch.describe()}')
            for key, _, _ in mismatch.shapes:
                del state_dict[key]
        load_state_dict(model, state_dict, strict=False, logger=self.logger)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def resume(self,
               filename: str,
               resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        """mmengine's ``resume``, refusing an optimizer state that does not fit (named).

        ``resume_optimizer = False`` in the config loads the weights, counters and schedules
        and starts a fresh optimizer (e.g. after switching SGD <-> AdamW).
        """
        resume_optimizer = resume_optimizer and self.cfg.get('resume_optimizer', True)
        resume_param_scheduler = (resume_param_scheduler
                                  and self.cfg.get('resume_param_scheduler', True))
        self._resuming_optimizer = resume_optimizer
        try:
            if map_location == 'default':
                map_location = get_device()
            checkpoint = self.load_checkpoint(filename, map_location=map_location)
        finally:
            self._resuming_optimizer = False
        self._restore_state(filename, checkpoint, resume_optimizer, resume_param_scheduler)
        if not resume_optimizer:
            self.logger.warning(f'resume_optimizer = False: resumed {filename} with a fresh '
                                'optimizer state.')
        self._adopt_seed_in_train_sampler()
        loader = self.train_dataloader
        if loader.num_workers > 0 and loader.persistent_workers:
            self.logger.warning(
                'persistent_workers=True: data workers keep their random state across epochs, '
                'which a resumed run cannot rebuild, so augmentations after resuming differ '
                'from the uninterrupted run. Use persistent_workers=False for exact resumption.')

    def _restore_state(self, filename: str, checkpoint: dict, resume_optimizer: bool,
                       resume_param_scheduler: bool) -> None:
        """mmengine's ``Runner.resume`` after loading, reading the saved config as data.

        mmengine evaluates the config text stored in the checkpoint (``Config.fromstring``)
        to compare GPU counts; whoever wrote the checkpoint controls that text, so here it is
        only parsed for the literal ``gpu_ids`` (:mod:`.saved_config`). The scheduler states
        are checked against the config's schedulers before they are loaded.
        """
        meta = checkpoint['meta']
        self.train_loop._epoch = meta['epoch']
        self.train_loop._iter = meta['iter']
        previous_gpu_ids = saved_config_value(meta.get('config'), ('gpu_ids', ))
        if (isinstance(previous_gpu_ids, (list, tuple)) and len(previous_gpu_ids) > 0
                and len(previous_gpu_ids) != self._world_size):
            if not (self.auto_scale_lr or {}).get('enable', False):
                raise RuntimeError(
                    f'{filename} was trained on {len(previous_gpu_ids)} GPUs and this run has '
                    f'{self._world_size} processes: the learning rate would not fit. Set '
                    'auto_scale_lr = dict(enable=True, base_batch_size=...) in the config.')
            self.logger.info('The number of GPUs differs from the resumed checkpoint; the '
                             f'learning rate is scaled by auto_scale_lr={self.auto_scale_lr}.')
        resumed_seed = meta.get('seed', None)
        current_seed = self._randomness_cfg.get('seed')
        if resumed_seed is not None and resumed_seed != current_seed:
            if current_seed is not None:
                self.logger.warning(f'The random seed in the checkpoint ({resumed_seed}) differs '
                                    f'from randomness.seed ({current_seed}); using '
                                    f'{resumed_seed}.')
            self._randomness_cfg.update(seed=resumed_seed)
            self.set_randomness(**self._randomness_cfg)
        dataset_meta = getattr(self.train_dataloader.dataset, 'metainfo', None)
        if pickle.dumps(meta.get('dataset_meta', None)) != pickle.dumps(dataset_meta):
            self.logger.warning(f'The dataset metainfo stored in {filename} differs from the '
                                'training dataset\'s; check the checkpoint and the dataset.')
        self.message_hub.load_state_dict(checkpoint['message_hub'])
        if 'optimizer' in checkpoint and resume_optimizer:
            # load_checkpoint built the optimizer and checked the state against it
            self.optim_wrapper.load_state_dict(checkpoint['optimizer'])
        if resume_param_scheduler and self.param_schedulers is None:
            self.logger.warning('resume_param_scheduler is True but the config has no '
                                'param_scheduler: no scheduler state is resumed.')
            resume_param_scheduler = False
        if 'param_schedulers' in checkpoint and resume_param_scheduler:
            self.param_schedulers = self.build_param_scheduler(self.param_schedulers)
            pairs = check_scheduler_state(filename, checkpoint, self.param_schedulers,
                                          self.logger)
            for scheduler, saved in pairs:
                scheduler.load_state_dict(saved)
        self._has_loaded = True
        self.logger.info(f'resumed epoch: {self.epoch}, iter: {self.iter}')

    def _adopt_seed_in_train_sampler(self) -> None:
        """Give the train sampler the (possibly checkpoint-restored) run seed.

        mmengine builds the sampler with the start-up seed before ``resume`` restores the
        checkpoint's one (when the config has ``seed=None``). Samplers seeded by the config
        itself or per rank (``diff_rank_seed``) are left alone.
        """
        if self._randomness_cfg.get('diff_rank_seed', False):
            return
        sampler_cfg = (self.cfg.get('train_dataloader') or {}).get('sampler')
        if isinstance(sampler_cfg, dict) and sampler_cfg.get('seed') is not None:
            return
        loader = self.train_dataloader
        for sampler in (loader.sampler, getattr(loader.batch_sampler, 'sampler', None)):
            if hasattr(sampler, 'seed'):
                sampler.seed = self.seed


def _refuse_no_match(filename: str, model: nn.Module, checkpoint: dict, mismatch) -> None:
    """``load_from_strict=False`` that would load nothing: refuse instead of testing (or
    training from) random weights with a success exit code."""
    state = checkpoint.get('state_dict', checkpoint)
    matched = sum(1 for key in model.state_dict() if not key.endswith('num_batches_tracked')
                  and key not in mismatch.missing
                  and key not in {k for k, _, _ in mismatch.shapes})
    if matched == 0:
        raise CheckpointMismatchError(
            f'checkpoint {filename}: none of its {len(state)} entries matches a tensor of the '
            f'model {type(model).__name__} (load_from_strict=False loads matching tensors '
            f'only, so every weight would keep its initial value):\n{mismatch.describe()}')


def _unless_step_skipped(after_train_iter: Callable) -> Callable:
    """An EMA hook's ``after_train_iter`` that leaves the EMA alone after a skipped step.

    ``FiniteLossModel(skip_nonfinite=True)`` skips a step with a non-finite loss or gradient
    and sets the optimizer wrapper's ``skipped_nonfinite``; the EMA then neither averages the
    unchanged weights once more nor counts the step.
    """
    def guarded(runner, *args, **kwargs) -> None:
        if not getattr(runner.optim_wrapper, 'skipped_nonfinite', False):
            after_train_iter(runner, *args, **kwargs)
    return guarded


def _distiller_hint(filename: str, mismatch) -> str:
    """A pointer to the student exporter when a distillation checkpoint meets a plain model."""
    if not any(key.startswith(STUDENT_PREFIX) for key in mismatch.unexpected):
        return ''
    return (f'\n{filename} looks like a distillation checkpoint ({STUDENT_PREFIX}* keys): export '
            'its student first with python tools/model_converters/export_student.py '
            f'{filename} STUDENT.pth, then load STUDENT.pth.')


def _revise_keys(state_dict: dict, revise_keys: Sequence[Tuple[str, str]]) -> dict:
    """Apply regex key renames, keeping the ``_metadata`` that BatchNorm versioning reads."""
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    for pattern, replacement in revise_keys:
        state_dict = OrderedDict((re.sub(pattern, replacement, k), v)
                                 for k, v in state_dict.items())
    state_dict = OrderedDict(state_dict)
    state_dict._metadata = metadata
    return state_dict
