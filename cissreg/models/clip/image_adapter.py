"""Residual MLP adapter on CLIP image features."""
import torch
from torch import Tensor, nn

from cissreg.registry import MODELS


@MODELS.register_module()
class ResidualMLPAdapter(nn.Module):
    """``x + W2 relu(W1 x)``: a residual two-layer MLP on image features, identity at start.

    A stronger alternative to the bias-free linear image adapter of
    ``CLIPPromptClassifier(use_image_adapter=True)``: the output layer starts at zero, so the
    adapted features equal the frozen ones until training moves them.

    Args:
        feat_dim (int): Width D of the features (filled in by the classifier).
        hidden_dim (int): Width of the hidden layer. Defaults to 128.
    """

    def __init__(self, feat_dim: int, hidden_dim: int = 128) -> None:
        super().__init__()
        if hidden_dim < 1:
            raise ValueError(f'ResidualMLPAdapter: hidden_dim must be >= 1, got {hidden_dim}')
        self.fc1 = nn.Linear(feat_dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, feat_dim)
        with torch.no_grad():
            self.fc2.weight.zero_()
            self.fc2.bias.zero_()

    def forward(self, feats: Tensor) -> Tensor:
        """Adapted features [B, D] of features [B, D]."""
        feats = feats.to(self.fc1.weight.dtype)
        return feats + self.fc2(torch.relu(self.fc1(feats)))
