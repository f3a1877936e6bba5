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

    With ``out_features`` the last map is flattened and projected by ``Linear-BN-ReLU`` to a
    vector: unlike global average pooling this keeps *where* the strokes are, which is what
    tells digits apart (a randomly initialised network then already clusters about as well as
    the pixels, and training starts from there).

    Args:
        in_channels (int): Defaults to 3.
        channels (Sequence[int]): Channels of each stage. Defaults to (32, 64, 128).
        blocks_per_stage (int): Convolutions per stage. Defaults to 2.
        out_features (int, optional): Size of the flattened-and-projected output. Defaults to
            None (return the last feature map).
        input_size (int): Image side, needed with ``out_features``. Defaults to 28.
        init_cfg (dict, optional): mmengine init config.

    Shape:
        ``forward(x [N, in_channels, H, W]) -> [N, channels[-1], H / 2^(S-1), W / 2^(S-1)]``
        (the GCD model average-pools it to ``[N, channels[-1]]``), or ``[N, out_features]``.
    """

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (32, 64, 128),
                 blocks_per_stage: int = 2, out_features: Optional[int] = None,
                 input_size: int = 28, init_cfg: Optional[dict] = None) -> None:
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
        self.fc = None
        if out_features is not None:
            side = input_size
            for _ in channels[1:]:
                side = (side + 1) // 2
            self.fc = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, out_features),
                                    nn.BatchNorm1d(out_features), nn.ReLU(inplace=True))
            self.out_channels = out_features

    def forward(self, x: Tensor) -> Tensor:
        x = self.layers(x)
        return x if self.fc is None else self.fc(x)
