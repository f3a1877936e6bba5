"""YOLOv8HeadModule: ultralytics channel rules, bias init, shapes, gradients."""
import logging
import math

import pytest
import torch
from mmengine.model import BaseModule

from cissreg.models.heads import YOLOv8HeadModule
from cissreg.registry import MODELS
from cissreg.testing.reference import require


def _build(num_classes: int, widen: float = 0.25, **kwargs) -> YOLOv8HeadModule:
    return MODELS.build(dict(type='YOLOv8HeadModule', num_classes=num_classes,
                             widen_factor=widen, **kwargs))


@pytest.mark.parametrize('num_classes,widen,reg_ch,cls_ch', [
    (1, 0.25, 64, 64),      # n: c0 = 64
    (80, 0.25, 64, 80),     # c3 = max(64, min(80, 100))
    (150, 0.25, 64, 100),   # class width capped at 100
    (3, 0.5, 64, 128),      # s: c0 = 128
    (20, 1.0, 64, 256),     # l: c0 = 256
    (20, 1.25, 80, 320),    # x: c0 = 320, c2 = c0 // 4
])
def test_branch_widths_follow_ultralytics_rule(num_classes, widen, reg_ch, cls_ch):
    head = _build(num_classes, widen)
    for level in range(3):
        reg, cls = head.reg_preds[level], head.cls_preds[level]
        assert reg[0].conv.out_channels == reg_ch and reg[1].conv.out_channels == reg_ch
        assert cls[0].conv.out_channels == cls_ch and cls[1].conv.out_channels == cls_ch
        assert reg[2].out_channels == 64 and cls[2].out_channels == num_classes
        assert reg[2].bias is not None and reg[0].conv.bias is None


def test_forward_shapes_and_raw_logits():
    torch.manual_seed(0)
    head = _build(5).eval()
    feats = [torch.randn(2, c, 8 // 2**i, 12 // 2**i) for i, c in enumerate([64, 128, 256])]
    with torch.no_grad():
        cls_scores, bbox_dist_preds = head(feats)
    assert [tuple(t.shape) for t in cls_scores] == [(2, 5, 8, 12), (2, 5, 4, 6), (2, 5, 2, 3)]
    assert [tuple(t.shape) for t in bbox_dist_preds] == [(2, 64, 8, 12), (2, 64, 4, 6),
                                                         (2, 64, 2, 3)]
    # logits, not probabilities
    assert min(t.min() for t in cls_scores) < 0 or max(t.max() for t in cls_scores) > 1
    with pytest.raises(ValueError, match='expects 3 feature maps'):
        head(feats[:2])


@pytest.mark.parametrize('num_classes', [1, 20])
def test_init_weights_reproduces_detect_bias_init(num_classes):
    head = _build(num_classes)
    head.init_weights()
    for level, stride in enumerate((8, 16, 32)):
        torch.testing.assert_close(head.reg_preds[level][2].bias, torch.ones(64))
        expected = math.log(5 / num_classes / (640 / stride)**2)
        torch.testing.assert_close(head.cls_preds[level][2].bias,
                                   torch.full((num_classes,), expected))
        conv = head.cls_preds[level][0].conv
        assert conv.weight.abs().max() <= (conv.in_channels * 9)**-0.5


def test_init_weights_matches_ultralytics_detect():
    tasks = require('ultralytics.nn.tasks')
    from ultralytics.utils import LOGGER
    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    try:
        detect = tasks.DetectionModel('yolov8n.yaml', nc=7, verbose=False).model[-1]
    finally:
        LOGGER.setLevel(level)
    head = _build(7)
    head.init_weights()
    for i in range(3):
        torch.testing.assert_close(head.reg_preds[i][2].bias, detect.cv2[i][2].bias.detach())
        torch.testing.assert_close(head.cls_preds[i][2].bias, detect.cv3[i][2].bias.detach())
    ours_bn = {(m.eps, m.momentum) for m in head.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    ref_bn = {(m.eps, m.momentum) for m in detect.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert ours_bn == ref_bn


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    head = _build(3).train()
    head.init_weights()
    feats = [torch.randn(2, c, 8 // 2**i, 8 // 2**i) for i, c in enumerate([64, 128, 256])]
    cls_scores, bbox_dist_preds = head(feats)
    sum((t * torch.randn_like(t)).sum() for t in cls_scores + bbox_dist_preds).backward()
    for name, param in head.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_invalid_arguments():
    with pytest.raises(ValueError, match='num_classes'):
        _build(0)
    with pytest.raises(ValueError, match='featmap_strides'):
        _build(2, featmap_strides=(8, 16))


def test_parent_init_weights_reaches_bias_init():
    """mmengine's Runner calls the detector's init_weights; it must reach the head module."""

    class Parent(BaseModule):

        def __init__(self):
            super().__init__()
            self.head_module = _build(4)

    parent = Parent()
    parent.init_weights()
    expected = math.log(5 / 4 / (640 / 32)**2)
    torch.testing.assert_close(parent.head_module.cls_preds[2][2].bias, torch.full((4,), expected))
