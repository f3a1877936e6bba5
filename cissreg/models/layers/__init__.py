from .ema import ExpMomentumEMA
from .yolo_bricks import C2f, SPPF, DarknetBottleneck

__all__ = ['ExpMomentumEMA', 'C2f', 'SPPF', 'DarknetBottleneck']
