"""Channel-wise distillation (Shu et al., "Channel-wise Knowledge Distillation for Dense
Prediction", ICCV 2021)."""
import torch
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .weighted_loss import WeightedLoss


def promote_to_float(*tensors: Tensor) -> tuple:
    """Cast tensors to one floating dtype of at least 32 bits (half / bfloat16 -> float32).

    Softmaxes and logs of AMP activations are computed in float32.

    Args:
        *tensors (Tensor): Any floating tensors.

    Returns:
        tuple[Tensor, ...]: The tensors, all of the promoted dtype.
    """
    dtype = torch.promote_types(torch.float32, tensors[0].dtype)
    for x in tensors[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    return tuple(x.to(dtype) for x in tensors)


def channel_wise_divergence(pred: Tensor, target: Tensor, tau: float = 1.0) -> Tensor:
    """KL divergence between the spatial distributions of each channel.

    Every channel of a feature map becomes a distribution over its ``H * W`` positions,
    ``softmax(x / tau)``; the loss of a channel is
    ``tau^2 * sum_i p_t[i] * (log p_t[i] - log p_s[i])``, i.e. ``KL(teacher || student)``
    summed over the positions.

    Args:
        pred (Tensor): Student feature map ``[N, C, H, W]`` (any number of trailing spatial
            dimensions).
        target (Tensor): Teacher feature map, same shape; treated as a constant.
        tau (float): Temperature. Defaults to 1.0.

    Returns:
        Tensor: ``[N, C]`` loss per sample and channel (float32 for half-precision inputs).
    """
    s, t = promote_to_float(pred.flatten(2), target.detach().flatten(2))
    log_p_s = F.log_softmax(s / tau, dim=-1)
    log_p_t = F.log_softmax(t / tau, dim=-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1) * (tau**2)


@MODELS.register_module()
class ChannelWiseDivergence(WeightedLoss):
    """Channel-wise distillation loss (CWD) between a student and a teacher feature map.

    Per channel, ``softmax`` over the ``H * W`` positions of ``feature / tau`` for teacher and
    student, ``KL(teacher || student) * tau^2`` summed over the positions; with
    ``reduction='mean'`` the per-channel losses are averaged over channels and batch
    (``sum / (N * C)``), which is mmrazor's ``ChannelWiseDivergence``. The teacher map is
    detached. Student and teacher must have the same shape: put a 1x1 conv connector
    (:class:`~cissreg.models.distillers.ConvConnector`) on the student when the channel counts
    differ.

    Args:
        tau (float): Temperature of the spatial softmax. Defaults to 1.0.
        reduction (str): ``'none'`` (``[N, C]``), ``'mean'`` or ``'sum'``. Defaults to
            ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self, tau: float = 1.0, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if tau <= 0:
            raise ValueError(f'ChannelWiseDivergence: tau must be > 0, got {tau}')
        self.tau = float(tau)

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """CWD per sample and channel, see :func:`channel_wise_divergence`.

        Args:
            pred (Tensor): Student feature map ``[N, C, H, W]``.
            target (Tensor): Teacher feature map ``[N, C, H, W]``.

        Returns:
            Tensor: ``[N, C]``; ``weight`` broadcasts to it, ``avg_factor`` replaces ``N * C``.
        """
        if pred.dim() < 3 or pred.shape != target.shape:
            raise ValueError(
                'ChannelWiseDivergence expects student and teacher maps of the same shape '
                f'[N, C, H, W], got {tuple(pred.shape)} and {tuple(target.shape)}; a 1x1 conv '
                'connector aligns the student channels to the teacher\'s')
        return channel_wise_divergence(pred, target, self.tau)
