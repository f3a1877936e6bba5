"""Nominal batch 64 (ultralytics): weight decay and accumulation at any batch size / GPU count."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import cissreg.engine  # noqa: F401  (registers the constructor)
from cissreg.engine.optim import (NominalBatchOptimWrapper, NominalBatchOptimWrapperConstructor,
                                  nominal_batch_scaling, ultralytics_param_groups)
from cissreg.testing.reference import require

LR, MOMENTUM, DECAY = 0.01, 0.937, 5e-4


def _model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), nn.Conv2d(3, 2, 1, bias=False))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
    return model


def _build(model, batch, world_size, monkeypatch, optimizer=None, **extra):
    monkeypatch.setattr('cissreg.engine.optim.nominal_batch_constructor.get_world_size',
                        lambda: world_size)
    cfg = dict(batch_size_per_gpu=batch,
               optimizer=optimizer or dict(type='SGD', lr=LR, momentum=MOMENTUM,
                                           nesterov=True, weight_decay=DECAY), **extra)
    return NominalBatchOptimWrapperConstructor(cfg)(model)


def _grads(model, iters):
    """Fixed per-iteration gradients (the loss is linear in the parameters)."""
    g = torch.Generator().manual_seed(1)
    return [[torch.randn(p.shape, generator=g, dtype=torch.float64) for p in model.parameters()]
            for _ in range(iters)]


def _reference(model, grads, total_batch, decay_of):
    """float64 ultralytics trainer: accumulate, scaled decay, nesterov SGD, step rule."""
    accumulate = max(round(64 / total_batch), 1)
    decay = DECAY * total_batch * accumulate / 64
    params = [p.detach().double().clone() for p in model.parameters()]
    bufs = [None] * len(params)
    acc = [torch.zeros_like(p) for p in params]
    last = -1
    for ni, grad in enumerate(grads):
        acc = [a + g for a, g in zip(acc, grad)]
        if ni - last >= accumulate:
            for k, p in enumerate(params):
                d = acc[k] + decay * p * decay_of[k]
                bufs[k] = d.clone() if bufs[k] is None else MOMENTUM * bufs[k] + d
                params[k] = p - LR * (d + MOMENTUM * bufs[k])
            acc = [torch.zeros_like(p) for p in params]
            last = ni
    return params


def _train(wrapper, model, grads):
    wrapper.initialize_count_status(model, 0, len(grads))
    steps = 0
    for grad in grads:
        loss = sum((p * g.float()).sum() for p, g in zip(model.parameters(), grad))
        wrapper.update_params(loss)
        steps += wrapper.stepped
    return steps


@pytest.mark.parametrize('batch,world_size', [(8, 1), (16, 1), (8, 2), (48, 1)])
def test_weights_follow_float64_ultralytics_schedule(batch, world_size, monkeypatch):
    model = _model()
    decay_of = [1.0, 0.0, 0.0, 0.0, 1.0]  # conv0.w, conv0.b, bn.w, bn.b, conv2.w
    names = [n for n, _ in model.named_parameters()]
    assert names == ['0.weight', '0.bias', '1.weight', '1.bias', '2.weight']
    grads = _grads(model, 24)
    expected = _reference(model, grads, batch * world_size, decay_of)
    wrapper = _build(model, batch, world_size, monkeypatch)
    steps = _train(wrapper, model, grads)
    accumulate = max(round(64 / (batch * world_size)), 1)
    assert wrapper.accumulate == accumulate
    assert steps == 24 // accumulate
    for p, ref in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach().double(), ref, rtol=1e-5, atol=1e-6)


def test_pure_decay_is_5e4_per_64_images_at_any_batch(monkeypatch):
    """Zero loss gradient: after 128 images the weight is the same at batch 8, 16, 8 x 2 GPUs."""
    finals = []
    for batch, world_size in [(8, 1), (16, 1), (8, 2), (32, 2)]:
        model = _model()
        wrapper = _build(model, batch, world_size, monkeypatch)
        images_per_iter = batch * world_size
        zero = [[torch.zeros(p.shape, dtype=torch.float64) for p in model.parameters()]] * (
            128 // images_per_iter)
        assert _train(wrapper, model, zero) == 2
        finals.append(model[0].weight.detach().double().clone())
    w0 = _model()[0].weight.detach().double()
    # two nesterov SGD steps of pure decay: p1 = p0 (1 - lr wd (1 + m)), then momentum adds
    d0 = DECAY * w0
    p1 = w0 - LR * (d0 + MOMENTUM * d0)
    buf = MOMENTUM * d0 + DECAY * p1
    p2 = p1 - LR * (DECAY * p1 + MOMENTUM * buf)
    for final in finals:
        torch.testing.assert_close(final, p2, rtol=0, atol=1e-7)


def test_nominal_batch_scaling_matches_ultralytics_formula():
    for total in (1, 8, 16, 24, 40, 64, 96, 128, 256):
        accumulate, scale = nominal_batch_scaling(total)
        assert accumulate == max(round(64 / total), 1)
        assert scale == pytest.approx(total * accumulate / 64)


def _ultralytics_build_optimizer(model, **kwargs):
    require('ultralytics')
    from ultralytics.engine.trainer import BaseTrainer
    fake = SimpleNamespace(args=SimpleNamespace(lr0=0.01, momentum=0.937, warmup_bias_lr=0.1))
    return BaseTrainer.build_optimizer(fake, model, **kwargs), fake


def test_param_groups_equal_ultralytics_build_optimizer(monkeypatch):
    from mmengine.config import Config

    from cissreg.registry import MODELS
    cfg = Config.fromfile('configs/_base_/models/yolov8_n.py').model
    model = MODELS.build(cfg)
    ref, _ = _ultralytics_build_optimizer(model, name='SGD', lr=0.01, momentum=0.937,
                                          decay=5e-4)
    ours = _build(model, 16, 1, monkeypatch).optimizer
    assert [g['name'] for g in ours.param_groups] == ['bias', 'weight', 'norm']
    for g_ref, g_ours in zip(ref.param_groups, ours.param_groups):
        assert [id(p) for p in g_ref['params']] == [id(p) for p in g_ours['params']]
        assert g_ref['weight_decay'] == pytest.approx(g_ours['weight_decay'])
        assert g_ref['nesterov'] == g_ours['nesterov']
    assert len(ultralytics_param_groups(model)[2]) > 0


@pytest.mark.parametrize('num_images,epochs', [(1000, 8), (120000, 100)])
def test_auto_optimizer_as_ultralytics(num_images, epochs, monkeypatch):
    model = _model()
    model.nc = 6
    total = 16
    iterations = math.ceil(num_images / max(total, 64)) * epochs
    ref, fake = _ultralytics_build_optimizer(model, name='auto', lr=0.01, momentum=0.937,
                                             decay=5e-4, iterations=iterations)
    wrapper = _build(model, total, 1, monkeypatch,
                     optimizer=dict(type='auto', weight_decay=DECAY),
                     auto_cfg=dict(num_classes=6, num_images=num_images, max_epochs=epochs))
    ours = wrapper.optimizer
    assert type(ours) is type(ref)
    assert ours.param_groups[0]['lr'] == pytest.approx(ref.param_groups[0]['lr'])
    assert ours.param_groups[0]['warmup_bias_lr'] == fake.args.warmup_bias_lr == 0.0
    if isinstance(ref, torch.optim.SGD):
        # ultralytics builds it with 0.9, then its warm-up raises every group's momentum to
        # args.momentum and leaves it there: 0.937 is what it trains with
        assert ref.param_groups[0]['momentum'] == 0.9
        assert ours.param_groups[0]['momentum'] == fake.args.momentum == 0.937
    else:
        assert ours.param_groups[0]['betas'] == ref.param_groups[0]['betas']


def test_fp32_wrapper_on_cpu_and_errors(monkeypatch):
    wrapper = _build(_model(), 16, 1, monkeypatch)
    assert type(wrapper) is NominalBatchOptimWrapper
    with pytest.raises(ValueError, match='paramwise_cfg'):
        NominalBatchOptimWrapperConstructor(dict(batch_size_per_gpu=2, optimizer=dict(
            type='SGD', lr=0.1)), paramwise_cfg=dict(norm_decay_mult=0.0))
    with pytest.raises(ValueError, match='accumulate must be'):
        wrapper.accumulate = 0
    assert np.isclose(wrapper.optimizer.param_groups[1]['weight_decay'], DECAY)


def test_configure_nominal_batch_rescales_from_the_per_64_images_decay(monkeypatch):
    """Built without a batch size (taken as 64), then set from the real loader (the hook)."""
    model = _model()
    monkeypatch.setattr('cissreg.engine.optim.nominal_batch_constructor.get_world_size',
                        lambda: 1)
    wrapper = NominalBatchOptimWrapperConstructor(dict(optimizer=dict(
        type='SGD', lr=LR, momentum=MOMENTUM, weight_decay=DECAY)))(model)
    assert wrapper.accumulate == 1 and wrapper.optimizer.param_groups[1]['weight_decay'] == DECAY
    wrapper.configure_nominal_batch(24)
    assert wrapper.accumulate == 3
    assert wrapper.optimizer.param_groups[1]['weight_decay'] == pytest.approx(DECAY * 72 / 64)
    assert [g['weight_decay'] for g in wrapper.optimizer.param_groups[::2]] == [0.0, 0.0]
    wrapper.configure_nominal_batch(16)
    assert wrapper.accumulate == 4
    assert wrapper.optimizer.param_groups[1]['weight_decay'] == pytest.approx(DECAY)
