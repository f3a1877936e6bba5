from .det_metric import DetMetric

__all__ = ['DetMetric']
