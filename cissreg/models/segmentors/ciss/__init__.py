from .incremental_segmentor import IncrementalSegmentor
from .prediction import sigmoid_argmax_prediction
from .seg_data_preprocessor import SegDataPreprocessor, stack_label_maps

__all__ = [
    'IncrementalSegmentor', 'SegDataPreprocessor', 'sigmoid_argmax_prediction',
    'stack_label_maps'
]
