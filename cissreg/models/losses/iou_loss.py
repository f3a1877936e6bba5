"""IoU-family box regression loss (IoU / GIoU / CIoU) on aligned xyxy box pairs."""
import math

import torch
from torch import Tensor

from cissreg.registry import MODELS

from .weighted_loss import WeightedLoss

IOU_MODES = ('iou', 'giou', 'ciou')


def aligned_bbox_iou(box1: Tensor, box2: Tensor, mode: str = 'ciou',
                     eps: float = 1e-7) -> Tensor:
    """IoU, GIoU or CIoU between aligned pairs of xyxy boxes.

    The arithmetic follows ultralytics ``bbox_iou(xywh=False)`` operation by operation (``eps``
    added to both heights and to the union, CIoU's ``alpha`` computed without gradient), so
    values agree with it to the last bit for the same argument order.

    Args:
        box1 (Tensor): Boxes ``[..., 4]`` (x1, y1, x2, y2).
        box2 (Tensor): Boxes ``[..., 4]``, same shape as ``box1``.
        mode (str): ``'iou'``, ``'giou'`` or ``'ciou'``. Defaults to ``'ciou'``.
        eps (float): Numerical stabiliser. Defaults to 1e-7.

    Returns:
        Tensor: ``[...]``, one value per pair (IoU in [0, 1]; GIoU / CIoU in (-1, 1]).
    """
    b1_x1, b1_y1, b1_x2, b1_y2 = box1.unbind(-1)
    b2_x1, b2_y1, b2_x2, b2_y2 = box2.unbind(-1)
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps
    inter = ((b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp(0)
             * (b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)).clamp(0))
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if mode == 'iou':
        return iou
    cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)  # enclosing box width
    ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)  # enclosing box height
    if mode == 'giou':
        c_area = cw * ch + eps
        return iou - (c_area - union) / c_area
    c2 = cw.pow(2) + ch.pow(2) + eps  # enclosing diagonal squared
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2).pow(2)
            + (b2_y1 + b2_y2 - b1_y1 - b1_y2).pow(2)) / 4  # centre distance squared
    v = (4 / math.pi**2) * ((w2 / h2).atan() - (w1 / h1).atan()).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


@MODELS.register_module()
class IoULoss(WeightedLoss):
    """``1 - IoU`` (or GIoU / CIoU) between predicted and target xyxy boxes.

    YOLOv8 uses CIoU, weighted per positive anchor by its target score and averaged over
    ``avg_factor = max(sum(target_scores), 1)``.

    Args:
        iou_mode (str): ``'ciou'``, ``'giou'`` or ``'iou'``. Defaults to ``'ciou'``.
        eps (float): Numerical stabiliser of the IoU. Defaults to 1e-7.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, iou_mode: str = 'ciou', eps: float = 1e-7, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if iou_mode not in IOU_MODES:
            raise ValueError(f'iou_mode must be one of {IOU_MODES}, got {iou_mode!r}')
        self.iou_mode = iou_mode
        self.eps = eps

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """``1 - IoU`` per box pair.

        Args:
            pred (Tensor): Predicted boxes ``[N, 4]`` xyxy.
            target (Tensor): Target boxes ``[N, 4]`` xyxy.

        Returns:
            Tensor: ``[N]``; ``weight`` is per box ``[N]``.
        """
        if pred.shape != target.shape or pred.shape[-1] != 4:
            raise ValueError('IoULoss expects pred and target of the same shape [..., 4], got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        return 1.0 - aligned_bbox_iou(pred, target, self.iou_mode, self.eps)
