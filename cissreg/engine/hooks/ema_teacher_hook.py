"""When the EMA teacher of a self-training model is updated, and with which momentum."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from cissreg.registry import HOOKS


@HOOKS.register_module()
class EMATeacherHook(Hook):
    """After every ``interval`` training iterations, ``model.teacher.update(model.student, m)``.

    The momentum (teacher weight) ramps linearly during warm-up:
    ``m_t = momentum * min(1, t / warmup_iters)`` at the ``t``-th update (1-based), so the
    first updates nearly copy the student; ``warmup_iters=0`` uses ``momentum`` throughout.
    ``t`` is the teacher's ``num_updates`` buffer + 1, saved in checkpoints.

    Args:
        momentum (float): Teacher weight ``m`` in ``m * teacher + (1 - m) * student``.
            Defaults to 0.999.
        warmup_iters (int): Length of the momentum ramp in updates. Defaults to 0.
        interval (int): Update every ``interval`` iterations. Defaults to 1.
        begin_epoch (int): No updates before this epoch. Defaults to 0.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, momentum: float = 0.999, warmup_iters: int = 0, interval: int = 1,
                 begin_epoch: int = 0) -> None:
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'EMATeacherHook: momentum must be in [0, 1], got {momentum}')
        self.momentum = momentum
        self.warmup_iters = warmup_iters
        self.interval = interval
        self.begin_epoch = begin_epoch

    def momentum_at(self, update: int) -> float:
        """Momentum of the ``update``-th update (1-based)."""
        if self.warmup_iters <= 0:
            return self.momentum
        return self.momentum * min(1.0, update / self.warmup_iters)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Update the teacher."""
        if runner.epoch < self.begin_epoch or not self.every_n_train_iters(runner, self.interval):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        teacher = model.teacher
        teacher.update(model.student, self.momentum_at(int(teacher.num_updates) + 1))
