from .ema import ExpMomentumEMA
from .grad_learner import GradLearner, grow_optimizer_state, softmax_ce_grad
from .yolo_bricks import SPPF, C2f, DarknetBottleneck

__all__ = [
    'ExpMomentumEMA', 'GradLearner', 'grow_optimizer_state', 'softmax_ce_grad', 'C2f', 'SPPF',
    'DarknetBottleneck'
]
