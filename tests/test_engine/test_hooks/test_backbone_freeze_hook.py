"""BackboneFreezeHook through a real mmengine Runner on a toy model with a BN backbone."""
import copy
import socket
import uuid

import pytest
import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.model import BaseModel, MMDistributedDataParallel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import Dataset

from cissreg.engine.hooks import BackboneFreezeHook
from cissreg.models.utils import freeze_module, unfreeze_module

FREEZE_EPOCHS = 2
MAX_EPOCHS = 4


class ToyRegressionSet(Dataset):
    """8 fixed random samples: 3 features -> 1 target."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, idx: int) -> dict:
        g = torch.Generator().manual_seed(idx)
        return dict(inputs=torch.randn(3, generator=g) * 2 + 1, target=torch.randn(1, generator=g))


class ToyDetector(BaseModel):
    """``backbone`` (Linear + BN + ReLU) and ``head``; records BN mode at every train forward."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 1)
        # A parameter frozen by the model itself (like frozen_stages) must stay frozen.
        self.backbone[0].bias.requires_grad_(False)
        self.bn_training_log = []

    def forward(self, inputs, target=None, mode='tensor'):
        out = self.head(self.backbone(inputs))
        if mode == 'loss':
            self.bn_training_log.append(self.backbone[1].training)
            return dict(loss=((out - target)**2).mean())
        return out


class SnapshotHook(Hook):
    """Copies the model state after every training epoch."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.states = []

    def before_train(self, runner) -> None:
        self.states.append(copy.deepcopy(_unwrap(runner.model).state_dict()))

    def after_train_epoch(self, runner) -> None:
        self.states.append(copy.deepcopy(_unwrap(runner.model).state_dict()))


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, 'module') else model


def _build_runner(tmp_path, model, hooks):
    loader = dict(
        dataset=ToyRegressionSet(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=4,
        collate_fn=dict(type='default_collate'))
    return Runner(
        model=model,
        work_dir=str(tmp_path),
        experiment_name=f'freeze_{uuid.uuid4().hex}',
        train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=MAX_EPOCHS),
        optim_wrapper=dict(
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.01)),
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks,
        default_scope='cissreg')


def _sub_state(state: dict, prefix: str) -> dict:
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def _equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def _check_freeze_schedule(snapshots, model) -> None:
    # snapshots[0] = before training, snapshots[e + 1] = after epoch e.
    for epoch in range(MAX_EPOCHS):
        before, after = snapshots[epoch], snapshots[epoch + 1]
        head_before, head_after = _sub_state(before, 'head.'), _sub_state(after, 'head.')
        assert not _equal(head_before, head_after), f'head did not train in epoch {epoch}'
        for key in ('backbone.0.weight', 'backbone.1.weight', 'backbone.1.bias',
                    'backbone.1.running_mean', 'backbone.1.running_var',
                    'backbone.1.num_batches_tracked'):
            same = torch.equal(before[key], after[key])
            if epoch < FREEZE_EPOCHS:
                assert same, f'{key} changed in frozen epoch {epoch}'
            else:
                assert not same, f'{key} did not change in unfrozen epoch {epoch}'
        # The bias frozen by the model itself never trains.
        assert torch.equal(before['backbone.0.bias'], after['backbone.0.bias'])
    iters_per_epoch = 2
    log = model.bn_training_log
    assert log == [False] * (FREEZE_EPOCHS * iters_per_epoch) + \
        [True] * ((MAX_EPOCHS - FREEZE_EPOCHS) * iters_per_epoch)
    assert model.backbone[0].weight.requires_grad
    assert not model.backbone[0].bias.requires_grad


def test_backbone_frozen_then_unfrozen_through_runner(tmp_path):
    model = ToyDetector()
    snapshot = SnapshotHook()
    runner = _build_runner(
        tmp_path, model, [dict(type='BackboneFreezeHook', freeze_epochs=FREEZE_EPOCHS), snapshot])
    runner.train()
    _check_freeze_schedule(snapshot.states, model)
    # Frozen parameters never got a gradient, so SGD kept no momentum state for them while
    # frozen; after unfreezing they have one like every other trained parameter.
    optimizer = runner.optim_wrapper.optimizer
    assert 'momentum_buffer' in optimizer.state[model.backbone[0].weight]
    assert model.backbone[0].bias not in optimizer.state


def test_freeze_module_clears_stale_grads_and_restores_requires_grad():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    module[0].bias.requires_grad_(False)
    module(torch.randn(2, 3, 8, 8)).sum().backward()
    previous = freeze_module(module)
    assert all(p.grad is None and not p.requires_grad for p in module.parameters())
    assert not module[1].training
    unfreeze_module(module, previous)
    assert module[0].weight.requires_grad and not module[0].bias.requires_grad
    assert module[1].training


def test_unknown_module_names_children(tmp_path):
    runner = _build_runner(
        tmp_path, ToyDetector(), [dict(type='BackboneFreezeHook', freeze_epochs=1,
                                       module='neck')])
    with pytest.raises(ValueError, match=r"no sub-module 'neck'.*'backbone', 'head'"):
        runner.train()


def test_rejects_iteration_based_loop(tmp_path):
    hook = BackboneFreezeHook(freeze_epochs=1)
    runner = Runner(
        model=ToyDetector(),
        work_dir=str(tmp_path),
        experiment_name=f'freeze_{uuid.uuid4().hex}',
        train_dataloader=dict(
            dataset=ToyRegressionSet(),
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=4,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05)),
        default_hooks=dict(checkpoint=None),
        custom_hooks=[hook])
    with pytest.raises(TypeError, match='IterBasedTrainLoop'):
        runner.train()


@pytest.mark.parametrize('bad', [-1, 1.5])
def test_invalid_freeze_epochs(bad):
    with pytest.raises(ValueError, match='freeze_epochs'):
        BackboneFreezeHook(freeze_epochs=bad)


@pytest.fixture
def gloo_group():
    """A single-process gloo group (CPU DDP), destroyed afterwards."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_ddp_requires_find_unused_parameters(tmp_path, gloo_group):
    wrapped = MMDistributedDataParallel(ToyDetector(), find_unused_parameters=False)
    runner = _build_runner(tmp_path, wrapped,
                           [dict(type='BackboneFreezeHook', freeze_epochs=FREEZE_EPOCHS)])
    with pytest.raises(ValueError, match='find_unused_parameters=True'):
        runner.train()


def test_ddp_freeze_with_find_unused_parameters(tmp_path, gloo_group):
    model = ToyDetector()
    wrapped = MMDistributedDataParallel(model, find_unused_parameters=True)
    snapshot = SnapshotHook()
    runner = _build_runner(
        tmp_path, wrapped, [dict(type='BackboneFreezeHook', freeze_epochs=FREEZE_EPOCHS), snapshot])
    runner.train()
    _check_freeze_schedule(snapshot.states, model)
