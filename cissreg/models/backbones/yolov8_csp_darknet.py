"""YOLOv8 CSP-Darknet backbone (ultralytics ``yolov8.yaml`` layers 0-9)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm

from cissreg.registry import MODELS

from ..layers.yolo_bricks import (SPPF, YOLO_ACT_CFG, YOLO_NORM_CFG, C2f, make_divisible,
                                  make_round, reset_yolo_parameters)


def yolov8_arch_settings(arch: str, last_stage_out_channels: int) -> List[list]:
    """Per-stage settings ``[in_channels, out_channels, num_blocks, add_identity, use_spp]``.

    Base (unscaled) values; a new list on every call so that no instance shares state.

    Args:
        arch (str): Architecture name; only ``'P5'`` (strides 8/16/32 outputs).
        last_stage_out_channels (int): Base output channels of the last stage
            (1024 for n/s, 768 for m, 512 for l/x).

    Returns:
        list[list]: One entry per stage.
    """
    if arch != 'P5':
        raise ValueError(f"YOLOv8CSPDarknet: unknown arch '{arch}', expected one of ['P5']")
    return [[64, 128, 3, True, False],
            [128, 256, 6, True, False],
            [256, 512, 6, True, False],
            [512, last_stage_out_channels, 3, True, True]]


@MODELS.register_module()
class YOLOv8CSPDarknet(BaseModule):
    """CSP-Darknet backbone of YOLOv8.

    Layers are ``stem`` (3x3 s2 ConvModule) and ``stage1`` .. ``stage4``, each a
    ``nn.Sequential`` of a 3x3 s2 ConvModule and a ``C2f`` (the last stage also ends with an
    ``SPPF``). Channels are ``make_divisible(base * widen_factor, 8)``, block counts
    ``make_round(base * deepen_factor)``, exactly as ultralytics scales ``yolov8{n,s,m,l,x}``.

    Args:
        arch (str): Architecture. Defaults to 'P5'.
        last_stage_out_channels (int): Base output channels of the last stage. Defaults to 1024.
        deepen_factor (float): Depth multiplier. Defaults to 1.0.
        widen_factor (float): Width multiplier. Defaults to 1.0.
        input_channels (int): Image channels. Defaults to 3.
        out_indices (Sequence[int]): Indices of layers (0 = stem, 1..4 = stages) whose outputs
            are returned. Defaults to (2, 3, 4) (strides 8, 16, 32).
        frozen_stages (int): Layers ``0..frozen_stages`` are frozen (no gradients, BN in eval
            mode); -1 freezes nothing. Defaults to -1.
        norm_cfg (dict): Norm layer config. Defaults to BN(momentum=0.03, eps=0.001).
        act_cfg (dict): Activation config. Defaults to SiLU(inplace=True).
        norm_eval (bool): Keep every BN layer in eval mode during training. Defaults to False.
        init_cfg (dict, optional): mmengine init config; None gives ultralytics' init.
    """

    def __init__(self,
                 arch: str = 'P5',
                 last_stage_out_channels: int = 1024,
                 deepen_factor: float = 1.0,
                 widen_factor: float = 1.0,
                 input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4),
                 frozen_stages: int = -1,
                 norm_cfg: dict = YOLO_NORM_CFG,
                 act_cfg: dict = YOLO_ACT_CFG,
                 norm_eval: bool = False,
                 init_cfg: dict = None) -> None:
        super().__init__(init_cfg=init_cfg)
        arch_settings = yolov8_arch_settings(arch, last_stage_out_channels)
        num_layers = len(arch_settings) + 1
        if not set(out_indices) <= set(range(num_layers)):
            raise ValueError(f'YOLOv8CSPDarknet: out_indices {tuple(out_indices)} must lie in '
                             f'0..{num_layers - 1}')
        if frozen_stages not in range(-1, num_layers):
            raise ValueError(f'YOLOv8CSPDarknet: frozen_stages={frozen_stages} must lie in '
                             f'-1..{num_layers - 1}')
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        stem_channels = make_divisible(arch_settings[0][0], widen_factor)
        self.stem = ConvModule(input_channels, stem_channels, 3, stride=2, padding=1,
                               norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.layers = ['stem']
        self.out_channels = [stem_channels]
        for i, (in_c, out_c, num_blocks, add_identity, use_spp) in enumerate(arch_settings):
            in_c = make_divisible(in_c, widen_factor)
            out_c = make_divisible(out_c, widen_factor)
            stage = [
                ConvModule(in_c, out_c, 3, stride=2, padding=1,
                           norm_cfg=norm_cfg, act_cfg=act_cfg),
                C2f(out_c, out_c, num_blocks=make_round(num_blocks, deepen_factor),
                    add_identity=add_identity, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ]
            if use_spp:
                stage.append(SPPF(out_c, out_c, kernel_size=5, norm_cfg=norm_cfg,
                                  act_cfg=act_cfg))
            self.add_module(f'stage{i + 1}', nn.Sequential(*stage))
            self.layers.append(f'stage{i + 1}')
            self.out_channels.append(out_c)
        self._freeze_stages()

    def init_weights(self) -> None:
        """ultralytics' init (PyTorch default Conv2d) unless ``init_cfg`` is set."""
        if self.init_cfg is None:
            reset_yolo_parameters(self)
        else:
            super().init_weights()

    def _freeze_stages(self) -> None:
        for name in self.layers[:self.frozen_stages + 1]:
            layer = getattr(self, name)
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'YOLOv8CSPDarknet':
        """Set train mode, keeping frozen layers (and all BN if ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Extract features.

        Args:
            x (Tensor): Images [B, input_channels, H, W], H and W multiples of 32.

        Returns:
            tuple[Tensor]: For each index ``i`` in ``out_indices`` a map
            [B, out_channels[i], H / 2**(i + 1), W / 2**(i + 1)].
        """
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
