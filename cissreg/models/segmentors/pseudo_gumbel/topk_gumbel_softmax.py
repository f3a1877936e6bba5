"""Step 4 of Pseudo-Gumbel: straight-through top-k Gumbel-softmax over the embedding rows."""
import warnings
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cissreg.registry import TASK_UTILS

__all__ = ['TopKGumbelSoftmax', 'sparse_topk_mix', 'dense_topk_mix', 'gumbel_noise']

MIXINGS = ('embedding_bag', 'sparse_mm', 'dense')


def gumbel_noise(shape: Tuple[int, ...], device: torch.device, dtype: torch.dtype,
                 generator: Optional[torch.Generator] = None, eps: float = 1e-10) -> Tensor:
    """Standard Gumbel samples ``-log(-log(u + eps) + eps)``, ``u ~ U[0, 1)``."""
    u = torch.rand(shape, device=device, dtype=dtype, generator=generator)
    return -torch.log(-torch.log(u + eps) + eps)


def dense_topk_mix(weights: Tensor, indices: Tensor, embedding: Tensor) -> Tensor:
    """Reference mixing ``sum_j w[..., j] * E[idx[..., j]]`` through a dense gather.

    Materialises [N, k, D]; kept for tests and the benchmark.

    Args:
        weights (Tensor): [N, k].
        indices (Tensor): [N, k] int64 rows of ``embedding``.
        embedding (Tensor): [V, D].

    Returns:
        Tensor: [N, D].
    """
    return (weights.unsqueeze(-1) * embedding[indices]).sum(dim=-2)


def sparse_topk_mix(weights: Tensor, indices: Tensor, embedding: Tensor,
                    mixing: str = 'embedding_bag') -> Tensor:
    """``sum_j w[n, j] * E[idx[n, j]]`` without an [N, k, D] intermediate.

    ``'embedding_bag'`` (``F.embedding_bag`` with per-sample weights, mode sum) keeps every
    intermediate at [N, k] or [N, D] in forward and backward. ``'sparse_mm'`` multiplies a
    sparse [N, V] COO matrix holding the weights by the dense table; its backward to the
    weights goes through a dense [N, V] product (cheaper than [N, k, D] only when V < k * D).

    Args:
        weights (Tensor): [N, k] mixing weights.
        indices (Tensor): [N, k] int64 rows of ``embedding``, distinct within a row.
        embedding (Tensor): [V, D] table.
        mixing (str): ``'embedding_bag'``, ``'sparse_mm'`` or ``'dense'``.

    Returns:
        Tensor: [N, D], equal to :func:`dense_topk_mix` in values and gradients.
    """
    if mixing == 'embedding_bag':
        return F.embedding_bag(indices, embedding, per_sample_weights=weights.to(embedding.dtype),
                               mode='sum')
    if mixing == 'sparse_mm':
        n, k = indices.shape
        cols, order = indices.sort(dim=-1)  # coalesced COO: row-major, sorted columns
        rows = torch.arange(n, device=indices.device).repeat_interleave(k)
        sparse = torch.sparse_coo_tensor(
            torch.stack([rows, cols.reshape(-1)]),
            weights.gather(1, order).reshape(-1).to(embedding.dtype),
            (n, embedding.shape[0]), is_coalesced=True, check_invariants=False)
        return torch.sparse.mm(sparse, embedding)
    if mixing == 'dense':
        return dense_topk_mix(weights, indices, embedding)
    raise ValueError(f'sparse_topk_mix: mixing must be one of {MIXINGS}, got {mixing!r}')


@TASK_UTILS.register_module()
class TopKGumbelSoftmax(nn.Module):
    """Differentiable text embeddings from caption logits (straight-through Gumbel-softmax).

    For logits ``z`` [B, T, V]: keep the top-``k`` logits ``z_k`` and their ids, draw Gumbel
    noise ``g``, ``y = softmax((z_k + g) / tau)`` [B, T, k]. With ``hard=True`` the forward
    value is exactly ``E[id of argmax y]`` (one-hot rows of the embedding table) while the
    gradient to the logits is the one of the soft mixture ``sum_j y_j E[id_j]``; the
    embedding table gets the gradient of the hard row, as with ``y_hard - y.detach() + y``::

        out = E[hard] + mix(y, E.detach()) - mix(y, E.detach()).detach()

    ``mix`` never materialises [B, T, k, D] (see :func:`sparse_topk_mix`).

    Args:
        tau (float): Softmax temperature. Defaults to 0.7.
        k (int): Number of logits kept per position (>= 1). Defaults to 128. With ``k=1``
            the softmax over one logit is constant 1: the forward still picks the top id,
            but no gradient reaches the logits (the Gumbel path is cut, as in ``hard_ids``);
            the constructor warns.
        hard (bool): Straight-through one-hot forward; False returns the soft mixture.
            Defaults to True.
        mixing (str): ``'embedding_bag'`` (default), ``'sparse_mm'`` or ``'dense'``.
    """

    def __init__(self, tau: float = 0.7, k: int = 128, hard: bool = True,
                 mixing: str = 'embedding_bag') -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f'TopKGumbelSoftmax: tau must be > 0, got {tau}')
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f'TopKGumbelSoftmax: k must be an int >= 1, got {k!r}')
        if k == 1:
            warnings.warn('TopKGumbelSoftmax(k=1): the softmax over a single logit is constant, '
                          'so no gradient reaches the caption logits (the Gumbel path is off); '
                          'use k >= 2 to train through it')
        if mixing not in MIXINGS:
            raise ValueError(f'TopKGumbelSoftmax: mixing must be one of {MIXINGS}, got {mixing!r}')
        self.tau = tau
        self.k = k
        self.hard = hard
        self.mixing = mixing

    def forward(self, logits: Tensor, embedding: Tensor, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None,
                return_ids: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Mix embedding rows.

        Args:
            logits (Tensor): [B, T, V] caption logits.
            embedding (Tensor): [V', D] input-embedding table (``V' >= V`` rows are allowed:
                a padded LM head).
            noise (Tensor, optional): [B, T, k'] Gumbel noise (``k' = min(k, V)``); drawn
                when None.
            generator (torch.Generator, optional): Generator of the drawn noise.
            return_ids (bool): Also return the sampled ids (the argmax of ``y``) [B, T].

        Returns:
            Tensor | tuple[Tensor, Tensor]: [B, T, D] text embeddings (and the ids).
        """
        b, t, v = logits.shape
        k = min(self.k, v)
        top_vals, top_ids = logits.topk(k, dim=-1)
        if noise is None:
            noise = gumbel_noise(top_vals.shape, top_vals.device, top_vals.dtype, generator)
        y_soft = F.softmax((top_vals + noise) / self.tau, dim=-1).reshape(b * t, k)
        top_ids = top_ids.reshape(b * t, k)
        hard_ids = top_ids.gather(1, y_soft.argmax(dim=-1, keepdim=True)).squeeze(1)
        if not self.hard:
            out = sparse_topk_mix(y_soft, top_ids, embedding, self.mixing)
        else:
            soft = sparse_topk_mix(y_soft, top_ids, embedding.detach(), self.mixing)
            out = F.embedding(hard_ids, embedding) + (soft - soft.detach())
        out = out.view(b, t, -1)
        return (out, hard_ids.view(b, t)) if return_ids else out
