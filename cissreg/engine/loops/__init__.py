from .feature_loader import FeatureBatchLoader
from .incremental_loop import IncrementalLoop

__all__ = ['FeatureBatchLoader', 'IncrementalLoop']
