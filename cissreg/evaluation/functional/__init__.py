from .coco_eval import (COCO_AREA_RANGES, COCO_STAT_NAMES, CocoEvalResult, VocMapResult,
                        coco_bbox_eval, voc_map)

__all__ = [
    'COCO_AREA_RANGES', 'COCO_STAT_NAMES', 'CocoEvalResult', 'VocMapResult', 'coco_bbox_eval',
    'voc_map'
]
