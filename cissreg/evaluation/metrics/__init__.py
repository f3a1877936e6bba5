from .cil_metric import CILMetric, cil_summary, grouped_accuracy
from .ciss_metric import CISSMetric, ciss_miou, class_iou, confusion_matrix
from .det_metric import DetMetric
from .gcd_metric import GCDMetric
from .ris_metric import RISMetric

__all__ = ['DetMetric', 'CILMetric', 'cil_summary', 'grouped_accuracy', 'CISSMetric',
           'ciss_miou', 'class_iou', 'confusion_matrix', 'GCDMetric',
           'RISMetric']
