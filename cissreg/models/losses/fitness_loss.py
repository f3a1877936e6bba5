"""Fitness loss of the gradient learner: cross entropy of the simulated-step logits."""
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .weighted_loss import WeightedLoss


@MODELS.register_module()
class FitnessLoss(WeightedLoss):
    """``lambda * CE(z', y)`` over the sampled trusted pixels.

    ``z'`` are the foreground logits after the simulated step along the learner's predicted
    gradient (:meth:`cissreg.models.layers.GradLearner.simulated_logits`); with
    ``reduction='mean'`` the cross entropy is averaged over the sampled pixels.

    Args:
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): ``lambda``. Defaults to 1.0.
    """

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """Args: pred ``[M, C]`` simulated logits, target ``[M]`` labels in ``[0, C)``.
        Returns ``[M]``."""
        return F.cross_entropy(pred, target.long(), reduction='none')
