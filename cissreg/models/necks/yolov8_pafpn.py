"""YOLOv8 path-aggregation FPN (ultralytics ``yolov8.yaml`` layers 10-21)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from cissreg.registry import MODELS

from ..layers.yolo_bricks import (YOLO_ACT_CFG, YOLO_NORM_CFG, C2f, make_divisible, make_round,
                                  reset_yolo_parameters)


@MODELS.register_module()
class YOLOv8PAFPN(BaseModule):
    """Top-down then bottom-up feature fusion of YOLOv8.

    Top-down, from the coarsest level: nearest 2x upsample, concat ``[upsampled, lateral]``,
    ``C2f`` without shortcut (``top_down_layers[0]`` makes P4, ``[1]`` makes P3). Bottom-up:
    3x3 s2 ConvModule, concat ``[downsampled, top-down map]``, ``C2f`` without shortcut
    (``downsample_layers[i]`` / ``bottom_up_layers[i]`` make P4 then P5). Every channel list
    holds base values, scaled by ``widen_factor`` inside.

    Args:
        in_channels (Sequence[int]): Base channels of the backbone maps, fine to coarse.
            Defaults to [256, 512, 1024].
        out_channels (Sequence[int]): Base channels of the outputs. Defaults to
            [256, 512, 1024].
        deepen_factor (float): Depth multiplier. Defaults to 1.0.
        widen_factor (float): Width multiplier. Defaults to 1.0.
        num_csp_blocks (int): Base bottleneck count of each ``C2f``. Defaults to 3.
        norm_cfg (dict): Norm layer config. Defaults to BN(momentum=0.03, eps=0.001).
        act_cfg (dict): Activation config. Defaults to SiLU(inplace=True).
        init_cfg (dict, optional): mmengine init config; None gives ultralytics' init.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024),
                 out_channels: Sequence[int] = (256, 512, 1024),
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 num_csp_blocks: int = 3,
                 norm_cfg: dict = YOLO_NORM_CFG,
                 act_cfg: dict = YOLO_ACT_CFG,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(in_channels) != len(out_channels) or len(in_channels) < 2:
            raise ValueError(f'YOLOv8PAFPN: in_channels {list(in_channels)} and out_channels '
                             f'{list(out_channels)} must have the same length >= 2')
        in_chs = [make_divisible(c, widen_factor) for c in in_channels]
        out_chs = [make_divisible(c, widen_factor) for c in out_channels]
        num_blocks = make_round(num_csp_blocks, deepen_factor)
        num_levels = len(in_chs)
        self.num_levels = num_levels
        self.out_channels = out_chs

        def c2f(c_in: int, c_out: int) -> C2f:
            return C2f(c_in, c_out, num_blocks=num_blocks, add_identity=False,
                       norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.upsample_layers = nn.ModuleList()
        self.top_down_layers = nn.ModuleList()
        # inner_chs[i]: channels of the top-down map of level i (the coarsest is the input)
        inner_chs: List[int] = [0] * (num_levels - 1) + [in_chs[-1]]
        for idx in range(num_levels - 1, 0, -1):
            self.upsample_layers.append(nn.Upsample(scale_factor=2, mode='nearest'))
            self.top_down_layers.append(c2f(inner_chs[idx] + in_chs[idx - 1], out_chs[idx - 1]))
            inner_chs[idx - 1] = out_chs[idx - 1]

        self.downsample_layers = nn.ModuleList()
        self.bottom_up_layers = nn.ModuleList()
        for idx in range(num_levels - 1):
            self.downsample_layers.append(
                ConvModule(out_chs[idx], out_chs[idx], 3, stride=2, padding=1,
                           norm_cfg=norm_cfg, act_cfg=act_cfg))
            self.bottom_up_layers.append(c2f(out_chs[idx] + inner_chs[idx + 1], out_chs[idx + 1]))

    def init_weights(self) -> None:
        """ultralytics' init (PyTorch default Conv2d) unless ``init_cfg`` is set."""
        if self.init_cfg is None:
            reset_yolo_parameters(self)
        else:
            super().init_weights()

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Fuse the backbone maps.

        Args:
            inputs (Sequence[Tensor]): Backbone maps, fine to coarse; level ``i`` is
                [B, make_divisible(in_channels[i] * widen_factor), H_i, W_i] with
                ``H_i = 2 * H_{i+1}``.

        Returns:
            tuple[Tensor]: Level ``i`` is [B, make_divisible(out_channels[i] * widen_factor),
            H_i, W_i] (P3, P4, P5 for three levels).
        """
        if len(inputs) != self.num_levels:
            raise ValueError(f'YOLOv8PAFPN expects {self.num_levels} feature maps, '
                             f'got {len(inputs)}')
        inner_outs = [inputs[-1]]
        for k, idx in enumerate(range(self.num_levels - 1, 0, -1)):
            upsampled = self.upsample_layers[k](inner_outs[0])
            inner = self.top_down_layers[k](torch.cat([upsampled, inputs[idx - 1]], 1))
            inner_outs.insert(0, inner)
        outs = [inner_outs[0]]
        for idx in range(self.num_levels - 1):
            downsampled = self.downsample_layers[idx](outs[-1])
            out = self.bottom_up_layers[idx](torch.cat([downsampled, inner_outs[idx + 1]], 1))
            outs.append(out)
        return tuple(outs)
