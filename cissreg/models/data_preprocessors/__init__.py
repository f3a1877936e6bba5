from .det_data_preprocessor import YOLODetDataPreprocessor

__all__ = ['YOLODetDataPreprocessor']
