"""DKD's prediction rule for sigmoid classifiers without a background channel."""
import torch
from torch import Tensor


def sigmoid_argmax_prediction(logits: Tensor, threshold: float = 0.5) -> Tensor:
    """Per-pixel class: argmax of the sigmoid over channels 1.., 0 where none exceeds
    ``threshold``.

    Args:
        logits (Tensor): ``[N, 1 + C, H, W]`` (channel 0, the auxiliary one, is ignored).
        threshold (float): Defaults to 0.5.

    Returns:
        Tensor: ``[N, H, W]`` long labels in ``[0, C]``.
    """
    probs = logits[:, 1:].sigmoid()
    score, label = probs.max(dim=1)
    return torch.where(score > threshold, label + 1, torch.zeros_like(label))
