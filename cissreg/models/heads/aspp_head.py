"""DeepLabV3's ASPP head (as DKD uses it): features for a per-step 1x1 classifier."""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from cissreg.registry import MODELS


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """Conv (no bias) + BN + ReLU with 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, padding=dilation * (kernel // 2), dilation=dilation,
                  bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


@MODELS.register_module()
class ASPPHead(BaseModule):
    """Atrous spatial pyramid pooling + projection + a last 3x3 conv.

    Branches: a 1x1 conv, three 3x3 convs at ``dilations`` and image pooling (global
    average, 1x1 conv, bilinear upsampling), each ``channels`` wide with BN + ReLU; their
    concatenation is projected by a 1x1 conv (BN + ReLU), dropped out (``dropout``) and passed
    through a 3x3 conv (BN + ReLU). The classifier is not part of the head.

    Args:
        in_channels (int): Backbone channels (2048 for ResNet-50/101, 512 for ResNet-18).
        channels (int): Width of every branch and of the output. Defaults to 256.
        dilations (Sequence[int]): Dilations of the 3x3 branches. Defaults to (6, 12, 18)
            (output stride 16).
        dropout (float): Dropout after the projection. Defaults to 0.1.
    """

    def __init__(self, in_channels: int, channels: int = 256,
                 dilations: Sequence[int] = (6, 12, 18), dropout: float = 0.1) -> None:
        super().__init__()
        self.branches = nn.ModuleList([conv_bn_relu(in_channels, channels)] + [
            conv_bn_relu(in_channels, channels, 3, d) for d in dilations])
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1),
                                        conv_bn_relu(in_channels, channels))
        self.project = conv_bn_relu(channels * (len(dilations) + 2), channels)
        self.dropout = nn.Dropout(dropout)
        self.last_conv = conv_bn_relu(channels, channels, 3)
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        """``[N, in_channels, h, w]`` -> ``[N, channels, h, w]``."""
        outs = [branch(x) for branch in self.branches]
        pooled = self.image_pool(x)
        outs.append(F.interpolate(pooled, size=x.shape[-2:], mode='bilinear',
                                  align_corners=False))
        return self.last_conv(self.dropout(self.project(torch.cat(outs, dim=1))))
