"""``OptimStepEMAHook``: the EMA is updated on optimizer steps, as in ultralytics."""
from mmengine.hooks import EMAHook

from cissreg.registry import HOOKS

__all__ = ['OptimStepEMAHook']


@HOOKS.register_module()
class OptimStepEMAHook(EMAHook):
    """mmengine's ``EMAHook`` updating only after iterations whose optimizer stepped.

    ultralytics updates its ``ModelEMA`` in ``optimizer_step``, so with gradient accumulation
    the EMA's ramp (``tau`` = 2000 updates) counts optimizer steps of about 64 images, not
    batches. An optimizer wrapper without a ``stepped`` flag is treated as stepping every
    iteration. Arguments as ``EMAHook``, e.g. ``ema_type='ExpMomentumEMA', momentum=0.0001,
    tau=2000, update_buffers=True, strict_load=False, priority=49``.
    """

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Update the EMA if the optimizer stepped this iteration."""
        if getattr(runner.optim_wrapper, 'stepped', True):
            super().after_train_iter(runner, batch_idx, data_batch, outputs)
