"""Layers of the YOLOv8 decoupled head (ultralytics ``Detect`` without decoding)."""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from cissreg.registry import MODELS

from ..layers.yolo_bricks import YOLO_ACT_CFG, YOLO_NORM_CFG, make_divisible, reset_yolo_parameters


@MODELS.register_module()
class YOLOv8HeadModule(BaseModule):
    """Per-level box and class branches of YOLOv8.

    Level ``i`` has ``reg_preds[i] = Sequential(ConvModule 3x3, ConvModule 3x3,
    Conv2d 1x1 -> 4 * reg_max)`` and ``cls_preds[i] = Sequential(ConvModule 3x3,
    ConvModule 3x3, Conv2d 1x1 -> num_classes)``, with ultralytics' widths
    ``reg_channels = max(16, c0 // 4, 4 * reg_max)`` and
    ``cls_channels = max(c0, min(num_classes, 100))`` (``c0`` = scaled channels of level 0).
    This is the ``legacy`` class branch that ultralytics 8.3 builds for YOLOv8 (the DWConv
    variant is YOLO11's).

    Args:
        num_classes (int): Number of classes.
        in_channels (Sequence[int]): Base channels of the neck outputs (scaled by
            ``widen_factor`` inside). Defaults to [256, 512, 1024].
        widen_factor (float): Width multiplier. Defaults to 1.0.
        reg_max (int): Number of DFL bins per box side. Defaults to 16.
        featmap_strides (Sequence[int]): Stride of each level, used by the bias init.
            Defaults to (8, 16, 32).
        norm_cfg (dict): Norm layer config. Defaults to BN(momentum=0.03, eps=0.001).
        act_cfg (dict): Activation config. Defaults to SiLU(inplace=True).
        init_cfg (dict, optional): mmengine init config; None gives ultralytics' init.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int] = (256, 512, 1024),
                 widen_factor: float = 1.0,
                 reg_max: int = 16,
                 featmap_strides: Sequence[int] = (8, 16, 32),
                 norm_cfg: dict = YOLO_NORM_CFG,
                 act_cfg: dict = YOLO_ACT_CFG,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_classes < 1:
            raise ValueError(f'YOLOv8HeadModule: num_classes must be >= 1, got {num_classes}')
        if len(in_channels) != len(featmap_strides):
            raise ValueError(f'YOLOv8HeadModule: {len(in_channels)} in_channels but '
                             f'{len(featmap_strides)} featmap_strides')
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.featmap_strides = tuple(featmap_strides)
        self.num_levels = len(in_channels)
        self.in_channels = [make_divisible(c, widen_factor) for c in in_channels]
        reg_channels = max(16, self.in_channels[0] // 4, 4 * reg_max)
        cls_channels = max(self.in_channels[0], min(num_classes, 100))

        def branch(c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                ConvModule(c_in, c_mid, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
                ConvModule(c_mid, c_mid, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
                nn.Conv2d(c_mid, c_out, 1))

        self.reg_preds = nn.ModuleList(
            branch(c, reg_channels, 4 * reg_max) for c in self.in_channels)
        self.cls_preds = nn.ModuleList(
            branch(c, cls_channels, num_classes) for c in self.in_channels)

    def init_weights(self) -> None:
        """ultralytics' init, then ``Detect.bias_init()``.

        Box bias 1.0; class bias ``log(5 / num_classes / (640 / stride)**2)`` (about 0.01
        objects per 640-px image and class), so that the first iterations of training from
        scratch do not drown in negatives.
        """
        if self.init_cfg is None:
            reset_yolo_parameters(self)
        else:
            super().init_weights()
        for reg_pred, cls_pred, stride in zip(self.reg_preds, self.cls_preds,
                                              self.featmap_strides):
            nn.init.constant_(reg_pred[-1].bias, 1.0)
            nn.init.constant_(cls_pred[-1].bias,
                              math.log(5 / self.num_classes / (640 / stride)**2))

    def forward(self, x: Sequence[torch.Tensor]
                ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Raw per-level predictions.

        Args:
            x (Sequence[Tensor]): Neck maps; level ``i`` is [B, in_channels[i], H_i, W_i].

        Returns:
            tuple: ``cls_scores`` (list of [B, num_classes, H_i, W_i] logits) and
            ``bbox_dist_preds`` (list of [B, 4 * reg_max, H_i, W_i] DFL logits, before
            softmax; side order left, top, right, bottom).
        """
        if len(x) != self.num_levels:
            raise ValueError(f'YOLOv8HeadModule expects {self.num_levels} feature maps, '
                             f'got {len(x)}')
        cls_scores = [cls_pred(feat) for cls_pred, feat in zip(self.cls_preds, x)]
        bbox_dist_preds = [reg_pred(feat) for reg_pred, feat in zip(self.reg_preds, x)]
        return cls_scores, bbox_dist_preds
