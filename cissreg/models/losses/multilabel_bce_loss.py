"""DKD's multi-label BCE (MBCE) on the current step's class logits."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .pixel_sum_loss import PixelSumLoss


def one_hot_targets(label: Tensor, first_class: int, num_classes: int) -> Tensor:
    """Binary targets of classes ``first_class .. first_class + num_classes - 1``.

    Args:
        label (Tensor): ``[N, H, W]`` integer label map (0 background, 255 ignore).
        first_class (int): Label of channel 0 (>= 1, so 0 and 255 are never a positive).
        num_classes (int): Number of channels ``C``.

    Returns:
        Tensor: ``[N, C, H, W]`` float, 1 where ``label == first_class + c``.
    """
    classes = torch.arange(first_class, first_class + num_classes, device=label.device)
    return (label.unsqueeze(1) == classes.view(1, -1, 1, 1)).float()


@MODELS.register_module()
class MultiLabelBCELoss(PixelSumLoss):
    """Binary cross entropy of every current-step class against its one-vs-rest mask.

    ``-(pos_weight * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))`` per class and
    pixel, with ``y = (label == first_class + c)``: background (0) and ignore (255) pixels
    are negatives of every class, as in DKD (its ``WBCELoss``). Reduced by
    :class:`PixelSumLoss` (sum over classes of per-class pixel means).

    Args:
        pos_weight (float): Weight of the positive term. Defaults to 1.0.
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, pos_weight: float = 1.0, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.pos_weight = pos_weight

    def elementwise(self, pred: Tensor, target: Tensor, first_class: int = 1,
                    pos_weight: Optional[float] = None) -> Tensor:
        """Per-class, per-pixel BCE.

        Args:
            pred (Tensor): ``[N, C, H, W]`` logits of the current step's classes.
            target (Tensor): ``[N, H, W]`` label map.
            first_class (int): Label of ``pred``'s channel 0. Defaults to 1.
            pos_weight (float, optional): Replaces ``self.pos_weight`` for this call
                (DKD's VOC recipe uses 2 in step 0, 1 later).

        Returns:
            Tensor: ``[N, C, H, W]``.
        """
        onehot = one_hot_targets(target, first_class, pred.shape[1]).to(pred.dtype)
        weight = self.pos_weight if pos_weight is None else pos_weight
        pw = torch.full((pred.shape[1], 1, 1), float(weight), dtype=pred.dtype,
                        device=pred.device)
        return F.binary_cross_entropy_with_logits(pred, onehot, pos_weight=pw,
                                                  reduction='none')
