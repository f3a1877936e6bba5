from .coco_eval import COCO_AREA_RANGES, COCO_STAT_NAMES, CocoEvalResult, coco_bbox_eval
from .gcd_accuracy import gcd_cluster_accuracy
from .voc_map import VocMapResult, voc_map

__all__ = [
    'COCO_AREA_RANGES', 'COCO_STAT_NAMES', 'CocoEvalResult', 'VocMapResult', 'coco_bbox_eval',
    'voc_map', 'gcd_cluster_accuracy'
]
