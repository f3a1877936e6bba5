"""torchvision ResNet-18/34/50/101 as a dilated backbone (output stride 16 or 8), no download."""
from typing import Optional

import torchvision
from mmengine.model import BaseModule
from torch import Tensor, nn

from cissreg.registry import MODELS

_ARCHS = {18: 'resnet18', 34: 'resnet34', 50: 'resnet50', 101: 'resnet101', 152: 'resnet152'}


def dilate_stage(stage: nn.Sequential, dilation: int) -> None:
    """Turn a strided ResNet stage into a dilated one (same weights, stride 1).

    Every stride-2 convolution (the first block's conv and its downsample) gets stride 1 and
    every 3x3 convolution dilation ``dilation`` (padding ``dilation``), so the stage keeps the
    previous stage's resolution and its receptive field. Works for Basic and Bottleneck
    blocks (torchvision's own ``replace_stride_with_dilation`` refuses BasicBlock).
    """
    for module in stage.modules():
        if isinstance(module, nn.Conv2d):
            if module.stride == (2, 2):
                module.stride = (1, 1)
            if module.kernel_size == (3, 3):
                module.dilation = (dilation, dilation)
                module.padding = (dilation, dilation)


@MODELS.register_module()
class TorchvisionResNet(BaseModule):
    """A torchvision ResNet without ``avgpool`` / ``fc``, dilated to ``out_stride``.

    Built with ``weights=None`` (nothing is downloaded). ImageNet weights come from a local
    torchvision ``.pth`` through ``init_cfg=dict(type='Pretrained', checkpoint=PATH)``: the
    parameter names are torchvision's (``conv1``, ``bn1``, ``layer1`` ... ``layer4``), so the
    file loads as it is (its ``fc.*`` keys are ignored with a warning).

    Args:
        depth (int): 18, 34, 50, 101 or 152. Defaults to 101.
        out_stride (int): 16 (``layer4`` dilated by 2) or 8 (``layer3`` by 2, ``layer4`` by
            4) or 32. Defaults to 16.
        num_stages (int): 4, or 3 to drop ``layer4`` (a light backbone for small images;
            its native stride is then 16, dilated to 8 with ``out_stride=8``). Defaults to 4.
        bn_momentum (float, optional): Momentum of every BN layer's running statistics
            (DKD uses 0.01); ``None`` keeps torchvision's 0.1. Defaults to None.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, depth: int = 101, out_stride: int = 16, num_stages: int = 4,
                 bn_momentum: Optional[float] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if depth not in _ARCHS:
            raise ValueError(f'TorchvisionResNet: depth must be one of {sorted(_ARCHS)}, '
                             f'got {depth}')
        if out_stride not in (8, 16, 32) or num_stages not in (3, 4) or (
                num_stages == 3 and out_stride == 32):
            raise ValueError(f'TorchvisionResNet: out_stride must be 8, 16 or 32 (8 or 16 '
                             f'with num_stages=3), num_stages 3 or 4; got out_stride='
                             f'{out_stride}, num_stages={num_stages}')
        net = getattr(torchvision.models, _ARCHS[depth])(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3 = net.layer1, net.layer2, net.layer3
        self.layer4 = net.layer4 if num_stages == 4 else nn.Identity()
        if num_stages == 4 and out_stride <= 16:
            dilate_stage(self.layer4, 2 if out_stride == 16 else 4)
        if out_stride == 8:
            dilate_stage(self.layer3, 2)
        if bn_momentum is not None:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.momentum = bn_momentum
        self.out_channels = net.fc.in_features // (2 if num_stages == 3 else 1)
        self.depth, self.out_stride = depth, out_stride

    def forward(self, x: Tensor) -> Tensor:
        """``[N, 3, H, W]`` -> ``[N, C, H / out_stride, W / out_stride]`` (C: 512 / 2048,
        half that with ``num_stages=3``)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
