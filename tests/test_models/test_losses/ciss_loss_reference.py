"""Float64 reference formulas of the CISS losses, written out by hand (no torch.nn.functional)."""
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
