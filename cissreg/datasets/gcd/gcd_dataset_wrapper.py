"""Generalized category discovery split of a classification dataset."""
import copy
from typing import Optional, Union

import numpy as np
from torch.utils.data import Dataset

from cissreg.registry import DATASETS

from ..finite_numbers import integer_labels

SPLITS = ('train', 'unlabelled', 'all')


def labelled_mask(labels: np.ndarray, num_old_classes: int, ratio: float,
                  seed: int) -> np.ndarray:
    """bool [N]: ``round(ratio * n_old)`` of the old-class samples, drawn without replacement
    with ``RandomState(seed)`` (GCD's ``subsample_instances``)."""
    old = np.flatnonzero(labels < num_old_classes)
    chosen = np.random.RandomState(seed).choice(old, int(round(ratio * len(old))),
                                                replace=False)
    mask = np.zeros(len(labels), dtype=bool)
    mask[chosen] = True
    return mask


@DATASETS.register_module()
class GCDDatasetWrapper(Dataset):
    """Old-labelled / old-unlabelled / new-unlabelled view of any classification dataset.

    The wrapped dataset (config dict or instance) yields ``dict(inputs, data_samples)`` whose
    data sample has ``gt_label``; it must offer ``get_gt_labels()`` or
    ``data_list[i]['gt_label']``. Classes ``< num_old_classes`` are old; a seeded
    ``labelled_ratio`` of their samples is labelled (:func:`labelled_mask`). Each data sample
    gets ``labelled`` (bool), ``pseudo_label`` (int, -1 = none) and ``gcd_index`` (index in the
    wrapped dataset, the key of the feature cache and pseudo-label files).

    Args:
        dataset (dict | Dataset): The classification dataset.
        num_old_classes (int): Number of old classes.
        labelled_ratio (float): Defaults to 0.5 (GCD).
        seed (int): Seed of the labelled subset. Defaults to 0.
        split (str): ``'train'`` (every sample, labelled flags set), ``'unlabelled'`` (the
            samples without a label: GCD's transductive evaluation set) or ``'all'`` (every
            sample, nothing labelled: a test set). Defaults to ``'train'``.
        pseudo_labels (str, optional): Pseudo-label ``.npz`` (``cissreg.clustering``).
        pseudo_label_mode (str): Which pseudo labels are used and how much each weighs
            (:func:`cissreg.clustering.pseudo_label_weights`): ``'core'`` (core points, weight
            1; the others get -1) or ``'weighted'`` (every assigned point, weight 1 for core,
            ``min(1, rho' / tau)`` for border points). Each data sample carries
            ``pseudo_label`` and ``pseudo_weight``. Defaults to ``'core'``.
        max_per_class (int, optional): Keep only the first samples of each class (small
            runs and tests). Defaults to None (all).
    """

    def __init__(self, dataset: Union[dict, Dataset], num_old_classes: int,
                 labelled_ratio: float = 0.5, seed: int = 0, split: str = 'train',
                 pseudo_labels: Optional[str] = None,
                 max_per_class: Optional[int] = None, pseudo_label_mode: str = 'core') -> None:
        if split not in SPLITS:
            raise ValueError(f'GCDDatasetWrapper: split must be one of {SPLITS}, got {split!r}')
        self.dataset = DATASETS.build(copy.deepcopy(dataset)) if isinstance(dataset,
                                                                            dict) else dataset
        self.labels = self._gt_labels()
        self.num_old_classes = num_old_classes
        pool = np.arange(len(self.labels))
        if max_per_class is not None:
            pool = np.sort(np.concatenate([np.flatnonzero(self.labels == c)[:max_per_class]
                                           for c in np.unique(self.labels)]))
        self.labelled = np.zeros(len(self.labels), dtype=bool)
        if split != 'all':
            self.labelled[pool] = labelled_mask(self.labels[pool], num_old_classes,
                                                labelled_ratio, seed)
        self.indices = pool[~self.labelled[pool]] if split == 'unlabelled' else pool
        self.pseudo = np.full(len(self.labels), -1, dtype=np.int64)
        self.pseudo_weight = np.zeros(len(self.labels), dtype=np.float64)
        self.pseudo_labels = pseudo_labels
        if pseudo_labels is not None:
            from cissreg.clustering import load_pseudo_labels, pseudo_label_weights
            pl = load_pseudo_labels(pseudo_labels)
            weight = pseudo_label_weights(pl['labels'], pl['core_mask'], pl['densities'],
                                          pseudo_label_mode)
            use = weight > 0
            if pl['indices'].max(initial=-1) >= len(self.labels):
                raise ValueError(f'pseudo-label file {pseudo_labels!r} indexes sample '
                                 f'{pl["indices"].max()} of a {len(self.labels)}-sample dataset')
            self.pseudo[pl['indices'][use]] = pl['labels'][use]
            self.pseudo_weight[pl['indices'][use]] = weight[use]

    def _gt_labels(self) -> np.ndarray:
        where = f'{type(self.dataset).__name__} gt_label'
        if hasattr(self.dataset, 'get_gt_labels'):
            return integer_labels(self.dataset.get_gt_labels(), where)
        return integer_labels([d['gt_label'] for d in self.dataset.data_list], where)

    @property
    def metainfo(self) -> dict:
        return dict(getattr(self.dataset, 'metainfo', {}), num_old_classes=self.num_old_classes)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: int) -> dict:
        i = int(self.indices[idx])
        out = self.dataset[i]
        sample = out['data_samples']
        sample.set_field(bool(self.labelled[i]), 'labelled', field_type='metainfo')
        sample.set_field(int(self.pseudo[i]), 'pseudo_label', field_type='metainfo')
        sample.set_field(float(self.pseudo_weight[i]), 'pseudo_weight', field_type='metainfo')
        sample.set_field(i, 'gcd_index', field_type='metainfo')
        return out
