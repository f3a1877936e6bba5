"""DKD's auxiliary-classifier loss: the 1-channel aux logit is pushed toward 0 (BCE)."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .pixel_sum_loss import PixelSumLoss


@MODELS.register_module()
class AuxBackgroundLoss(PixelSumLoss):
    """``BCE(x, 0) = softplus(x)`` on the auxiliary channel (DKD's ``ACLoss``).

    The auxiliary classifier sees detached features, so this loss trains only its own 1x1
    conv, whose weights initialise every new step's classifier rows.

    Args:
        reduction (str): Defaults to ``'mean'``.
        loss_weight (float): DKD's ``ac`` (1). Defaults to 1.0.
    """

    def elementwise(self, pred: Tensor, target: Optional[Tensor] = None) -> Tensor:
        """Args: pred ``[N, 1, H, W]`` aux logits; target unused (the target is 0).
        Returns ``[N, 1, H, W]``."""
        return F.softplus(pred)
