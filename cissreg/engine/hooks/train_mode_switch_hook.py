"""Switch a model's training mode (loss recipe) at an epoch: warm-up -> self-training."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from cissreg.registry import HOOKS


@HOOKS.register_module()
class TrainModeSwitchHook(Hook):
    """Before each training epoch set ``model.train_mode``: ``before`` until ``switch_epoch``,
    ``after`` from then on.

    With ``sync_teacher=True`` the model's EMA teacher is set to the student at the start of
    epoch ``switch_epoch`` (the self-training teacher starts from the warmed-up student; a
    run resumed later keeps the checkpoint's teacher).

    After each iteration the logged losses are those of this iteration only: a loss of the
    other mode (e.g. the warm-up's ``loss_caption``) is dropped from the message hub instead
    of being printed as a stale window average.

    Args:
        switch_epoch (int): First epoch (0-based) of the ``after`` mode.
        before (str): Mode before the switch. Defaults to ``'supervised'``.
        after (str): Mode from the switch on. Defaults to ``'pseudo_gumbel'``.
        sync_teacher (bool): Copy the student into ``model.teacher`` at the switch.
            Defaults to True.
    """

    priority = 'NORMAL'

    def __init__(self, switch_epoch: int, before: str = 'supervised',
                 after: str = 'pseudo_gumbel', sync_teacher: bool = True) -> None:
        self.switch_epoch = switch_epoch
        self.before = before
        self.after = after
        self.sync_teacher = sync_teacher

    def before_train_epoch(self, runner) -> None:
        """Set the mode of this epoch."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        mode = self.after if runner.epoch >= self.switch_epoch else self.before
        if mode != model.train_mode:
            print_log(f'epoch {runner.epoch + 1}: train_mode {model.train_mode!r} -> {mode!r}',
                      logger='current')
        model.train_mode = mode
        if self.sync_teacher and runner.epoch == self.switch_epoch:
            model.teacher.copy_from(model.student)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Drop logged ``train/loss*`` scalars that this iteration did not compute."""
        if not outputs:
            return
        scalars = runner.message_hub.log_scalars
        for key in [k for k in scalars if k.startswith('train/loss')]:
            if key[len('train/'):] not in outputs:
                del scalars[key]
