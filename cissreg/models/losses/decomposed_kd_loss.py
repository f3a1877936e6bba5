"""Decomposed knowledge distillation (DKD, Baek et al., NeurIPS 2022)."""
import torch
from torch import Tensor

from cissreg.registry import MODELS

from .logit_kd_loss import sigmoid_bce
from .pixel_sum_loss import PixelSumLoss


def decomposed_logits(feat: Tensor, cls_weight: Tensor) -> tuple:
    """Positive and negative parts of 1x1-classifier logits, without bias.

    Args:
        feat (Tensor): ``[N, D, h, w]`` features fed to the classifier.
        cls_weight (Tensor): ``[C, D]`` (or ``[C, D, 1, 1]``) classifier weight.

    Returns:
        tuple[Tensor, Tensor]: ``feat x max(W, 0)`` and ``feat x min(W, 0)``, each
        ``[N, C, h, w]``.
    """
    w = cls_weight.reshape(cls_weight.shape[0], -1)
    pos = torch.einsum('ndhw,cd->nchw', feat, w.clamp(min=0))
    neg = torch.einsum('ndhw,cd->nchw', feat, w.clamp(max=0))
    return pos, neg


@MODELS.register_module()
class DecomposedKDLoss(PixelSumLoss):
    """BCE between decomposed old-class logits of the student and of the old model.

    With features ``f`` (``[N, D, h, w]``, the head output before the classifier, at
    feature resolution) and the old classes' weights ``W`` (``[C_old, D]``), the positive
    logits are ``f x max(W, 0)`` and the negative ``f x min(W, 0)`` (no bias); each student
    part is pulled by BCE toward the sigmoid of the old model's same part. Element-wise:
    ``pos_weight * BCE_pos + neg_weight * BCE_neg``; reduced by :class:`PixelSumLoss`.

    Args:
        pos_weight (float): DKD's ``dkd_pos`` (5). Defaults to 1.0.
        neg_weight (float): DKD's ``dkd_neg`` (5). Defaults to 1.0.
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): Overall multiplier. Defaults to 1.0.
    """

    def __init__(self, pos_weight: float = 1.0, neg_weight: float = 1.0,
                 reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.pos_weight = pos_weight
        self.neg_weight = neg_weight

    def elementwise(self, pred: Tensor, target: Tensor, cls_weight: Tensor,
                    old_cls_weight: Tensor) -> Tensor:
        """Weighted sum of the positive and negative BCE maps.

        Args:
            pred (Tensor): ``[N, D, h, w]`` student features.
            target (Tensor): ``[N, D, h, w]`` old model features (detached).
            cls_weight (Tensor): ``[C_old, D]`` student weights of the old classes.
            old_cls_weight (Tensor): ``[C_old, D]`` old model weights (detached).

        Returns:
            Tensor: ``[N, C_old, h, w]``.
        """
        pos, neg = decomposed_logits(pred, cls_weight)
        with torch.no_grad():
            old_pos, old_neg = decomposed_logits(target.detach(), old_cls_weight.detach())
        return (self.pos_weight * sigmoid_bce(pos, old_pos)
                + self.neg_weight * sigmoid_bce(neg, old_neg))
