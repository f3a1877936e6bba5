from .bce_with_logits_loss import BCEWithLogitsLoss
from .cwd_loss import ChannelWiseDivergence, channel_wise_divergence
from .distribution_focal_loss import DistributionFocalLoss, distribution_focal_loss
from .hinge_loss import HingeLoss, select_hard_pairs
from .iou_loss import IoULoss, aligned_bbox_iou
from .kl_response_loss import KLResponseLoss, sigmoid_kl, softmax_kl
from .weighted_reduction import weight_reduce_loss

__all__ = [
    'BCEWithLogitsLoss', 'DistributionFocalLoss', 'distribution_focal_loss', 'IoULoss',
    'aligned_bbox_iou', 'weight_reduce_loss',
    'HingeLoss', 'select_hard_pairs',
    'ChannelWiseDivergence', 'channel_wise_divergence', 'KLResponseLoss', 'sigmoid_kl',
    'softmax_kl'
]
