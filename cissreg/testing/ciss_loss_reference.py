"""Float64 reference formulas of the CISS losses, written out by hand (no torch.nn.functional)."""
from typing import Tuple

import torch


def log_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """log(1 / (1 + exp(-x))), stable, float64."""
    x = x.double()
    return x.clamp(max=0) - torch.log1p(torch.exp(-x.abs()))


def bce(x: torch.Tensor, y: torch.Tensor, pos_weight: float = 1.0) -> torch.Tensor:
    """-(pw * y log s(x) + (1 - y) log(1 - s(x))) element-wise in float64."""
    x, y = x.double(), y.double()
    return -(pos_weight * y * log_sigmoid(x) + (1 - y) * log_sigmoid(-x))


def per_class_pixel_mean_sum(loss: torch.Tensor) -> torch.Tensor:
    """DKD's reduction written as loops: sum over c of the mean over (n, h, w)."""
    return sum(loss[:, c].mean() for c in range(loss.shape[1]))


def logits_and_labels(seed: int = 0, n: int = 2, c: int = 3, h: int = 5,
                      w: int = 4) -> Tuple[torch.Tensor, torch.Tensor]:
    """Logits [n, c, h, w] (std 3) and labels [n, h, w] in 0..5 with a few 255 (ignore)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen) * 3
    label = torch.randint(0, 6, (n, h, w), generator=gen)
    label[0, 0, :2] = 255
    return x, label
