from .bce_with_logits_loss import BCEWithLogitsLoss
from .distribution_focal_loss import DistributionFocalLoss, distribution_focal_loss
from .hinge_loss import HingeLoss, select_hard_pairs
from .iou_loss import IoULoss, aligned_bbox_iou
from .weighted_reduction import weight_reduce_loss

__all__ = [
    'BCEWithLogitsLoss', 'DistributionFocalLoss', 'distribution_focal_loss', 'IoULoss',
    'aligned_bbox_iou', 'weight_reduce_loss',
    'HingeLoss', 'select_hard_pairs'
]
