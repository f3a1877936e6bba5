from .det_drawing import (GT_COLOR, MATCHED_COLOR, UNMATCHED_COLOR, bbox_iou_matrix,
                          draw_det_result, match_predictions)
from .det_local_visualizer import DetLocalVisualizer, gt_from_instances

__all__ = [
    'GT_COLOR', 'MATCHED_COLOR', 'UNMATCHED_COLOR', 'bbox_iou_matrix', 'draw_det_result',
    'match_predictions', 'DetLocalVisualizer', 'gt_from_instances'
]
