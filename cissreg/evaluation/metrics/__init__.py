from .cil_metric import CILMetric, cil_summary, grouped_accuracy
from .det_metric import DetMetric

__all__ = ['DetMetric', 'CILMetric', 'cil_summary', 'grouped_accuracy']
