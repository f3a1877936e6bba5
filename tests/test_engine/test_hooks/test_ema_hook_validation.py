"""mmengine's EMAHook with ExpMomentumEMA through a real Runner: validation on the EMA weights,
EMA in checkpoints, resume equal to an uninterrupted run."""
import math
import os.path as osp
import uuid

import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import EMAHook, Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from cissreg.utils.safe_load import safe_torch_load

MOMENTUM, TAU = 0.2, 3.0
ITERS_PER_EPOCH = 4
EMA_HOOK = dict(
    type='EMAHook',
    ema_type='ExpMomentumEMA',
    momentum=MOMENTUM,
    tau=TAU,
    update_buffers=True,
    strict_load=False,
    priority=49)


class ToyPairs(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, idx: int) -> dict:
        g = torch.Generator().manual_seed(idx)
        return dict(inputs=torch.randn(2, generator=g) + 1, target=torch.randn(1, generator=g))


class ProbeModel(BaseModel):
    """BN backbone + linear head; predictions expose the head weight and BN running mean."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4))
        self.head = nn.Linear(4, 1)

    def forward(self, inputs, target=None, mode='tensor'):
        out = self.head(self.backbone(inputs))
        if mode == 'loss':
            return dict(loss=((out - target)**2).mean())
        probe = dict(
            w=self.head.weight.detach().clone(),
            rm=self.backbone[1].running_mean.detach().clone())
        return [probe] * len(inputs)


class ProbeMetric(BaseMetric):
    """Reports the weight and the running mean the model held during validation."""

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results) -> dict:
        return dict(w=float(results[0]['w'][0, 0]), rm=float(results[0]['rm'][0]))


class Recorder(Hook):
    """Float64 copies of the raw model after every train iteration, and the val metrics."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.states, self.metrics, self.raw_after_epoch, self.raw_before_epoch = [], [], [], []

    @staticmethod
    def _state(runner) -> dict:
        return {k: v.detach().double().clone() for k, v in runner.model.state_dict().items()}

    def before_run(self, runner) -> None:
        self.states.append(self._state(runner))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.states.append(self._state(runner))

    def after_train_epoch(self, runner) -> None:
        self.raw_after_epoch.append(self._state(runner))

    def before_train_epoch(self, runner) -> None:
        self.raw_before_epoch.append(self._state(runner))

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics.append(dict(metrics))


def _build_runner(work_dir: str, max_epochs: int, recorder: Recorder, resume: bool = False):
    loader = dict(
        dataset=ToyPairs(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=2,
        collate_fn=dict(type='default_collate'))
    return Runner(
        model=ProbeModel(),
        work_dir=work_dir,
        experiment_name=f'ema_{uuid.uuid4().hex}',
        train_dataloader=loader,
        val_dataloader=loader,
        val_evaluator=dict(type='Evaluator', metrics=ProbeMetric()),
        val_cfg=dict(),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs, val_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        custom_hooks=[EMA_HOOK, recorder],
        resume=resume,
        randomness=dict(seed=0),
        default_scope='cissreg')


def _naive_ema(states: list) -> list:
    """Float64 ramped EMA of recorded states: entry t is the EMA after t updates."""
    ema = dict(states[0])
    out = [dict(ema)]
    for t, state in enumerate(states[1:], start=1):
        d = (1 - MOMENTUM) * (1 - math.exp(-t / TAU))
        ema = {k: d * ema[k] + (1 - d) * v if v.is_floating_point() else v
               for k, v in state.items()}
        out.append(ema)
    return out


def _ema_hook(runner) -> EMAHook:
    return next(h for h in runner.hooks if isinstance(h, EMAHook))


def test_validation_uses_ema_weights_and_checkpoint_holds_them(tmp_path):
    recorder = Recorder()
    runner = _build_runner(str(tmp_path), 3, recorder)
    runner.train()
    expected = _naive_ema(recorder.states)
    assert len(recorder.metrics) == 3
    for epoch, metrics in enumerate(recorder.metrics):
        t = (epoch + 1) * ITERS_PER_EPOCH
        ema_w = expected[t]['head.weight'][0, 0].item()
        raw_w = recorder.states[t]['head.weight'][0, 0].item()
        assert abs(metrics['w'] - ema_w) < 1e-6, (epoch, metrics['w'], ema_w)
        assert abs(metrics['w'] - raw_w) > 1e-4, 'validation saw the raw weights'
        ema_rm = expected[t]['backbone.1.running_mean'][0].item()
        assert abs(metrics['rm'] - ema_rm) < 1e-6
        # After validation, training continues from the raw weights.
        if epoch + 1 < len(recorder.raw_before_epoch):
            for k, v in recorder.raw_after_epoch[epoch].items():
                assert torch.equal(v, recorder.raw_before_epoch[epoch + 1][k]), k

    ckpt = safe_torch_load(osp.join(str(tmp_path), 'epoch_3.pth'), map_location='cpu')
    t = 3 * ITERS_PER_EPOCH
    # `state_dict` is the deployable EMA model, `ema_state_dict` keeps the raw weights.
    for k in ('head.weight', 'backbone.0.weight', 'backbone.1.running_var'):
        torch.testing.assert_close(ckpt['state_dict'][k].double(), expected[t][k], rtol=0,
                                   atol=1e-6)
        torch.testing.assert_close(ckpt['ema_state_dict'][f'module.{k}'].double(),
                                   recorder.states[t][k], rtol=0, atol=0)
    assert int(ckpt['ema_state_dict']['steps']) == t


def test_resumed_run_ema_equals_uninterrupted_run(tmp_path):
    full = _build_runner(str(tmp_path / 'full'), 4, Recorder())
    full.train()

    first_half = _build_runner(str(tmp_path / 'resumed'), 2, Recorder())
    first_half.train()
    resumed_recorder = Recorder()
    resumed = _build_runner(str(tmp_path / 'resumed'), 4, resumed_recorder, resume=True)
    resumed.train()

    assert resumed.epoch == 4 and len(resumed_recorder.metrics) == 2
    full_ema, resumed_ema = _ema_hook(full).ema_model, _ema_hook(resumed).ema_model
    assert int(full_ema.steps) == int(resumed_ema.steps) == 4 * ITERS_PER_EPOCH
    full_state, resumed_state = full_ema.state_dict(), resumed_ema.state_dict()
    for k, v in full_state.items():
        assert torch.equal(v, resumed_state[k]), k
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
