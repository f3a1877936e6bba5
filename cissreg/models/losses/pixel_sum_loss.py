"""Base of the CISS losses: the sum over classes of per-class pixel means (DKD's reduction)."""
from typing import Optional, Union

from torch import Tensor

from .weighted_loss import WeightedLoss


class PixelSumLoss(WeightedLoss):
    """A :class:`WeightedLoss` over dense maps ``[N, C, H, W]`` reduced as DKD reduces.

    DKD averages every class channel over the pixels of the batch and sums the classes
    (``loss.mean(dim=[0, 2, 3]).sum()``). Here that is the default of ``reduction='mean'``:
    when no ``avg_factor`` is given, the element-wise loss is summed and divided by the number
    of pixels ``N * H * W`` (not by the number of elements ``N * C * H * W``). An explicit
    ``avg_factor`` keeps the mmdet meaning (sum / avg_factor).

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the reduced loss. Defaults to 1.0.
    """

    def forward(self,
                pred: Tensor,
                target: Optional[Tensor],
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Weighted, reduced and scaled loss; see :class:`WeightedLoss` for the arguments.

        ``pred`` is ``[N, C, H, W]``; with ``reduction='mean'`` and no ``avg_factor`` the
        divisor is ``N * H * W``.
        """
        reduction = reduction_override or self.reduction
        if reduction == 'mean' and avg_factor is None and pred.dim() >= 2:
            avg_factor = max(pred.numel() // max(pred.shape[1], 1), 1)
        return super().forward(pred, target, weight=weight, avg_factor=avg_factor,
                               reduction_override=reduction_override, **kwargs)
