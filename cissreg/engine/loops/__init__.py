from .feature_loader import FeatureBatchLoader
from .incremental_loop import IncrementalLoop
from .incremental_state import IncrementalStateHook

__all__ = ['FeatureBatchLoader', 'IncrementalLoop', 'IncrementalStateHook']
