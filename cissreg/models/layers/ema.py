"""YOLOv8's exponential moving average of the model weights, as an mmengine averaged model."""
import math
from typing import Optional

import torch
from mmengine.model import ExponentialMovingAverage
from torch import Tensor, nn

from cissreg.registry import MODELS

__all__ = ['ExpMomentumEMA']


@MODELS.register_module()
class ExpMomentumEMA(ExponentialMovingAverage):
    r"""EMA with YOLOv8's ramped decay, for mmengine's ``EMAHook``.

    At the ``t``-th update (``t = 1, 2, ...``) every floating-point entry of the averaged state is

    .. math::

        d_t = (1 - \text{momentum}) (1 - e^{-t / \tau}), \qquad
        \bar{x}_t = d_t \bar{x}_{t-1} + (1 - d_t) x_t,

    starting from :math:`\bar{x}_0` = a copy of the model when the EMA is built (``EMAHook``
    builds it in ``before_run`` and copies a ``load_from`` checkpoint into it; the weight left on
    :math:`\bar{x}_0` after ``t`` updates is :math:`\prod_{i \le t} d_i`, about 5e-7 after two
    updates with the defaults).

    mmengine's ``momentum`` is the weight of the *new* value, so ``momentum = 1 - decay``: the
    ultralytics defaults ``ModelEMA(model, decay=0.9999, tau=2000)`` are ``momentum=0.0001,
    tau=2000`` here, and with ``interval=1`` and ``update_buffers=True`` the averaged weights
    equal ultralytics' ``ModelEMA.ema`` after the same updates (the ramp makes the first updates
    nearly copies of the model, so unlike mmengine's base class the first update is not a plain
    copy). Integer buffers (BN ``num_batches_tracked``) are copied from the model at each update
    (ultralytics leaves them at their initial value).

    Used through mmengine's hook, which swaps the averaged weights in for validation / test and
    saves them in checkpoints (``ema_state_dict``, and as ``state_dict`` for deployment)::

        dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, tau=2000,
             update_buffers=True, strict_load=False, priority=49)

    Args:
        model (nn.Module): The model to average.
        momentum (float): ``1 - decay``, the asymptotic weight of the new value. Defaults to
            0.0001 (decay 0.9999).
        tau (float): Ramp time constant, in updates. Defaults to 2000.
        interval (int): Average every ``interval`` calls of :meth:`update_parameters` (the
            ``t`` above counts averaging updates, not calls). Defaults to 1.
        device (torch.device, optional): Device of the averaged copy. Defaults to None (the
            model's device).
        update_buffers (bool): Average the floating buffers (BN running mean / var) too, as
            YOLOv8 does; if False they are copied from the model. Defaults to True.
    """

    def __init__(self,
                 model: nn.Module,
                 momentum: float = 0.0001,
                 tau: float = 2000,
                 interval: int = 1,
                 device: Optional[torch.device] = None,
                 update_buffers: bool = True) -> None:
        super().__init__(
            model=model,
            momentum=momentum,
            interval=interval,
            device=device,
            update_buffers=update_buffers)
        if tau <= 0:
            raise ValueError(f'ExpMomentumEMA: tau must be > 0, got {tau}')
        self.tau = tau

    def decay(self, updates: int) -> float:
        """Decay ``d_t`` of the ``updates``-th averaging update.

        Args:
            updates (int): 1-based index of the averaging update.

        Returns:
            float: ``(1 - momentum) * (1 - exp(-updates / tau))``.
        """
        return (1 - self.momentum) * (1 - math.exp(-updates / self.tau))

    def avg_func(self, averaged_param: Tensor, source_param: Tensor, steps: int) -> None:
        """Average one tensor in place: ``averaged = d * averaged + (1 - d) * source``.

        Args:
            averaged_param (Tensor): The averaged tensor, updated in place.
            source_param (Tensor): The model's tensor, same shape.
            steps (int): 1-based index of the averaging update (``t``).
        """
        d = self.decay(steps)
        averaged_param.mul_(d)
        averaged_param.add_((1 - d) * source_param)

    def update_parameters(self, model: nn.Module) -> None:
        """Count one call and, every ``interval`` calls, average the model into the copy.

        Args:
            model (nn.Module): The trained model (unwrapped), same architecture as the copy.
        """
        self.steps += 1
        steps = int(self.steps)
        src_state = model.state_dict() if self.update_buffers else dict(model.named_parameters())
        if steps % self.interval == 0:
            updates = steps // self.interval
            for name, avg in self.avg_parameters.items():
                src = src_state[name].detach().to(avg.device)
                if avg.dtype.is_floating_point:
                    self.avg_func(avg.data, src, updates)
                else:
                    avg.data.copy_(src)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.data.copy_(b_src.data.to(b_avg.device))
