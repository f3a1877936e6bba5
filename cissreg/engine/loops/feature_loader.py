"""Batches of precomputed features, shuffled per epoch like ``DefaultSampler``."""
import math
from typing import Iterator, List, Optional, Sequence

import torch
from mmengine.dist import get_dist_info
from torch import Tensor
from torch.utils.data import Dataset


class FeatureBatchLoader:
    """Iterate ``dict(feats=[B, D], labels=[B], img_paths=[B])`` batches of cached features.

    The order is a permutation drawn from ``(seed, epoch)`` (call :meth:`set_epoch`), so a
    resumed run draws the same batches. In a distributed run each rank takes every
    ``world_size``-th sample of the permutation, padded like ``DefaultSampler`` so all ranks
    run the same number of batches.

    Args:
        feats (Tensor): [N, D] features.
        labels (Tensor): [N] int64 labels.
        batch_size (int): Samples per batch (per rank).
        dataset (Dataset, optional): The image dataset the features come from (exposed as
            ``dataset`` for checkpoint metadata).
        img_paths (Sequence[str], optional): [N] the image file of each feature; a batch
            carries its samples' files as ``img_paths`` (named by the non-finite loss
            check). Defaults to None (``'?'`` for every sample).
        shuffle (bool): Permute every epoch. Defaults to True.
        drop_last (bool): Drop the last incomplete batch. Defaults to False.
        seed (int): Base seed. Defaults to 0.
    """

    def __init__(self,
                 feats: Tensor,
                 labels: Tensor,
                 batch_size: int,
                 dataset: Optional[Dataset] = None,
                 img_paths: Optional[Sequence[str]] = None,
                 shuffle: bool = True,
                 drop_last: bool = False,
                 seed: int = 0) -> None:
        img_paths = ['?'] * len(feats) if img_paths is None else [str(p) for p in img_paths]
        if not len(feats) == len(labels) == len(img_paths):
            raise ValueError('FeatureBatchLoader: feats, labels and img_paths differ in length')
        self.feats = feats
        self.labels = labels
        self.img_paths: List[str] = img_paths
        self.batch_size = batch_size
        self.dataset = dataset
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0
        self.rank, self.world_size = get_dist_info()

    @property
    def num_samples(self) -> int:
        """Samples per rank."""
        return math.ceil(len(self.feats) / self.world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def _indices(self) -> Tensor:
        n = len(self.feats)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        total = self.num_samples * self.world_size
        if total > n:
            order = torch.cat([order, order[:total - n]])
        return order[self.rank:total:self.world_size]

    def __iter__(self) -> Iterator[dict]:
        order = self._indices()
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield dict(feats=self.feats[idx], labels=self.labels[idx],
                       img_paths=[self.img_paths[i] for i in idx.tolist()])
