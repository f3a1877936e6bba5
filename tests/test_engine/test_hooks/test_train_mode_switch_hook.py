"""TrainModeSwitchHook: the mode per epoch, and logs of this iteration's losses only."""
from types import SimpleNamespace

import torch
from mmengine.logging import MessageHub

from cissreg.engine.hooks import TrainModeSwitchHook


class _Model(torch.nn.Module):
    train_mode = 'supervised'


def test_stage_two_logs_drop_the_warm_up_caption_loss():
    hub = MessageHub.get_instance('test_train_mode_switch_stale_losses')
    runner = SimpleNamespace(model=_Model(), epoch=0, message_hub=hub)
    hook = TrainModeSwitchHook(switch_epoch=1, after='hard_ids', sync_teacher=False)
    hook.before_train_epoch(runner)
    warm = dict(loss=3.0, loss_caption=1.0, loss_mask=1.5, loss_dice=0.5)
    for key, value in warm.items():
        hub.update_scalar(f'train/{key}', value)
    hub.update_scalar('train/lr', 0.1)
    hook.after_train_iter(runner, 0, outputs=warm)
    assert 'train/loss_caption' in hub.log_scalars  # computed this iteration: kept
    runner.epoch = 1
    hook.before_train_epoch(runner)
    assert runner.model.train_mode == 'hard_ids'
    stage2 = dict(loss=1.8, loss_mask=1.4, loss_dice=0.4)
    for key, value in stage2.items():
        hub.update_scalar(f'train/{key}', value)
    hook.after_train_iter(runner, 1, outputs=stage2)
    keys = set(hub.log_scalars)
    assert 'train/loss_caption' not in keys
    assert {'train/loss', 'train/loss_mask', 'train/loss_dice', 'train/lr'} <= keys
