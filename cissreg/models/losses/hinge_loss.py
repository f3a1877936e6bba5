"""Hinge loss that pushes sampled old-class features away from similar new classes' text."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .weighted_loss import WeightedLoss
from .weighted_reduction import check_reduction


def select_hard_pairs(similarity: Tensor, old_ids: Tensor, new_ids: Tensor, threshold: float,
                      top_k: Optional[int] = None) -> Tensor:
    """(old, new) class pairs whose similarity exceeds ``threshold``, most similar first.

    Args:
        similarity (Tensor): [n_old, n_new] similarities (e.g. cosine of class features).
        old_ids (Tensor): [n_old] int64 class ids of the rows.
        new_ids (Tensor): [n_new] int64 class ids of the columns.
        threshold (float): Keep pairs with ``similarity > threshold``.
        top_k (int, optional): Keep at most this many. Defaults to None (all).

    Returns:
        Tensor: [P, 2] int64 ``(old_id, new_id)`` rows sorted by descending similarity (ties
        in row-major order).
    """
    if similarity.shape != (len(old_ids), len(new_ids)):
        raise ValueError(f'select_hard_pairs: similarity {tuple(similarity.shape)} does not '
                         f'match {len(old_ids)} old x {len(new_ids)} new ids')
    flat = similarity.reshape(-1)
    keep = (flat > threshold).nonzero().squeeze(1)
    order = torch.sort(flat[keep], descending=True, stable=True).indices
    keep = keep[order]
    if top_k is not None:
        keep = keep[:top_k]
    n_new = similarity.shape[1]
    rows, cols = keep // n_new, keep % n_new
    return torch.stack([old_ids.to(keep.device)[rows], new_ids.to(keep.device)[cols]], dim=1)


@MODELS.register_module()
class HingeLoss(WeightedLoss):
    """Hinge loss on hard (old, new) class pairs.

    For a pair with sampled old-class image features ``f`` (normalised), old-class text
    feature ``t_old`` and new-class text feature ``t_new`` (both normalised), each sample
    contributes ``max(0, cos(f, t_new) - cos(f, t_old) + margin)``; the loss is the weighted
    reduction of these terms times ``loss_weight``.

    The pair selection is configured here too: ``pair_source='text'`` pairs classes by the
    similarity of their raw CLIP text features, ``'image'`` by the similarity of their class
    image-feature means; pairs above ``hard_pair_threshold`` are kept, the
    ``top_hard_pairs`` most similar first, and ``samples_per_pair`` features are drawn per
    pair from the old class's Gaussian.

    Args:
        pair_source (str): ``'text'`` or ``'image'``. Defaults to ``'text'``.
        hard_pair_threshold (float): Similarity threshold. Defaults to 0.8.
        top_hard_pairs (int, optional): Most pairs kept. Defaults to 10.
        samples_per_pair (int): Gaussian samples per pair and iteration. Defaults to 8.
        margin (float): Hinge margin. Defaults to 0.1.
        detach_old_text (bool): Stop the gradient through the old-class text feature.
            Defaults to True.
        loss_weight (float): lambda in ``L = CE + lambda * L_hinge``. Defaults to 1.0.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
    """

    def __init__(self,
                 pair_source: str = 'text',
                 hard_pair_threshold: float = 0.8,
                 top_hard_pairs: Optional[int] = 10,
                 samples_per_pair: int = 8,
                 margin: float = 0.1,
                 detach_old_text: bool = True,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean') -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if pair_source not in ('text', 'image'):
            raise ValueError(f"HingeLoss: pair_source must be 'text' or 'image', got "
                             f'{pair_source!r}')
        self.pair_source = pair_source
        self.hard_pair_threshold = hard_pair_threshold
        self.top_hard_pairs = top_hard_pairs
        self.samples_per_pair = samples_per_pair
        self.margin = margin
        self.detach_old_text = detach_old_text

    def select_pairs(self, old_feats: Tensor, new_feats: Tensor, old_ids: Tensor,
                     new_ids: Tensor) -> Tensor:
        """Hard pairs by cosine similarity of class features.

        Args:
            old_feats (Tensor): [n_old, D] features of old classes (text or image means).
            new_feats (Tensor): [n_new, D] features of new classes.
            old_ids (Tensor): [n_old] int64 ids.
            new_ids (Tensor): [n_new] int64 ids.

        Returns:
            Tensor: [P, 2] int64 ``(old_id, new_id)`` pairs, see :func:`select_hard_pairs`.
        """
        similarity = F.normalize(old_feats.float(), dim=-1) @ \
            F.normalize(new_feats.float(), dim=-1).t()
        return select_hard_pairs(similarity, old_ids, new_ids, self.hard_pair_threshold,
                                 self.top_hard_pairs)

    def elementwise(self, pred: Tensor, target: Tensor, new_text: Tensor) -> Tensor:
        """``max(0, cos(f, t_new) - cos(f, t_old) + margin)`` per sampled feature.

        Args:
            pred (Tensor): [P, S, D] old-class features ``f`` (normalised here).
            target (Tensor): [P, D] text features of each pair's old class.
            new_text (Tensor): [P, D] text features of each pair's new class.

        Returns:
            Tensor: [P, S]; ``weight`` broadcasts to it.
        """
        old_text = target.detach() if self.detach_old_text else target
        feats = F.normalize(pred, dim=-1)
        pos = (feats * F.normalize(old_text, dim=-1)[:, None]).sum(-1)
        neg = (feats * F.normalize(new_text, dim=-1)[:, None]).sum(-1)
        return F.relu(neg - pos + self.margin)

    def forward(self,
                image_feats: Tensor,
                old_text: Tensor,
                new_text: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Hinge loss of sampled old-class features (the base contract with a third input).

        Args:
            image_feats (Tensor): [P, S, D] old-class features (normalised here).
            old_text (Tensor): [P, D] text features of each pair's old class.
            new_text (Tensor): [P, D] text features of each pair's new class.
            weight (Tensor, optional): [P, S] element weights. Defaults to None.
            avg_factor (float, optional): Divisor of the sum for ``'mean'``. Defaults to None.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: Scalar (``[P, S]`` with ``'none'``); zero, still connected to the text
            features, when there is no pair.
        """
        if image_feats.shape[0] == 0:
            reduction = check_reduction(reduction_override or self.reduction)
            zero = (old_text.sum() + new_text.sum()) * 0.0
            return zero if reduction != 'none' else image_feats.new_zeros(image_feats.shape[:2])
        return super().forward(image_feats, old_text, weight, avg_factor, reduction_override,
                               new_text=new_text)
