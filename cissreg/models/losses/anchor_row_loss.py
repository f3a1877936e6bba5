"""Base of the temperature-scaled losses over the rows of a feature batch where only some
rows are anchors (SupCon and its variants, the prototypical loss)."""
from typing import Optional, Union

from torch import Tensor

from .weighted_loss import WeightedLoss


class AnchorRowLoss(WeightedLoss):
    """:class:`WeightedLoss` over rows ``[N, D]`` whose default weight is the anchor mask.

    A subclass implements :meth:`elementwise` (loss per row, [N]) and :meth:`anchors` (which
    rows count). With no ``weight`` and no ``avg_factor``, :meth:`forward` weights each row
    by its anchor flag and, with ``reduction='mean'``, averages over the anchors (0 when
    there is none).

    Args:
        temperature (float): Divisor of the logits. Defaults to 0.07.
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, temperature: float = 0.07, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        self.temperature = temperature

    def anchors(self, target: Tensor) -> Tensor:
        """Bool [N]: the rows whose loss counts, from the int [N] ``target``."""
        raise NotImplementedError(f'{type(self).__name__} must implement anchors()')

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None, **kwargs) -> Tensor:
        """:meth:`WeightedLoss.forward`, ``weight`` defaulting to the anchor mask."""
        if weight is None and avg_factor is None:
            weight = self.anchors(target).to(pred.dtype)
            if (reduction_override or self.reduction) == 'mean':
                avg_factor = weight.sum().clamp(min=1.0)
        return super().forward(pred, target, weight, avg_factor, reduction_override, **kwargs)
