"""YOLOv8PAFPN: shapes for every size, wiring against a naive re-computation, gradients."""
import pytest
import torch

from cissreg.models.necks import YOLOv8PAFPN
from cissreg.registry import MODELS

# size: (deepen, widen, last stage, expected P3/P4/P5 channels, C2f blocks)
SIZES = {
    'n': (0.33, 0.25, 1024, [64, 128, 256], 1),
    's': (0.33, 0.50, 1024, [128, 256, 512], 1),
    'm': (0.67, 0.75, 768, [192, 384, 576], 2),
    'l': (1.00, 1.00, 512, [256, 512, 512], 3),
    'x': (1.00, 1.25, 512, [320, 640, 640], 3),
}


def _build(size: str) -> YOLOv8PAFPN:
    deepen, widen, last = SIZES[size][:3]
    return MODELS.build(dict(type='YOLOv8PAFPN', deepen_factor=deepen, widen_factor=widen,
                             in_channels=[256, 512, last], out_channels=[256, 512, last]))


def _inputs(channels, batch=2, size=(32, 48), device=None):
    h, w = size
    make = torch.randn if device is None else (lambda *s: torch.empty(*s, device=device))
    return [make(batch, c, h // 2**i, w // 2**i) for i, c in enumerate(channels)]


@pytest.mark.parametrize('size', ['n', 's'])
def test_output_shapes_small_sizes(size):
    channels = SIZES[size][3]
    neck = _build(size).eval()
    with torch.no_grad():
        outs = neck(_inputs(channels))
    assert [tuple(o.shape) for o in outs] == [
        (2, c, 32 // 2**i, 48 // 2**i) for i, c in enumerate(channels)]


@pytest.mark.parametrize('size', ['m', 'l', 'x'])
def test_output_shapes_large_sizes(size):
    channels, blocks = SIZES[size][3:]
    with torch.device('meta'):
        neck = _build(size)
        outs = neck(_inputs(channels, batch=1, device='meta'))
    assert [tuple(o.shape) for o in outs] == [
        (1, c, 32 // 2**i, 48 // 2**i) for i, c in enumerate(channels)]
    assert all(len(layer.blocks) == blocks
               for layer in list(neck.top_down_layers) + list(neck.bottom_up_layers))
    assert all(not block.add_identity for block in neck.top_down_layers[0].blocks)


def test_wiring_matches_yolov8_yaml():
    """Layers 10-21 of yolov8.yaml written out: upsample, cat, C2f, ..., conv s2, cat, C2f."""
    torch.manual_seed(0)
    neck = _build('n').eval()
    p3, p4, p5 = _inputs(SIZES['n'][3])
    up = torch.nn.functional.interpolate
    with torch.no_grad():
        l12 = neck.top_down_layers[0](torch.cat([up(p5, scale_factor=2.0), p4], 1))
        l15 = neck.top_down_layers[1](torch.cat([up(l12, scale_factor=2.0), p3], 1))
        l18 = neck.bottom_up_layers[0](torch.cat([neck.downsample_layers[0](l15), l12], 1))
        l21 = neck.bottom_up_layers[1](torch.cat([neck.downsample_layers[1](l18), p5], 1))
        outs = neck([p3, p4, p5])
    for ours, expected in zip(outs, (l15, l18, l21)):
        torch.testing.assert_close(ours, expected)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    neck = _build('n').train()
    inputs = [x.requires_grad_() for x in _inputs(SIZES['n'][3], size=(16, 16))]
    outs = neck(inputs)
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    for name, param in neck.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert all(x.grad.abs().sum() > 0 for x in inputs)


def test_invalid_arguments():
    with pytest.raises(ValueError, match='same length'):
        YOLOv8PAFPN(in_channels=[256, 512, 1024], out_channels=[256, 512])
    neck = _build('n')
    with pytest.raises(ValueError, match='expects 3 feature maps, got 2'):
        neck(_inputs([64, 128]))
