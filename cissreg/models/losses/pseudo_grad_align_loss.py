"""Pseudo-gradient alignment: step likely relabelled old objects along a predicted gradient."""
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .weighted_loss import WeightedLoss


@MODELS.register_module()
class PseudoGradAlignLoss(WeightedLoss):
    """``beta * mean_p <stopgrad(g_tilde_p), z_p>`` on background pixels the old model
    calls foreground.

    In an overlap step an old object in a new image is labelled background. On such pixels
    ``p`` (current label 0, trusted label 0 (memory exemplars' old-class pixels are left
    out), the old model's largest sigmoid score > ``threshold``), the
    gradient of this loss on the main model's foreground logits ``z_p`` ``[C]`` is
    ``beta * g_tilde_p / M`` (``M`` such pixels), i.e. the main model takes a step along a
    pseudo gradient instead of being pushed to background:

    * ``target='learner'``: ``g_hat_p = h_w(z_p)`` (the gradient learner, no gradient
      reaches ``w``);
    * ``target='pseudo_label'`` (control): ``g_hat_p = softmax(z_p) - onehot(y_old)``,
      ``y_old`` the old model's most likely old class;

    then the components of the current step's (new) classes are zeroed and
    ``g_tilde_p = tau_bar * g_hat_p / (||g_hat_p|| + eps)`` with ``tau_bar`` the mean of
    ``||softmax(z_q) - onehot(y_q)||`` over the batch's trusted pixels ``q`` (trusted label
    neither 0 nor 255).

    Args:
        target (str): ``'learner'`` or ``'pseudo_label'``. Defaults to ``'learner'``.
        threshold (float): Old-model sigmoid score above which a pixel is foreground.
            Defaults to 0.5.
        eps (float): Added to ``||g_hat||``. Defaults to 1e-6.
        reduction (str): Defaults to ``'mean'`` (over the selected pixels).
        loss_weight (float): ``beta``. Defaults to 1.0.
    """

    def __init__(self, target: str = 'learner', threshold: float = 0.5, eps: float = 1e-6,
                 reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if target not in ('learner', 'pseudo_label'):
            raise ValueError(f"PseudoGradAlignLoss: target must be 'learner' or "
                             f"'pseudo_label', got {target!r}")
        self.target, self.threshold, self.eps = target, threshold, eps

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """Args: pred ``[M, C]`` logits, target ``[M, C]`` pseudo gradients (constant).
        Returns ``[M]`` = ``<target, pred>``."""
        return (target.detach() * pred).sum(dim=1)

    @torch.no_grad()
    def pseudo_gradient(self, logits: Tensor, old_logits: Tensor, labels: Tensor,
                        trusted: Tensor, num_old: int,
                        predictor: Optional[Callable[[Tensor], Tensor]] = None
                        ) -> Tuple[Tensor, Tensor]:
        """The selected pixels and their ``g_tilde``.

        Args:
            logits (Tensor): ``[N, C, H, W]`` foreground logits of the main model.
            old_logits (Tensor): ``[N, C_old, H, W]`` foreground logits of the old model.
            labels (Tensor): ``[N, H, W]`` current-step labels (0 background, 255 ignore).
            trusted (Tensor): ``[N, H, W]`` trusted labels (their foreground pixels give
                ``tau_bar``).
            num_old (int): ``C_old``; components ``>= C_old`` of ``g_tilde`` are zero.
            predictor (callable, optional): ``h_w``, ``[M, C] -> [M, C]`` (needed with
                ``target='learner'``).

        Returns:
            tuple[Tensor, Tensor]: Flat indices ``[M]`` into ``N * H * W`` and ``g_tilde``
            ``[M, C]`` (``M`` may be 0).
        """
        num_classes = logits.shape[1]
        z = logits.detach().permute(0, 2, 3, 1).reshape(-1, num_classes)
        old = old_logits.detach().permute(0, 2, 3, 1).reshape(-1, old_logits.shape[1])
        flat_trusted = trusted.reshape(-1)
        fg = (flat_trusted != 0) & (flat_trusted != 255)
        select = (labels.reshape(-1) == 0) & (flat_trusted == 0) & (
            old.sigmoid().amax(dim=1) > self.threshold)
        idx = select.nonzero().squeeze(1)
        if idx.numel() == 0 or not bool(fg.any()):
            return idx[:0], z.new_zeros(0, num_classes)
        y_t = (flat_trusted[fg] - 1).long()
        tau_bar = (z[fg].softmax(1) - F.one_hot(y_t, num_classes).to(z.dtype)).norm(
            dim=1).mean()
        zp = z[idx]
        if self.target == 'learner':
            if predictor is None:
                raise ValueError("PseudoGradAlignLoss(target='learner') needs the gradient "
                                 'learner (add GradLearnerHook to the config)')
            g_hat = predictor(zp).to(zp.dtype)
        else:
            y_old = old[idx].argmax(dim=1)
            g_hat = zp.softmax(1) - F.one_hot(y_old, num_classes).to(zp.dtype)
        g_hat = g_hat.clone()
        g_hat[:, num_old:] = 0
        g_tilde = tau_bar * g_hat / (g_hat.norm(dim=1, keepdim=True) + self.eps)
        return idx, g_tilde
