"""Ends an epoch-based run early at ``stop_at_epoch`` with a full checkpoint (exit code 0)."""
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook

from cissreg.registry import HOOKS


@HOOKS.register_module()
class StopAtEpochHook(Hook):
    """Stop training after epoch ``stop_at_epoch`` (1-based count of finished epochs).

    The schedule keeps its ``max_epochs`` (learning-rate and gamma schedules stay those of
    the whole run); this hook saves ``epoch_{n}.pth`` with optimizer and scheduler state
    (unless the checkpoint hook has just written it) and sets the loop's ``stop_training``, so
    ``runner.train()`` returns normally. RNG state needs no saving: ``CissRunner`` reseeds
    every RNG from ``(seed, epoch)`` at each epoch start, so ``--resume`` from the file
    continues exactly as the uninterrupted run would. ``None`` does nothing.

    Args:
        stop_at_epoch (int, optional): Finished epochs after which to stop.
    """

    priority = 'LOWEST'  # after the checkpoint hook of the same epoch

    def __init__(self, stop_at_epoch: Optional[int] = None) -> None:
        self.stop_at_epoch = stop_at_epoch

    def after_train_epoch(self, runner) -> None:
        if self.stop_at_epoch is None or runner.epoch + 1 != self.stop_at_epoch:
            return
        name = f'epoch_{self.stop_at_epoch}.pth'
        if not osp.isfile(osp.join(runner.work_dir, name)):
            runner.save_checkpoint(runner.work_dir, name, save_optimizer=True,
                                   save_param_scheduler=True)
        runner.logger.info(f'stop_at_epoch={self.stop_at_epoch}: saved {name}, stopping')
        runner.train_loop.stop_training = True
