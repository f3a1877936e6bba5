from .det_data_preprocessor import YOLODetDataPreprocessor
from .two_view_data_preprocessor import TwoViewDataPreprocessor

__all__ = ['YOLODetDataPreprocessor', 'TwoViewDataPreprocessor']
