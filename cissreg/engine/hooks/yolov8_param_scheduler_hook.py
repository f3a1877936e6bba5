"""``YOLOv8ParamSchedulerHook``: ultralytics' warm-up and lr decay, iteration by iteration."""
import math
from typing import Callable, Optional

import numpy as np
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log

from cissreg.registry import HOOKS

__all__ = ['YOLOv8ParamSchedulerHook', 'ultralytics_lr_lambda']


def ultralytics_lr_lambda(scheduler_type: str, lr_factor: float,
                          max_epochs: int) -> Callable[[int], float]:
    """ultralytics' per-epoch lr factor ``lf(epoch)`` (``cos_lr`` False / True).

    Linear: ``max(1 - e / E, 0) * (1 - lrf) + lrf``; cosine (``one_cycle``):
    ``max((1 - cos(e * pi / E)) / 2, 0) * (lrf - 1) + 1``.
    """
    if scheduler_type == 'linear':
        return lambda e: max(1 - e / max_epochs, 0) * (1.0 - lr_factor) + lr_factor
    if scheduler_type == 'cosine':
        return lambda e: max((1 - math.cos(e * math.pi / max_epochs)) / 2, 0) * (
            lr_factor - 1) + 1
    raise ValueError(f"scheduler_type must be 'linear' or 'cosine', got {scheduler_type!r}")


@HOOKS.register_module()
class YOLOv8ParamSchedulerHook(Hook):
    """Set lr, momentum and gradient accumulation before every iteration as ultralytics.

    With ``ni`` the global iteration, ``e`` the epoch, ``nb`` iterations per epoch and
    ``nw = max(round(warmup_epochs * nb), min_warmup_iters)``:

    * ``ni <= nw`` (warm-up, linear in ``ni``): the ``'bias'`` parameter group's lr goes from
      ``warmup_bias_lr`` (or the group's own ``warmup_bias_lr`` key, which
      ``optimizer='auto'`` sets to 0) down to ``initial_lr * lf(e)``, the other groups' from 0
      up to it; momentum (SGD) goes from ``warmup_momentum`` up to the optimizer's momentum;
      the optimizer wrapper's ``accumulate`` goes from 1 up to ``round(nbs / B)``
      (``B`` = total batch);
    * afterwards every group's lr is ``initial_lr * lf(e)`` (:func:`ultralytics_lr_lambda`).

    When training starts it also sets a nominal-batch optimizer wrapper's ``accumulate`` and
    weight decay from the train dataloader's batch size and the world size, so a config or
    ``--cfg-options`` changing the batch size needs nothing else.

    It replaces mmengine's ``ParamSchedulerHook`` (``default_hooks.param_scheduler``) and owns
    lr / momentum: the config's ``param_scheduler`` must be None. ``max_epochs`` defaults to
    the train loop's, so a child config changes it in ``train_cfg`` only. Everything is a
    function of the iteration, so resuming gives the same values.

    Args:
        scheduler_type (str): ``'linear'`` (ultralytics default) or ``'cosine'``
            (``cos_lr=True``). Defaults to ``'linear'``.
        lr_factor (float): ultralytics ``lrf``: final lr / initial lr. Defaults to 0.01.
        warmup_epochs (float): Defaults to 3.0.
        min_warmup_iters (int): Defaults to 100.
        warmup_bias_lr (float): Defaults to 0.1.
        warmup_momentum (float): Defaults to 0.8.
        nominal_batch_size (int): ultralytics ``nbs``, for the accumulation ramp. Defaults
            to 64.
        max_epochs (int, optional): Defaults to None (the train loop's ``max_epochs``).
    """

    priority = 'LOW'

    def __init__(self,
                 scheduler_type: str = 'linear',
                 lr_factor: float = 0.01,
                 warmup_epochs: float = 3.0,
                 min_warmup_iters: int = 100,
                 warmup_bias_lr: float = 0.1,
                 warmup_momentum: float = 0.8,
                 nominal_batch_size: int = 64,
                 max_epochs: Optional[int] = None) -> None:
        ultralytics_lr_lambda(scheduler_type, lr_factor, 1)  # validates scheduler_type
        self.scheduler_type = scheduler_type
        self.lr_factor = lr_factor
        self.warmup_epochs = warmup_epochs
        self.min_warmup_iters = min_warmup_iters
        self.warmup_bias_lr = warmup_bias_lr
        self.warmup_momentum = warmup_momentum
        self.nominal_batch_size = nominal_batch_size
        self.max_epochs = max_epochs
        self._lf: Optional[Callable[[int], float]] = None

    def before_train(self, runner) -> None:
        """Check the config, record each group's initial lr / momentum, build ``lf``."""
        if runner.param_schedulers:
            raise ValueError('YOLOv8ParamSchedulerHook sets lr and momentum itself: set '
                             '`param_scheduler = None` in the config')
        wrapper = runner.optim_wrapper
        if hasattr(wrapper, 'configure_nominal_batch'):  # accumulate / decay for the real batch
            total_batch = runner.train_dataloader.batch_size * get_world_size()
            wrapper.configure_nominal_batch(total_batch, self.nominal_batch_size)
            decays = [g['weight_decay'] for g in wrapper.optimizer.param_groups
                      if 'nominal_weight_decay' in g]
            print_log(f'nominal batch {self.nominal_batch_size}: {total_batch} images per '
                      f'iteration, accumulate {wrapper.accumulate} after warm-up, weight decay '
                      f"{', '.join(f'{d:.6g}' for d in decays) or 'none'}", logger='current')
        max_epochs = self.max_epochs or runner.max_epochs
        self._lf = ultralytics_lr_lambda(self.scheduler_type, self.lr_factor, max_epochs)
        for group in wrapper.optimizer.param_groups:
            group.setdefault('initial_lr', group['lr'])
            if 'momentum' in group:
                group.setdefault('initial_momentum', group['momentum'])

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """Set this iteration's lr, momentum and accumulation."""
        ni, epoch = runner.iter, runner.epoch
        nb = len(runner.train_dataloader)
        nw = max(round(self.warmup_epochs * nb), self.min_warmup_iters) \
            if self.warmup_epochs > 0 else -1
        total_batch = runner.train_dataloader.batch_size * get_world_size()
        target = self.nominal_batch_size / total_batch
        optim_wrapper = runner.optim_wrapper
        factor = self._lf(epoch)
        for group in optim_wrapper.optimizer.param_groups:
            final_lr = group['initial_lr'] * factor
            if ni <= nw:
                start = group.get('warmup_bias_lr', self.warmup_bias_lr) \
                    if group.get('name') == 'bias' else 0.0
                group['lr'] = float(np.interp(ni, [0, nw], [start, final_lr]))
                if 'momentum' in group:
                    group['momentum'] = float(np.interp(
                        ni, [0, nw], [self.warmup_momentum, group['initial_momentum']]))
            else:
                group['lr'] = final_lr
                if 'momentum' in group:
                    group['momentum'] = group['initial_momentum']
        if hasattr(optim_wrapper, 'accumulate'):
            position = min(ni, nw) if nw > 0 else 1
            optim_wrapper.accumulate = max(1, int(np.interp(position, [0, max(nw, 1)],
                                                            [1, target]).round()))
