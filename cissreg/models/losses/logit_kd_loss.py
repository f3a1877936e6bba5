"""Logit distillation with per-class binary cross entropy (DKD's ``KDLoss``)."""
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .pixel_sum_loss import PixelSumLoss


def sigmoid_bce(pred: Tensor, target_logits: Tensor) -> Tensor:
    """``BCE(pred, sigmoid(target_logits))`` element-wise; the target is detached."""
    return F.binary_cross_entropy_with_logits(pred, target_logits.detach().sigmoid().to(pred.dtype),
                                              reduction='none')


@MODELS.register_module()
class LogitKDLoss(PixelSumLoss):
    """BCE of the student's old-class logits toward the old model's sigmoid probabilities.

    Applied at full resolution on channels ``1 .. C_old`` (the old model's foreground
    classes); reduced by :class:`PixelSumLoss`.

    Args:
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): DKD's ``kd`` (5). Defaults to 1.0.
    """

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """Args: pred ``[N, C_old, H, W]`` student logits, target ``[N, C_old, H, W]`` old
        model logits. Returns ``[N, C_old, H, W]``."""
        return sigmoid_bce(pred, target)
