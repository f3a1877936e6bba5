"""Connectors: trainable maps from a student feature to the teacher's feature space."""
from torch import Tensor, nn

from cissreg.registry import MODELS


@MODELS.register_module()
class ConvConnector(nn.Module):
    """A 1x1 (or ``kernel_size``) convolution from student to teacher channels.

    The distiller fills ``in_channels`` / ``out_channels`` from the recorded maps when the
    config leaves them out; the connector is trained with the student and is not part of
    the exported student.

    Args:
        in_channels (int): Student channels.
        out_channels (int): Teacher channels.
        kernel_size (int): Odd kernel size; padding keeps the spatial size. Defaults to 1.
        bias (bool): Add a bias. Defaults to True.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'ConvConnector: kernel_size must be odd, got {kernel_size}')
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size,
                              padding=kernel_size // 2, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``[N, in_channels, H, W]`` to ``[N, out_channels, H, W]``."""
        return self.conv(x)
