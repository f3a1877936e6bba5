from .aux_background_loss import AuxBackgroundLoss
from .bce_with_logits_loss import BCEWithLogitsLoss
from .cwd_loss import ChannelWiseDivergence, channel_wise_divergence
from .decomposed_kd_loss import DecomposedKDLoss, decomposed_logits
from .dice_loss import DiceLoss
from .distribution_focal_loss import DistributionFocalLoss, distribution_focal_loss
from .fitness_loss import FitnessLoss
from .hinge_loss import HingeLoss, select_hard_pairs
from .iou_loss import IoULoss, aligned_bbox_iou
from .kl_response_loss import HeadResponseKL, KLResponseLoss, sigmoid_kl, softmax_kl
from .logit_kd_loss import LogitKDLoss
from .multilabel_bce_loss import MultiLabelBCELoss
from .prototypical_loss import PrototypicalLoss
from .pseudo_grad_align_loss import PseudoGradAlignLoss
from .supcon_loss import InfoNCELoss, PseudoSupConLoss, SupConLoss, supcon_per_anchor
from .weighted_reduction import weight_reduce_loss

__all__ = [
    'BCEWithLogitsLoss', 'DistributionFocalLoss', 'distribution_focal_loss', 'IoULoss',
    'aligned_bbox_iou', 'weight_reduce_loss',
    'HingeLoss', 'select_hard_pairs',
    'ChannelWiseDivergence', 'channel_wise_divergence', 'HeadResponseKL', 'KLResponseLoss',
    'sigmoid_kl', 'softmax_kl',
    'AuxBackgroundLoss', 'DecomposedKDLoss', 'decomposed_logits', 'FitnessLoss', 'LogitKDLoss',
    'MultiLabelBCELoss', 'PseudoGradAlignLoss',
    'InfoNCELoss', 'PseudoSupConLoss', 'SupConLoss', 'supcon_per_anchor', 'PrototypicalLoss',
    'DiceLoss'
]
