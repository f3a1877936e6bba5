"""Dice loss of mask logits (per mask), with the mmdet loss contract written by hand."""
from torch import Tensor

from cissreg.registry import MODELS

from .weighted_loss import WeightedLoss


@MODELS.register_module()
class DiceLoss(WeightedLoss):
    """``1 - (2 sum(p t) + eps) / (sum(p) + sum(t) + eps)`` per mask, ``p = sigmoid(pred)``.

    Dice is a ratio of sums over each mask's pixels, so it is not element-wise: the
    per-mask values [N] are what ``weight`` (shape [N]), ``reduction`` and ``avg_factor``
    act on.

    Args:
        eps (float): Smoothing added to numerator and denominator. Defaults to 1.0 (Sa2VA's
            mask dice: mmdet's naive dice with ``eps=1``).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplier. Defaults to 1.0.
    """

    def __init__(self, eps: float = 1.0, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.eps = eps

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """Per-mask dice loss.

        Args:
            pred (Tensor): Mask logits [N, ...].
            target (Tensor): Binary masks, ``pred``'s shape.

        Returns:
            Tensor: [N].
        """
        p = pred.sigmoid().flatten(1)
        t = target.to(p.dtype).flatten(1)
        return 1 - (2 * (p * t).sum(1) + self.eps) / (p.sum(1) + t.sum(1) + self.eps)
