"""Optimizer wrappers that accumulate gradients to a nominal batch the way ultralytics does.

mmengine's ``OptimWrapper(accumulative_counts=k)`` divides each loss by ``k`` (the step sees
the mean of ``k`` batch gradients) and steps when ``iteration % k == 0``. ultralytics'
trainer does neither: the loss of every batch is back-propagated as is (its gradient is a
*sum* over the batch's images, see ``YOLOv8Head``), gradients add up over ``accumulate``
batches, and it steps when ``ni - last_opt_step >= accumulate`` (``ni`` counts batches from
0, ``last_opt_step`` starts at -1), with ``accumulate`` changing during warm-up. The wrappers
here do the same, so one optimizer step sees the summed gradient of about 64 images at any
batch size and GPU count, and the ultralytics learning rates apply unchanged.
"""
from typing import Dict, Optional, Tuple

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

from cissreg.registry import OPTIM_WRAPPERS

__all__ = ['NominalBatchOptimWrapper', 'NominalBatchAmpOptimWrapper', 'nominal_batch_scaling']


def nominal_batch_scaling(total_batch_size: int,
                          nominal_batch_size: int = 64) -> Tuple[int, float]:
    """ultralytics' ``accumulate`` and weight-decay factor for a total batch size.

    Args:
        total_batch_size (int): Images per iteration over all GPUs.
        nominal_batch_size (int): ultralytics ``nbs``. Defaults to 64.

    Returns:
        tuple[int, float]: ``accumulate = max(round(nbs / B), 1)`` and
        ``B * accumulate / nbs``.
    """
    accumulate = max(round(nominal_batch_size / total_batch_size), 1)
    return accumulate, total_batch_size * accumulate / nominal_batch_size


class _SumAccumulation:
    """ultralytics' accumulation rule on top of an mmengine optimizer wrapper.

    ``accumulative_counts`` is ultralytics' ``accumulate`` (settable through
    :attr:`accumulate`, e.g. by ``YOLOv8ParamSchedulerHook`` during warm-up). After
    :meth:`update_params`, :attr:`stepped` tells whether the optimizer stepped (the EMA of
    ultralytics updates on optimizer steps only).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._last_step = -1
        self.stepped = False

    @property
    def accumulate(self) -> int:
        """Number of batches whose gradients one optimizer step sums."""
        return self._accumulative_counts

    @accumulate.setter
    def accumulate(self, value: int) -> None:
        if int(value) < 1:
            raise ValueError(f'{type(self).__name__}: accumulate must be >= 1, got {value}')
        self._accumulative_counts = int(value)

    def configure_nominal_batch(self, total_batch_size: int,
                                nominal_batch_size: int = 64) -> None:
        """Set ``accumulate`` and the decay of groups with ``nominal_weight_decay`` for a batch.

        ``accumulate = max(round(nbs / B), 1)`` and ``weight_decay = nominal_weight_decay * B *
        accumulate / nbs`` (ultralytics), ``B`` the images per iteration over all GPUs.
        """
        self.accumulate, decay_scale = nominal_batch_scaling(total_batch_size, nominal_batch_size)
        for group in self.optimizer.param_groups:
            if 'nominal_weight_decay' in group:
                group['weight_decay'] = group['nominal_weight_decay'] * decay_scale

    def initialize_count_status(self, model: nn.Module, init_counts: int,
                                max_counts: int) -> None:
        """Start counting at ``init_counts``; the first (resumed) iteration steps.

        Like ultralytics (``last_opt_step = -1`` on every start), gradients accumulated before
        an interruption are not carried over.
        """
        self._inner_count = init_counts
        self._max_counts = max_counts
        self._last_step = init_counts - 1

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """Gradients are summed over the accumulated batches: no division."""
        return loss

    def should_update(self) -> bool:
        """After ``backward``: ``ni - last_step >= accumulate`` with ``ni = inner_count - 1``."""
        return self._inner_count - 1 - self._last_step >= self._accumulative_counts

    def should_sync(self) -> bool:
        """Before ``backward``: DDP synchronises only the batch whose backward will step."""
        return self._inner_count - self._last_step >= self._accumulative_counts

    def update_params(self, loss: torch.Tensor, step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        """Back-propagate ``loss``; step and zero the gradients when a nominal batch is full."""
        self.backward(self.scale_loss(loss))
        self.stepped = self.should_update()
        if self.stepped:
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))
            self._last_step = self._inner_count - 1


@OPTIM_WRAPPERS.register_module()
class NominalBatchOptimWrapper(_SumAccumulation, OptimWrapper):
    """fp32 :class:`mmengine.optim.OptimWrapper` with ultralytics' gradient accumulation.

    Args:
        optimizer (torch.optim.Optimizer): The optimizer.
        accumulative_counts (int): ``accumulate``: batches summed per step. Defaults to 1.
        clip_grad (dict, optional): As in mmengine (ultralytics: ``dict(max_norm=10.0)``),
            applied to the summed gradient before each step.
    """


@OPTIM_WRAPPERS.register_module()
class NominalBatchAmpOptimWrapper(_SumAccumulation, AmpOptimWrapper):
    """Mixed-precision (:class:`mmengine.optim.AmpOptimWrapper`) variant; GPU only.

    Gradients are unscaled before clipping and stepping, as in ultralytics' ``optimizer_step``.
    Arguments as :class:`NominalBatchOptimWrapper` plus mmengine's ``loss_scale``
    (default ``'dynamic'``) and ``dtype``.
    """
