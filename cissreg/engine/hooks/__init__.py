from .backbone_freeze_hook import BackboneFreezeHook
from .det_visualization_hook import DetVisualizationHook
from .gaussian_replay_hook import GaussianReplayHook

__all__ = ['GaussianReplayHook', 'BackboneFreezeHook', 'DetVisualizationHook']
