from .backbone_freeze_hook import BackboneFreezeHook
from .det_visualization_hook import DetVisualizationHook

__all__ = ['BackboneFreezeHook', 'DetVisualizationHook']
