"""YOLOv8CSPDarknet: shapes of every size, gradients, frozen stages, norm_eval, validation."""
import pytest
import torch
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm

from cissreg.models.backbones import YOLOv8CSPDarknet
from cissreg.registry import MODELS

# size: (deepen, widen, last stage) from ultralytics yolov8.yaml; channels written out by hand
SIZES = {
    'n': (0.33, 0.25, 1024, [16, 32, 64, 128, 256], [1, 2, 2, 1]),
    's': (0.33, 0.50, 1024, [32, 64, 128, 256, 512], [1, 2, 2, 1]),
    'm': (0.67, 0.75, 768, [48, 96, 192, 384, 576], [2, 4, 4, 2]),
    'l': (1.00, 1.00, 512, [64, 128, 256, 512, 512], [3, 6, 6, 3]),
    'x': (1.00, 1.25, 512, [80, 160, 320, 640, 640], [3, 6, 6, 3]),
}


def _build(size: str, **kwargs) -> YOLOv8CSPDarknet:
    deepen, widen, last = SIZES[size][:3]
    return MODELS.build(dict(type='YOLOv8CSPDarknet', deepen_factor=deepen, widen_factor=widen,
                             last_stage_out_channels=last, **kwargs))


@pytest.mark.parametrize('size', ['n', 's'])
def test_output_shapes_small_sizes(size):
    channels = SIZES[size][3]
    model = _build(size, out_indices=(0, 1, 2, 3, 4)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [
        (2, c, 64 // 2**(i + 1), 96 // 2**(i + 1)) for i, c in enumerate(channels)]


@pytest.mark.parametrize('size', ['m', 'l', 'x'])
def test_output_shapes_and_depth_large_sizes(size):
    """Built and run on the meta device: channels, block counts and shapes without compute."""
    channels, blocks = SIZES[size][3:]
    with torch.device('meta'):
        model = _build(size)
        outs = model(torch.empty(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, channels[i], 64 // 2**(i + 1),
                                               64 // 2**(i + 1)) for i in (2, 3, 4)]
    assert [len(getattr(model, f'stage{i}')[1].blocks) for i in range(1, 5)] == blocks
    assert model.out_channels == channels


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = _build('n').train()
    outs = model(torch.randn(2, 3, 64, 64))
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize('frozen_stages', [0, 2, 4])
def test_frozen_stages(frozen_stages):
    model = _build('n', frozen_stages=frozen_stages)
    model.train()
    layers = ['stem', 'stage1', 'stage2', 'stage3', 'stage4']
    for i, name in enumerate(layers):
        layer = getattr(model, name)
        frozen = i <= frozen_stages
        assert all(p.requires_grad != frozen for p in layer.parameters()), name
        assert all(m.training != frozen for m in layer.modules()
                   if isinstance(m, _BatchNorm)), name
    frozen_bn = model.stem.bn
    before = frozen_bn.running_mean.clone()
    outs = model(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(frozen_bn.running_mean, before)  # eval BN: stats unchanged
    if frozen_stages < 4:
        sum(o.sum() for o in outs).backward()
        assert model.stem.conv.weight.grad is None
        assert model.stage4[0].conv.weight.grad is not None


def test_norm_eval_keeps_bn_in_eval_mode():
    model = _build('n', norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert bns and not any(m.training for m in bns)
    assert all(p.requires_grad for p in model.parameters())
    before = [m.running_var.clone() for m in bns]
    model(torch.randn(2, 3, 32, 32))
    for m, var in zip(bns, before):
        torch.testing.assert_close(m.running_var, var)
    model.train(False)
    assert not model.training


def test_instances_do_not_share_settings():
    """mmyolo mutates class-level arch settings; here each instance builds its own."""
    with torch.device('meta'):
        m_model = _build('m')
        n_model = _build('n')
        m_again = _build('m')
    assert m_model.out_channels[-1] == 576 and n_model.out_channels[-1] == 256
    assert m_again.out_channels[-1] == 576
    assert m_again.stage4[1].final_conv.conv.out_channels == 576


def test_init_weights_and_norm_settings():
    model = _build('n')
    model.init_weights()
    conv = model.stage2[0].conv
    fan_in = conv.in_channels * 9
    assert conv.weight.abs().max() <= fan_in**-0.5  # PyTorch default (ultralytics) init
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.eps == pytest.approx(1e-3) and m.momentum == pytest.approx(0.03)
        if isinstance(m, torch.nn.Conv2d):
            assert m.bias is None


@pytest.mark.parametrize('kwargs,match', [
    (dict(frozen_stages=5), 'frozen_stages'),
    (dict(out_indices=(2, 5)), 'out_indices'),
    (dict(arch='P7'), 'arch'),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        YOLOv8CSPDarknet(**kwargs)
