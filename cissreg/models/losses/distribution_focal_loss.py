"""Distribution Focal Loss (Li et al., Generalized Focal Loss, NeurIPS 2020)."""
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .weighted_loss import WeightedLoss


def distribution_focal_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Cross entropy towards the two bins around a continuous target, linearly weighted.

    For a target ``y`` between bins ``l = floor(y)`` and ``r = l + 1`` the loss is
    ``-(r - y) * log p_l - (y - l) * log p_r`` with ``p = softmax(pred)``. A target equal to
    the last bin ``n - 1`` is handled exactly (all weight on the last bin).

    Args:
        pred (Tensor): Logits over the ``n`` bins, ``[N, n]``.
        target (Tensor): Continuous targets ``[N]`` in ``[0, n - 1]``.

    Returns:
        Tensor: ``[N]`` loss per distribution.
    """
    log_prob = F.log_softmax(pred, dim=-1)
    left = target.long().clamp(max=pred.shape[-1] - 2)
    right = left + 1
    w_left = right.to(target.dtype) - target
    w_right = 1 - w_left
    return -(log_prob.gather(-1, left[:, None]).squeeze(-1) * w_left
             + log_prob.gather(-1, right[:, None]).squeeze(-1) * w_right)


@MODELS.register_module()
class DistributionFocalLoss(WeightedLoss):
    """Distribution Focal Loss over ``reg_max`` bins (YOLOv8's box-side distributions).

    YOLOv8 feeds one row per box side (``[4 * N_pos, reg_max]``), targets in stride units
    clipped to ``reg_max - 1 - 0.01``, per-row weights equal to the anchor's target score and
    ``avg_factor = 4 * max(sum(target_scores), 1)`` (the mean over the four sides).

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """DFL per distribution, see :func:`distribution_focal_loss`.

        Args:
            pred (Tensor): Bin logits ``[N, n]``, ``n >= 2``.
            target (Tensor): Continuous targets ``[N]`` in ``[0, n - 1]``.

        Returns:
            Tensor: ``[N]``; ``weight`` is per row ``[N]``.
        """
        if pred.dim() != 2 or target.shape != pred.shape[:1]:
            raise ValueError('DistributionFocalLoss expects pred [N, n] and target [N], got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        if pred.shape[1] < 2:
            raise ValueError(f'DistributionFocalLoss needs at least 2 bins, got {pred.shape[1]}')
        return distribution_focal_loss(pred, target)
