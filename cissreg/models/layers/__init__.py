from .ema import ExpMomentumEMA
from .grad_learner import GradLearner, grow_optimizer_state, seeded_linear, softmax_ce_grad
from .pixel_replay import PixelReplay
from .yolo_bricks import SPPF, C2f, DarknetBottleneck

__all__ = [
    'ExpMomentumEMA', 'GradLearner', 'grow_optimizer_state', 'seeded_linear', 'softmax_ce_grad',
    'PixelReplay', 'C2f', 'SPPF',
    'DarknetBottleneck'
]
