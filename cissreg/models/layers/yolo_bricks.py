"""YOLOv8 building blocks (``C2f``, ``SPPF``, ``DarknetBottleneck``) and scaling rules.

Every convolution is an mmcv ``ConvModule`` (Conv2d without bias + BN + SiLU), the same unit as
ultralytics' ``Conv``; layer names follow mmyolo so that checkpoints of both stay convertible.
"""
import math
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm

from cissreg.registry import MODELS

YOLO_NORM_CFG = dict(type='BN', momentum=0.03, eps=0.001)
YOLO_ACT_CFG = dict(type='SiLU', inplace=True)


def make_divisible(channels: float, widen_factor: float = 1.0, divisor: int = 8) -> int:
    """Scale a base channel count by ``widen_factor``, rounded up to a multiple of ``divisor``.

    Same rule as ultralytics ``make_divisible(c * width, 8)``.

    Args:
        channels (float): Base channel count.
        widen_factor (float): Width multiplier. Defaults to 1.0.
        divisor (int): Result is a multiple of it. Defaults to 8.

    Returns:
        int: Scaled channel count.
    """
    return int(math.ceil(channels * widen_factor / divisor) * divisor)


def make_round(num_blocks: int, deepen_factor: float = 1.0) -> int:
    """Scale a base block count by ``deepen_factor`` (ultralytics' depth gain).

    Args:
        num_blocks (int): Base number of blocks; 1 stays 1.
        deepen_factor (float): Depth multiplier. Defaults to 1.0.

    Returns:
        int: ``max(round(num_blocks * deepen_factor), 1)`` if ``num_blocks > 1`` else
        ``num_blocks``.
    """
    return max(round(num_blocks * deepen_factor), 1) if num_blocks > 1 else num_blocks


def reset_yolo_parameters(module: nn.Module) -> None:
    """Initialise like ultralytics: PyTorch's default Conv2d init, BN weight 1 / bias 0.

    mmcv's ``ConvModule`` applies Kaiming-normal (fan_out) init at construction; ultralytics
    (and mmyolo's YOLOv8) keep ``nn.Conv2d.reset_parameters``.

    Args:
        module (nn.Module): Every ``nn.Conv2d`` and BN layer inside it is reset.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            m.reset_parameters()
        elif isinstance(m, _BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@MODELS.register_module()
class DarknetBottleneck(BaseModule):
    """Two stacked ConvModules with an optional identity shortcut (ultralytics ``Bottleneck``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expansion (float): Hidden channels = ``int(out_channels * expansion)``. Defaults to 0.5.
        kernel_size (Sequence[int]): Kernel sizes of the two convs (padding ``k // 2``).
            Defaults to (3, 3).
        add_identity (bool): Add the input to the output when ``in_channels ==
            out_channels``. Defaults to True.
        norm_cfg (dict): Norm layer config. Defaults to BN(momentum=0.03, eps=0.001).
        act_cfg (dict): Activation config. Defaults to SiLU(inplace=True).
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expansion: float = 0.5,
                 kernel_size: Sequence[int] = (3, 3),
                 add_identity: bool = True,
                 norm_cfg: dict = YOLO_NORM_CFG,
                 act_cfg: dict = YOLO_ACT_CFG,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden_channels = int(out_channels * expansion)
        self.conv1 = ConvModule(in_channels, hidden_channels, kernel_size[0],
                                padding=kernel_size[0] // 2, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = ConvModule(hidden_channels, out_channels, kernel_size[1],
                                padding=kernel_size[1] // 2, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block.

        Args:
            x (Tensor): [B, in_channels, H, W].

        Returns:
            Tensor: [B, out_channels, H, W].
        """
        out = self.conv2(self.conv1(x))
        return x + out if self.add_identity else out


@MODELS.register_module()
class C2f(BaseModule):
    """CSP layer with two convolutions (ultralytics ``C2f``, mmyolo ``CSPLayerWithTwoConv``).

    ``main_conv`` (1x1) makes ``2c`` channels (``c = int(out_channels * expand_ratio)``), split
    in two halves; each of the ``num_blocks`` bottlenecks takes the last chunk and appends its
    output; the ``(2 + num_blocks) * c`` channels are concatenated and fused by ``final_conv``
    (1x1).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        expand_ratio (float): Hidden-channel ratio. Defaults to 0.5.
        num_blocks (int): Number of bottlenecks. Defaults to 1.
        add_identity (bool): Residual shortcut inside the bottlenecks. Defaults to True.
        norm_cfg (dict): Norm layer config. Defaults to BN(momentum=0.03, eps=0.001).
        act_cfg (dict): Activation config. Defaults to SiLU(inplace=True).
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expand_ratio: float = 0.5,
                 num_blocks: int = 1,
                 add_identity: bool = True,
                 norm_cfg: dict = YOLO_NORM_CFG,
                 act_cfg: dict = YOLO_ACT_CFG,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mid_channels = int(out_channels * expand_ratio)
        self.main_conv = ConvModule(in_channels, 2 * self.mid_channels, 1,
                                    norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvModule((2 + num_blocks) * self.mid_channels, out_channels, 1,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.blocks = nn.ModuleList(
            DarknetBottleneck(self.mid_channels, self.mid_channels, expansion=1.0,
                              kernel_size=(3, 3), add_identity=add_identity,
                              norm_cfg=norm_cfg, act_cfg=act_cfg)
            for _ in range(num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer.

        Args:
            x (Tensor): [B, in_channels, H, W].

        Returns:
            Tensor: [B, out_channels, H, W].
        """
        outs = list(self.main_conv(x).chunk(2, 1))
        for block in self.blocks:
            outs.append(block(outs[-1]))
        return self.final_conv(torch.cat(outs, 1))


@MODELS.register_module()
class SPPF(BaseModule):
    """Spatial pyramid pooling, fast: 1x1 conv, three chained max-pools, concat, 1x1 conv.

    Args:
        in_channels (int): Input channels (hidden = ``in_channels // 2``).
        out_channels (int): Output channels.
        kernel_size (int): Max-pool kernel (stride 1, padding ``k // 2``). Defaults to 5.
        norm_cfg (dict): Norm layer config. Defaults to BN(momentum=0.03, eps=0.001).
        act_cfg (dict): Activation config. Defaults to SiLU(inplace=True).
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 5,
                 norm_cfg: dict = YOLO_NORM_CFG,
                 act_cfg: dict = YOLO_ACT_CFG,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        mid_channels = in_channels // 2
        self.conv1 = ConvModule(in_channels, mid_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.poolings = nn.MaxPool2d(kernel_size=kernel_size, stride=1, padding=kernel_size // 2)
        self.conv2 = ConvModule(4 * mid_channels, out_channels, 1,
                                norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer.

        Args:
            x (Tensor): [B, in_channels, H, W].

        Returns:
            Tensor: [B, out_channels, H, W].
        """
        outs = [self.conv1(x)]
        for _ in range(3):
            outs.append(self.poolings(outs[-1]))
        return self.conv2(torch.cat(outs, 1))
