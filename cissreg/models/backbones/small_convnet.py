"""A small VGG-style convolutional network for 28-32 px images (CPU-sized)."""
from typing import Optional, Sequence

from mmengine.model import BaseModule
from torch import Tensor, nn

from cissreg.registry import MODELS


@MODELS.register_module()
class SmallConvNet(BaseModule):
    """Stages of ``Conv3x3-BN-ReLU`` blocks, each stage after the first halving the size.

    With the defaults a 28x28 image goes 28 -> 14 -> 7 with 32 / 64 / 128 channels (about
    0.3 M parameters, 11 M multiply-adds per image): small enough to train a contrastive model
    on a few thousand digits on one CPU core in minutes.

    Args:
        in_channels (int): Defaults to 3.
        channels (Sequence[int]): Channels of each stage. Defaults to (32, 64, 128).
        blocks_per_stage (int): Convolutions per stage. Defaults to 2.
        init_cfg (dict, optional): mmengine init config.

    Shape:
        ``forward(x [N, in_channels, H, W]) -> [N, channels[-1], H / 2^(S-1), W / 2^(S-1)]``
        (the GCD model average-pools it to ``[N, channels[-1]]``).
    """

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (32, 64, 128),
                 blocks_per_stage: int = 2, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not channels or blocks_per_stage < 1:
            raise ValueError(f'SmallConvNet: channels must be non-empty and blocks_per_stage '
                             f'>= 1, got {channels} and {blocks_per_stage}')
        layers, c_in = [], in_channels
        for i, c_out in enumerate(channels):
            for j in range(blocks_per_stage):
                stride = 2 if i > 0 and j == 0 else 1
                layers += [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                           nn.ReLU(inplace=True)]
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.out_channels = c_in

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
