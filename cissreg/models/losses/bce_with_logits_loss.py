"""Sigmoid binary cross entropy on logits with the mmdet loss contract."""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .weighted_loss import WeightedLoss
from .weighted_reduction import check_reduction

_CPU_CHUNK = 1 << 17  # elements per chunk: the temporaries of a chunk stay in cache


def softplus_sum(x: Tensor) -> Tensor:
    """``sum(log(1 + exp(x)))`` accurate to about 1e-7 relative, without a large temporary.

    On CPU ``torch.log1p`` is not vectorised, so the sum is computed chunk by chunk as
    ``relu(x) + log1p(e)`` with ``e = exp(-|x|)`` and ``log1p(e) = log(u) - (u - 1 - e) / u``,
    ``u = 1 + e`` (the correction restores what rounding ``1 + e`` lost). Other devices use
    ``F.softplus``.

    Args:
        x (Tensor): Any shape.

    Returns:
        Tensor: Scalar of ``x``'s dtype.
    """
    if x.device.type != 'cpu':
        return F.softplus(x).sum()
    total = x.new_zeros((), dtype=torch.float64)
    for chunk in x.reshape(-1).split(_CPU_CHUNK):
        a = chunk.abs()
        relu_sum = (chunk.sum() + a.sum()).double() / 2
        e = a.neg_().exp_()
        u = e + 1
        log1p_e = u.log().sub_((u - 1).sub_(e).div_(u))
        total += relu_sum + log1p_e.sum().double()
    return total.to(x.dtype)


class _SigmoidBCESum(torch.autograd.Function):
    """``sum(BCE(sigmoid(pred), target)) = sum(softplus(pred)) - sum(pred * target)``.

    One scalar output and no element-wise loss kept for backward (which is
    ``(sigmoid(pred) - target) * grad`` and ``-pred * grad`` for the target).
    """

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor) -> Tensor:
        ctx.save_for_backward(pred, target)
        if pred.is_contiguous() and target.is_contiguous():
            cross = torch.dot(pred.reshape(-1), target.reshape(-1))
        else:
            cross = (pred * target).sum()
        return softplus_sum(pred) - cross

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        pred, target = ctx.saved_tensors
        grad_pred = grad_target = None
        if ctx.needs_input_grad[0]:
            grad_pred = pred.sigmoid().sub_(target).mul_(grad)
        if ctx.needs_input_grad[1]:
            grad_target = pred * -grad
        return grad_pred, grad_target


@MODELS.register_module()
class BCEWithLogitsLoss(WeightedLoss):
    """Element-wise ``BCE(sigmoid(pred), target)`` for soft targets in [0, 1].

    YOLOv8's classification loss: summed over every anchor and class, divided by
    ``avg_factor = max(sum(target_scores), 1)``. Unweighted sums (``reduction='sum'``, or
    ``'mean'`` with ``avg_factor``) take a fused path (:func:`softplus_sum`) that keeps no
    element-wise loss tensor; other cases use :meth:`elementwise`. Forward + backward of
    YOLOv8's ``[8, 8400, 80]`` logits: 41 ms instead of 71 ms; of the whole
    ``YOLOv8Head.loss_by_feat`` at ``benchmarks/bench_loss_assigner.py``'s settings: 161 ms
    instead of 177 ms (one CPU thread, interleaved, shared 2-core machine, 2026-11-30).

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """BCE per element.

        Args:
            pred (Tensor): Logits, any shape.
            target (Tensor): Targets in [0, 1], same shape as ``pred``.

        Returns:
            Tensor: ``pred``'s shape; ``weight`` broadcasts to it.
        """
        self._check_shapes(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target.to(pred.dtype), reduction='none')

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """:meth:`WeightedLoss.forward`, fused when the result is an unweighted sum."""
        reduction = check_reduction(reduction_override or self.reduction)
        summed = (reduction == 'sum' and avg_factor is None
                  or reduction == 'mean' and avg_factor is not None)
        if weight is not None or not summed:
            return super().forward(pred, target, weight, avg_factor, reduction_override)
        self._check_shapes(pred, target)
        loss = _SigmoidBCESum.apply(pred, target.to(pred.dtype))
        if avg_factor is not None:
            loss = loss / avg_factor
        return self.loss_weight * loss

    @staticmethod
    def _check_shapes(pred: Tensor, target: Tensor) -> None:
        if pred.shape != target.shape:
            raise ValueError('BCEWithLogitsLoss expects pred and target of the same shape, got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
