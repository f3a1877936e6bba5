"""Base class of the mmdet-contract losses: a subclass writes its formula, nothing else."""
from typing import Optional, Union

from mmengine.model import BaseModule
from torch import Tensor

from .weighted_reduction import check_reduction, weight_reduce_loss


class WeightedLoss(BaseModule):
    """mmdet's loss contract around an element-wise formula.

    ``forward(pred, target, weight=None, avg_factor=None, reduction_override=None, **kwargs)``
    checks the reduction, calls :meth:`elementwise` and returns
    ``loss_weight * weight_reduce_loss(elementwise(...), weight, reduction, avg_factor)``.
    A new loss implements :meth:`elementwise` (and its docstring with the shapes)::

        @MODELS.register_module()
        class L1Loss(WeightedLoss):
            def elementwise(self, pred, target):
                return (pred - target).abs()

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the reduced loss. Defaults to 1.0.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.loss_weight = loss_weight

    def elementwise(self, pred: Tensor, target: Tensor, **kwargs) -> Tensor:
        """The unreduced loss; ``weight`` must broadcast to its shape."""
        raise NotImplementedError(f'{type(self).__name__} must implement elementwise()')

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Weighted, reduced and scaled loss.

        Args:
            pred (Tensor): Prediction, shape as the subclass documents.
            target (Tensor): Target, shape as the subclass documents.
            weight (Tensor, optional): Broadcastable to the element-wise loss.
            avg_factor (float | Tensor, optional): Divisor of the summed loss with
                ``reduction='mean'``.
            reduction_override (str, optional): Replaces ``self.reduction`` for this call.
            **kwargs: Passed to :meth:`elementwise`.

        Returns:
            Tensor: Scalar, or the element-wise shape with ``reduction='none'``.
        """
        reduction = check_reduction(reduction_override or self.reduction)
        loss = self.elementwise(pred, target, **kwargs)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
