"""Grounding image encoder and prompt-conditioned mask decoder (the small, SAM-like pair).

Interface of every mask decoder: ``decoder(grounding_encoder(images), prompt [B, P]) -> mask
logits [B, h', w']``; here the features are one [B, C, h, w] map (``sam2_grounding.py`` has
the SAM2 pair).
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cissreg.registry import MODELS


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(1, cout), nn.GELU())


@MODELS.register_module()
class ConvGroundingEncoder(nn.Module):
    """Small conv image encoder: [B, 3, H, W] -> [B, C, H / 2**num_downs, W / 2**num_downs].

    Args:
        channels (int): Output channels ``C``. Defaults to 64.
        num_downs (int): Stride-2 stages. Defaults to 2.
    """

    def __init__(self, channels: int = 64, num_downs: int = 2) -> None:
        super().__init__()
        layers = [_conv(3, channels, 1)]
        layers += [_conv(channels, channels, 2) for _ in range(num_downs)]
        self.layers = nn.Sequential(*layers)
        self.stride = 2**num_downs

    def forward(self, images: Tensor) -> Tensor:
        """[B, 3, H, W] normalised images -> [B, C, H / s, W / s] features."""
        return self.layers(images)


@MODELS.register_module()
class PromptMaskDecoder(nn.Module):
    """Mask logits from image features and one prompt embedding per image.

    The prompt modulates the features (FiLM: ``x * (1 + gamma) + beta``), two convs refine
    them, and the mask logit of a cell is the scaled dot product of the refined feature with
    a query projected from the prompt, upsampled bilinearly by ``upsample``.

    Args:
        in_channels (int): ``C`` of the image features.
        prompt_dim (int): ``P`` of the prompt embedding.
        channels (int): Hidden channels. Defaults to 64.
        upsample (int): Output size / feature size. Defaults to 4.
    """

    def __init__(self, in_channels: int, prompt_dim: int, channels: int = 64,
                 upsample: int = 4) -> None:
        super().__init__()
        self.inp = nn.Conv2d(in_channels, channels, 1)
        self.film = nn.Linear(prompt_dim, 2 * channels)
        self.refine = nn.Sequential(_conv(channels, channels, 1), _conv(channels, channels, 1))
        self.query = nn.Linear(prompt_dim, channels)
        self.bias = nn.Parameter(torch.zeros(()))
        self.upsample = upsample

    def forward(self, image_feats: Tensor, prompt: Tensor) -> Tensor:
        """Decode.

        Args:
            image_feats (Tensor): [B, C, h, w].
            prompt (Tensor): [B, P].

        Returns:
            Tensor: Mask logits [B, h * upsample, w * upsample].
        """
        gamma, beta = self.film(prompt)[:, :, None, None].chunk(2, dim=1)
        x = self.inp(image_feats)
        x = self.refine(x * (1 + gamma) + beta)
        q = self.query(prompt)[:, :, None, None]
        logits = (x * q).sum(1, keepdim=True) / math.sqrt(x.shape[1]) + self.bias
        if self.upsample != 1:
            logits = F.interpolate(logits, scale_factor=self.upsample, mode='bilinear',
                                   align_corners=False)
        return logits.squeeze(1)
