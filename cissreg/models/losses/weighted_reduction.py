"""Element-wise weighting and reduction shared by the mmdet-style losses."""
from typing import Optional, Union

from torch import Tensor

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(reduction: str) -> str:
    """Return ``reduction`` if it is one of ``'none'``, ``'mean'``, ``'sum'``.

    Raises:
        ValueError: Naming the bad value and the accepted ones.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    return reduction


def weight_reduce_loss(loss: Tensor,
                       weight: Optional[Tensor] = None,
                       reduction: str = 'mean',
                       avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """Weight an element-wise loss and reduce it (mmdet's contract).

    Unlike mmdet no epsilon is added to ``avg_factor``: callers pass a factor that is
    already >= 1 (e.g. ``max(sum(target_scores), 1)``), so the result is exact. The mean of
    an empty loss is 0 (connected to the graph), not NaN.

    Args:
        loss (Tensor): Element-wise loss, any shape.
        weight (Tensor, optional): Broadcastable to ``loss``. Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        avg_factor (float | Tensor, optional): With ``reduction='mean'`` the loss is
            ``sum / avg_factor`` instead of the element mean. Defaults to None.

    Returns:
        Tensor: Scalar, or ``loss``'s shape with ``reduction='none'``.

    Raises:
        ValueError: ``avg_factor`` given with ``reduction='sum'``.
    """
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        if reduction == 'mean':
            # the mean of no element is 0 (still on the graph), not NaN
            return loss.mean() if loss.numel() else loss.sum()
        if reduction == 'sum':
            return loss.sum()
        return loss
    if reduction == 'mean':
        return loss.sum() / avg_factor
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return loss
