"""``YOLOv8ParamSchedulerHook`` + nominal-batch wrapper + ``OptimStepEMAHook`` through a real
mmengine Runner, against ultralytics' warm-up formula re-implemented here."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import cissreg.engine  # noqa: F401

LR0, MOMENTUM, BATCH, SIZE, EPOCHS = 0.01, 0.937, 2, 80, 8


class _Net(BaseModel):
    """Linear -> BN -> Linear regression on [B, 3] vectors."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.bn, self.fc2 = nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)

    def forward(self, inputs, targets, mode='tensor'):
        out = self.fc2(torch.relu(self.bn(self.fc1(inputs)))).squeeze(1)
        return dict(loss=F.mse_loss(out, targets)) if mode == 'loss' else out


class _Data(torch.utils.data.Dataset):

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(SIZE, 3, generator=g)
        self.y = self.x.sum(1)

    def __len__(self) -> int:
        return SIZE

    def __getitem__(self, i):
        return dict(inputs=self.x[i], targets=self.y[i])


class _Recorder(Hook):
    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.rows = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        wrapper = runner.optim_wrapper
        self.rows.append(dict(
            epoch=runner.epoch,
            lr=[g['lr'] for g in wrapper.optimizer.param_groups],
            momentum=[g['momentum'] for g in wrapper.optimizer.param_groups],
            accumulate=wrapper.accumulate, stepped=wrapper.stepped))


def _run(tmp_path, scheduler_type):
    recorder = _Recorder()
    runner = Runner(
        model=_Net(), work_dir=str(tmp_path), default_scope='cissreg',
        train_dataloader=dict(dataset=_Data(), batch_size=BATCH, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=EPOCHS),
        optim_wrapper=dict(constructor='NominalBatchOptimWrapperConstructor',  # batch: loader
                           optimizer=dict(type='SGD', lr=LR0, momentum=MOMENTUM, nesterov=True,
                                          weight_decay=5e-4)),
        param_scheduler=None,
        default_hooks=dict(param_scheduler=dict(type='YOLOv8ParamSchedulerHook',
                                                scheduler_type=scheduler_type),
                           checkpoint=None, logger=dict(type='LoggerHook', interval=1000),
                           ema=dict(type='OptimStepEMAHook', ema_type='ExpMomentumEMA',
                                    momentum=0.0001, tau=2000, update_buffers=True)),
        custom_hooks=[recorder], log_level='WARNING')
    runner.train()
    ema_hook = next(h for h in runner.hooks if type(h).__name__ == 'OptimStepEMAHook')
    return recorder.rows, int(ema_hook.ema_model.steps)


def _ultralytics_reference(n_iters, nb, scheduler_type):
    """ultralytics 8.3.40 BaseTrainer._do_train: warm-up interpolation and LambdaLR per epoch."""
    if scheduler_type == 'linear':
        lf = lambda x: max(1 - x / EPOCHS, 0) * (1.0 - 0.01) + 0.01  # noqa: E731
    else:
        lf = lambda x: max((1 - math.cos(x * math.pi / EPOCHS)) / 2, 0) * (0.01 - 1) + 1  # noqa
    nw = max(round(3 * nb), 100)
    lrs, moms, accs = [], [], []
    lr, mom, accumulate = [LR0] * 3, [MOMENTUM] * 3, max(round(64 / BATCH), 1)
    for ni in range(n_iters):
        epoch = ni // nb
        if ni % nb == 0:  # scheduler.step() at the epoch start
            lr = [LR0 * lf(epoch)] * 3
        if ni <= nw:
            xi = [0, nw]
            accumulate = max(1, int(np.interp(ni, xi, [1, 64 / BATCH]).round()))
            lr = [np.interp(ni, xi, [0.1 if j == 0 else 0.0, LR0 * lf(epoch)]) for j in range(3)]
            mom = [np.interp(ni, xi, [0.8, MOMENTUM])] * 3
        lrs.append(list(lr))
        moms.append(list(mom))
        accs.append(accumulate)
    return np.array(lrs), np.array(moms), accs


@pytest.mark.parametrize('scheduler_type', ['linear', 'cosine'])
def test_lr_momentum_accumulate_equal_ultralytics_first_300_iters(tmp_path, scheduler_type):
    rows, ema_steps = _run(tmp_path, scheduler_type)
    nb = SIZE // BATCH
    assert len(rows) == EPOCHS * nb
    assert ema_steps == sum(r['stepped'] for r in rows)  # EMA updates on optimizer steps only
    rows = rows[:300]
    lrs, moms, accs = _ultralytics_reference(300, nb, scheduler_type)
    np.testing.assert_allclose(np.array([r['lr'] for r in rows]), lrs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.array([r['momentum'] for r in rows]), moms, rtol=1e-12)
    assert [r['accumulate'] for r in rows] == accs
    assert [r['epoch'] for r in rows] == [i // nb for i in range(300)]
    # ultralytics' step rule with the ramping accumulate; the EMA counts optimizer steps
    last, expected_steps = -1, []
    for ni, acc in enumerate(accs):
        expected_steps.append(ni - last >= acc)
        last = ni if expected_steps[-1] else last
    assert [r['stepped'] for r in rows] == expected_steps


def test_rejects_param_scheduler_list(tmp_path):
    runner = Runner(
        model=_Net(), work_dir=str(tmp_path), default_scope='cissreg',
        train_dataloader=dict(dataset=_Data(), batch_size=BATCH, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=LR0)),
        param_scheduler=[dict(type='ConstantLR', factor=1.0)],
        default_hooks=dict(param_scheduler=dict(type='YOLOv8ParamSchedulerHook'),
                           checkpoint=None),
        log_level='WARNING')
    with pytest.raises(ValueError, match='param_scheduler = None'):
        runner.train()
