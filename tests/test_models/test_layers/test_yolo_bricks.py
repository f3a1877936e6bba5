"""C2f / SPPF / DarknetBottleneck: naive re-computation, shapes, gradients, ultralytics parity."""
import pytest
import torch
import torch.nn.functional as F

from cissreg.models.layers.yolo_bricks import (SPPF, C2f, DarknetBottleneck, make_divisible,
                                               make_round, reset_yolo_parameters)
from cissreg.registry import MODELS
from cissreg.testing.reference import require


def _randomise_bn(module: torch.nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)


def _conv_bn_silu(conv_module, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode Conv2d + BN + SiLU written out with functional ops."""
    conv, bn = conv_module.conv, conv_module.bn
    y = F.conv2d(x, conv.weight, None, conv.stride, conv.padding)
    y = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
    y = y * bn.weight[:, None, None] + bn.bias[:, None, None]
    return y * torch.sigmoid(y)


@pytest.mark.parametrize('channels,factor,expected', [
    (64, 0.25, 16), (64, 0.75, 48), (768, 0.75, 576), (512, 1.25, 640), (100, 0.3, 32)])
def test_make_divisible(channels, factor, expected):
    assert make_divisible(channels, factor) == expected


@pytest.mark.parametrize('blocks,factor,expected', [
    (3, 0.33, 1), (6, 0.33, 2), (3, 0.67, 2), (6, 0.67, 4), (6, 1.0, 6), (1, 0.33, 1)])
def test_make_round(blocks, factor, expected):
    assert make_round(blocks, factor) == expected


def test_bricks_are_registered():
    for name in ('C2f', 'SPPF', 'DarknetBottleneck'):
        assert MODELS.get(name) is not None
    layer = MODELS.build(dict(type='C2f', in_channels=8, out_channels=16, num_blocks=2))
    assert isinstance(layer, C2f)


@pytest.mark.parametrize('add_identity,in_c,out_c', [(True, 8, 8), (False, 8, 8), (True, 8, 16)])
def test_darknet_bottleneck_matches_naive(add_identity, in_c, out_c):
    torch.manual_seed(0)
    block = DarknetBottleneck(in_c, out_c, expansion=0.5, add_identity=add_identity)
    _randomise_bn(block)
    block.eval()
    x = torch.randn(2, in_c, 6, 5)
    expected = _conv_bn_silu(block.conv2, _conv_bn_silu(block.conv1, x))
    if add_identity and in_c == out_c:
        expected = expected + x
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)
    assert block.conv1.conv.out_channels == out_c // 2
    assert block.conv1.conv.bias is None


@pytest.mark.parametrize('num_blocks,add_identity', [(1, True), (3, False)])
def test_c2f_matches_naive(num_blocks, add_identity):
    torch.manual_seed(0)
    layer = C2f(12, 16, num_blocks=num_blocks, add_identity=add_identity)
    _randomise_bn(layer)
    layer.eval()
    x = torch.randn(2, 12, 7, 6)
    y = _conv_bn_silu(layer.main_conv, x)
    parts = [y[:, :8], y[:, 8:]]
    for block in layer.blocks:
        out = _conv_bn_silu(block.conv2, _conv_bn_silu(block.conv1, parts[-1]))
        parts.append(parts[-1] + out if add_identity else out)
    expected = _conv_bn_silu(layer.final_conv, torch.cat(parts, 1))
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)
    assert layer.final_conv.conv.in_channels == (2 + num_blocks) * 8


def test_sppf_equals_parallel_spp():
    """SPPF's chained 5x5 pools equal SPP's parallel 5/9/13 pools."""
    torch.manual_seed(0)
    layer = SPPF(16, 12, kernel_size=5)
    _randomise_bn(layer)
    layer.eval()
    x = torch.randn(2, 16, 9, 7)
    y = _conv_bn_silu(layer.conv1, x)
    pools = [F.max_pool2d(y, k, stride=1, padding=k // 2) for k in (5, 9, 13)]
    expected = _conv_bn_silu(layer.conv2, torch.cat([y] + pools, 1))
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('build', [
    lambda: C2f(8, 8, num_blocks=2), lambda: SPPF(8, 8), lambda: DarknetBottleneck(8, 8)],
    ids=['C2f', 'SPPF', 'DarknetBottleneck'])
def test_gradients_reach_every_parameter(build):
    torch.manual_seed(0)
    layer = build()
    layer.train()
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    out = layer(x)
    (out * torch.randn_like(out)).sum().backward()
    for name, param in layer.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_reset_yolo_parameters_uses_pytorch_default_init():
    torch.manual_seed(0)
    layer = C2f(64, 64, num_blocks=1)
    reset_yolo_parameters(layer)
    for m in layer.modules():
        if isinstance(m, torch.nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            # kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            assert m.weight.abs().max() <= fan_in**-0.5
            assert m.weight.abs().max() > 0.9 * fan_in**-0.5
        if isinstance(m, torch.nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
            assert m.eps == pytest.approx(1e-3) and m.momentum == pytest.approx(0.03)


def test_bricks_match_ultralytics():
    blocks = require('ultralytics.nn.modules.block')
    torch.manual_seed(0)
    pairs = [
        (blocks.C2f(12, 16, n=2, shortcut=True), C2f(12, 16, num_blocks=2, add_identity=True),
         {'cv1': 'main_conv', 'cv2': 'final_conv', 'm.0.cv1': 'blocks.0.conv1',
          'm.0.cv2': 'blocks.0.conv2', 'm.1.cv1': 'blocks.1.conv1', 'm.1.cv2': 'blocks.1.conv2'}),
        (blocks.SPPF(16, 12, 5), SPPF(16, 12, 5), {'cv1': 'conv1', 'cv2': 'conv2'}),
        (blocks.Bottleneck(8, 8, True), DarknetBottleneck(8, 8),
         {'cv1': 'conv1', 'cv2': 'conv2'}),
    ]
    for ref, ours, names in pairs:
        _randomise_bn(ref)
        for m in ref.modules():  # what ultralytics' initialize_weights does
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eps = 1e-3
        ref_sd = ref.state_dict()
        converted = {}
        for key, value in ref_sd.items():
            prefix, param = key.split('.conv.') if '.conv.' in key else key.split('.bn.')
            sep = 'conv.' if '.conv.' in key else 'bn.'
            converted[f'{names[prefix]}.{sep}{param}'] = value
        ours.load_state_dict(converted, strict=True)
        ref.eval()
        ours.eval()
        x = torch.randn(2, ref_sd[next(iter(ref_sd))].shape[1], 8, 8)
        torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
