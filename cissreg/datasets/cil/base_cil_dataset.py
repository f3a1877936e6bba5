"""Base of the class-incremental classification datasets: class order, labels, subsets."""
from abc import abstractmethod
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import BaseDataset
from torch.utils.data import Dataset

from ..finite_numbers import integer_labels


def class_order_from_seed(num_classes: int, seed: Optional[int]) -> List[int]:
    """Class order of a run: identity for ``None``, else PyCIL's permutation for ``seed``.

    PyCIL (and RAPF after it) uses ``np.random.seed(seed); np.random.permutation(n)``;
    ``RandomState(seed).permutation(n)`` is the same order without touching the global RNG,
    so seed 1993 gives the usual CIFAR-100 B0/B50 orders.
    """
    if seed is None:
        return list(range(num_classes))
    return np.random.RandomState(seed).permutation(num_classes).tolist()


class BaseCILDataset(BaseDataset):
    """Classification dataset whose labels follow an incremental class order.

    Subclasses read their format in :meth:`load_samples`; this class maps original labels to
    *incremental labels* (the position of the class in ``class_order``), so task ``t`` of a
    run holds incremental labels ``[start_t, end_t)``; ``metainfo['classes']`` lists the class
    names in that order and ``metainfo['class_order']`` the original class ids.

    ``data_list`` entries: ``gt_label`` (incremental), ``ori_label``, ``img_path`` (or None)
    and ``img`` (uint8 [H, W, 3] BGR) for formats held in memory.

    Args:
        data_root (str): Dataset folder.
        split (str): ``'train'`` or ``'test'``.
        class_order_seed (int, optional): Permute the classes with this seed (PyCIL order).
            Defaults to None (original order).
        class_order (Sequence[int], optional): Explicit order of original class ids; wins
            over ``class_order_seed``.
        pipeline (list[dict]): Transforms. Defaults to ``[]``.
        lazy_init (bool): Defer reading. Defaults to False.
        holdout_fraction (float): Fraction of every class's *training* samples held out as a
            validation split (the last ``round(fraction * n_c)`` of the class, no
            randomness), to choose settings without touching the test split. Defaults to 0.
        holdout (bool): Return the held-out samples instead of the rest. Defaults to False.
        holdout_fold (int): Which block of ``round(fraction * n_c)`` samples is held out,
            counted from the end of the class: 0 the last block, 1 the one before it, ...
            (``k``-fold validation with ``fraction = 1 / k`` and folds ``0..k-1`` validates
            every training sample once). Defaults to 0.
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = 'train',
                 class_order_seed: Optional[int] = None,
                 class_order: Optional[Sequence[int]] = None,
                 pipeline: Sequence[dict] = (),
                 lazy_init: bool = False,
                 holdout_fraction: float = 0.0,
                 holdout: bool = False,
                 holdout_fold: int = 0) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"{type(self).__name__}: split must be 'train' or 'test', got "
                             f'{split!r}')
        if not 0.0 <= holdout_fraction < 1.0:
            raise ValueError(f'{type(self).__name__}: holdout_fraction must be in [0, 1), got '
                             f'{holdout_fraction}')
        if (holdout_fraction > 0 or holdout) and split != 'train':
            raise ValueError(f"{type(self).__name__}: holdout_fraction / holdout carve a "
                             f"validation split from split='train', got split={split!r}")
        if holdout and holdout_fraction == 0:
            raise ValueError(f'{type(self).__name__}: holdout=True needs holdout_fraction > 0')
        if holdout_fold and holdout_fraction == 0:
            raise ValueError(f'{type(self).__name__}: holdout_fold={holdout_fold} needs '
                             'holdout_fraction > 0')
        if holdout_fold < 0 or (holdout_fold + 1) * holdout_fraction > 1 + 1e-9:
            raise ValueError(f'{type(self).__name__}: holdout_fold must be in [0, '
                             f'{1 / holdout_fraction:g}) for holdout_fraction='
                             f'{holdout_fraction}, got {holdout_fold}')
        self.split = split
        self.holdout_fraction, self.holdout = holdout_fraction, holdout
        self.holdout_fold = holdout_fold
        self.class_order_seed = class_order_seed
        self._class_order = None if class_order is None else [int(c) for c in class_order]
        super().__init__(data_root=data_root, pipeline=list(pipeline),
                         test_mode=split == 'test', serialize_data=False, lazy_init=lazy_init)

    @abstractmethod
    def load_samples(self) -> Tuple[List[dict], List[str]]:
        """Read the split.

        Returns:
            tuple[list[dict], list[str]]: entries with ``ori_label`` (and ``img`` or
            ``img_path``), and class names indexed by original label.
        """

    def load_data_list(self) -> List[dict]:
        samples, names = self.load_samples()
        num_classes = len(names)
        order = self._class_order or class_order_from_seed(num_classes, self.class_order_seed)
        if sorted(order) != list(range(num_classes)):
            raise ValueError(f'{type(self).__name__}: class_order must be a permutation of '
                             f'0..{num_classes - 1}')
        position = {c: i for i, c in enumerate(order)}
        if self.holdout_fraction > 0:
            samples = self._carve(samples)
        for i, sample in enumerate(samples):
            sample.setdefault('img_path', None)
            sample['gt_label'] = position[sample['ori_label']]
            sample['sample_idx'] = i
        self._metainfo.update(classes=tuple(names[c] for c in order), class_order=list(order))
        return samples

    def _carve(self, samples: List[dict]) -> List[dict]:
        """The held-out part (``holdout``) or the rest of every class's samples."""
        by_class: Dict[int, List[int]] = {}
        for i, sample in enumerate(samples):
            by_class.setdefault(sample['ori_label'], []).append(i)
        held = set()
        for idx in by_class.values():
            size = int(round(self.holdout_fraction * len(idx)))
            end = len(idx) - self.holdout_fold * size
            held.update(idx[max(end - size, 0):end])
        return [s for i, s in enumerate(samples) if (i in held) == self.holdout]

    def get_gt_labels(self) -> np.ndarray:
        """Incremental labels of all samples: int64 [N]."""
        return integer_labels([s['gt_label'] for s in self.data_list],
                              f'{type(self).__name__} gt_label')


class ClassSubset(Dataset):
    """The samples of ``dataset`` at ``indices`` (e.g. one task's classes).

    Keeps ``metainfo`` so checkpoint metadata and metrics still see the dataset's classes.

    Args:
        dataset (BaseCILDataset): Full dataset.
        indices (Sequence[int]): Sample indices.
    """

    def __init__(self, dataset: BaseCILDataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = [int(i) for i in indices]

    @property
    def metainfo(self) -> Dict:
        return self.dataset.metainfo

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[self.indices[idx]]


def class_range_subset(dataset: BaseCILDataset, start: int, end: int) -> ClassSubset:
    """Subset of the samples whose incremental label is in ``[start, end)``."""
    labels = dataset.get_gt_labels()
    return ClassSubset(dataset, np.flatnonzero((labels >= start) & (labels < end)).tolist())
