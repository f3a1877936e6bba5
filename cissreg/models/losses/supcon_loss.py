"""Supervised contrastive loss (Khosla et al. 2020) and its GCD variants on L2-normalised
features: InfoNCE (positives = the other view), SupCon (labelled part) and pseudo-label SupCon."""
import torch
from torch import Tensor

from cissreg.registry import MODELS

from .anchor_row_loss import AnchorRowLoss


def supcon_per_anchor(feats: Tensor, target: Tensor, temperature: float) -> Tensor:
    """``-1/|P(i)| sum_{p in P(i)} log(exp(z_i.z_p / t) / sum_{a != i} exp(z_i.z_a / t))``.

    Args:
        feats (Tensor): [N, D] L2-normalised features (all views stacked).
        target (Tensor): int [N] group of each row; rows with equal ``target >= 0`` are
            positives of each other; a row with -1 is no anchor and no positive, only a
            negative in the denominators.
        temperature (float): ``t``.

    Returns:
        Tensor: [N] loss per anchor, 0 where the row has no positive.
    """
    n = feats.shape[0]
    logits = feats @ feats.t() / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=feats.device)
    logits = logits.masked_fill(self_mask, float('-inf'))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (target[:, None] == target[None, :]) & (target[:, None] >= 0) & ~self_mask
    n_pos = pos.sum(1)
    summed = log_prob.masked_fill(~pos, 0.0).sum(1)
    return -summed / n_pos.clamp(min=1)


@MODELS.register_module()
class SupConLoss(AnchorRowLoss):
    """SupCon over the rows of a batch (GCD applies it to both views of the labelled images).

    ``forward(feats [N, D], target [N])``: see :func:`supcon_per_anchor`. With
    ``reduction='mean'`` and no ``weight`` / ``avg_factor``, the mean runs over the anchors
    that have a positive (0 when none has).

    Args:
        temperature (float): Defaults to 0.07.
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """

    def anchors(self, target: Tensor) -> Tensor:
        """Bool [N]: the rows with a positive (another row of the same group >= 0)."""
        same = (target[:, None] == target[None, :]) & (target[:, None] >= 0)
        return same.sum(1) > 1

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """Loss per anchor.

        Args:
            pred (Tensor): [N, D] L2-normalised features.
            target (Tensor): int [N] group per row, -1 = negative only.

        Returns:
            Tensor: [N].
        """
        return supcon_per_anchor(pred, target, self.temperature)


@MODELS.register_module()
class InfoNCELoss(SupConLoss):
    """Unsupervised contrastive loss of SimCLR / GCD: each row's only positive is the other
    view of its image (``target`` = image id per row, e.g. ``arange(B).repeat(2)``).

    Args:
        temperature (float): GCD uses 1.0 (SimCLR 0.07-0.5). Defaults to 1.0.
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, temperature: float = 1.0, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(temperature=temperature, reduction=reduction, loss_weight=loss_weight)


@MODELS.register_module()
class PseudoSupConLoss(SupConLoss):
    """SupCon over pseudo-labelled core samples, contrasted against the whole batch.

    ``target`` holds the pseudo label of the rows that take part (core samples with a
    cluster) and -1 elsewhere: those rows are no anchors but stay negatives, so the
    pseudo-labelled clusters are pushed away from everything else in the batch (plain
    :class:`SupConLoss` in GCD sees the labelled rows only).

    Args:
        temperature (float): Defaults to 0.07.
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """
