"""Step 2 of Pseudo-Gumbel: replace a random fraction of the pseudo caption tokens."""
from typing import Optional

import torch
from torch import Tensor

from cissreg.registry import TASK_UTILS

__all__ = ['random_mask_tokens', 'RandomTokenMasker']


def random_mask_tokens(tokens: Tensor,
                       mask_ratio: float,
                       vocab_size: int,
                       pad_id: int,
                       generator: Optional[torch.Generator] = None) -> Tensor:
    """Replace each non-pad token with a uniform random id with probability ``mask_ratio``.

    Args:
        tokens (Tensor): Token ids, shape [B, T], int64.
        mask_ratio (float): Probability that a non-pad position is replaced, in [0, 1].
        vocab_size (int): Random ids are drawn uniformly from ``[0, vocab_size)``.
        pad_id (int): Positions holding this id never change.
        generator (torch.Generator, optional): Source of randomness (same device as
            ``tokens``); a seeded generator makes the result reproducible.

    Returns:
        Tensor: A new [B, T] tensor; ``tokens`` is not modified.
    """
    if not 0.0 <= mask_ratio <= 1.0:
        raise ValueError(f'random_mask_tokens: mask_ratio must be in [0, 1], got {mask_ratio}')
    draw = torch.rand(tokens.shape, device=tokens.device, generator=generator)
    replace = (draw < mask_ratio) & (tokens != pad_id)
    random_ids = torch.randint(0, vocab_size, tokens.shape, device=tokens.device,
                               generator=generator, dtype=tokens.dtype)
    return torch.where(replace, random_ids, tokens)


@TASK_UTILS.register_module()
class RandomTokenMasker:
    """Config-built wrapper of :func:`random_mask_tokens`.

    Args:
        mask_ratio (float): Fraction of non-pad tokens replaced. Defaults to 0.25.
    """

    def __init__(self, mask_ratio: float = 0.25) -> None:
        self.mask_ratio = mask_ratio

    def __call__(self, tokens: Tensor, vocab_size: int, pad_id: int,
                 generator: Optional[torch.Generator] = None) -> Tensor:
        """See :func:`random_mask_tokens`; shapes [B, T] -> [B, T]."""
        return random_mask_tokens(tokens, self.mask_ratio, vocab_size, pad_id, generator)
