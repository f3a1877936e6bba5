"""Prototypical loss over pseudo labels: each feature is classified by the nearest class mean."""
import torch
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .anchor_row_loss import AnchorRowLoss


@MODELS.register_module()
class PrototypicalLoss(AnchorRowLoss):
    """Cross-entropy of ``cos(z_i, mu_c) / t`` over the batch's class prototypes.

    The prototype ``mu_c`` is the L2-normalised mean of the rows with ``target == c`` (rows
    with -1 take no part); row ``i`` is classified among all prototypes of the batch, its own
    class is the target. The reference recipe's alternative to the pseudo-label SupCon.

    Args:
        temperature (float): Defaults to 0.1.
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, temperature: float = 0.1, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(temperature=temperature, reduction=reduction, loss_weight=loss_weight)

    def anchors(self, target: Tensor) -> Tensor:
        """Bool [N]: the rows with a pseudo label."""
        return target >= 0

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """Loss per row.

        Args:
            pred (Tensor): [N, D] L2-normalised features.
            target (Tensor): int [N] pseudo label, -1 = no part.

        Returns:
            Tensor: [N], 0 for rows with -1.
        """
        valid = target >= 0
        loss = pred.new_zeros(pred.shape[0])
        if not valid.any():
            return loss
        classes, inverse = torch.unique(target[valid], return_inverse=True)
        onehot = F.one_hot(inverse, len(classes)).to(pred.dtype)  # [V, C]
        protos = F.normalize(onehot.t() @ pred[valid], dim=1)  # [C, D]
        logits = pred[valid] @ protos.t() / self.temperature
        loss[valid] = F.cross_entropy(logits, inverse, reduction='none')
        return loss
