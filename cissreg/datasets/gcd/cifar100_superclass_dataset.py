"""CIFAR-100 restricted to one superclass (coarse label), one run per superclass."""
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np

from cissreg.registry import DATASETS

from ..cil.cifar100_dataset import CIFAR100CILDataset, load_cifar_pickle


@DATASETS.register_module()
class CIFAR100SuperclassDataset(CIFAR100CILDataset):
    """CIFAR-100 (python pickles) with ``superclass=`` keeping the 5 fine classes of one of the
    20 coarse labels (``coarse_labels`` in the pickle); those classes become labels 0-4 in
    ascending fine-label order. ``superclass=None`` keeps all 100 classes.

    Args:
        superclass (int | str, optional): Coarse label id (0-19) or name from
            ``meta['coarse_label_names']``. Defaults to None.
        **kwargs: :class:`CIFAR100CILDataset` arguments.
    """

    def __init__(self, superclass: Optional[object] = None, **kwargs) -> None:
        self.superclass = superclass
        super().__init__(**kwargs)

    def load_samples(self) -> Tuple[List[dict], List[str]]:
        samples, names = super().load_samples()
        if self.superclass is None:
            return samples, names
        root = self.data_root
        if osp.isdir(osp.join(root, 'cifar-100-python')):
            root = osp.join(root, 'cifar-100-python')
        coarse = np.asarray(load_cifar_pickle(osp.join(root, self.split))['coarse_labels'])
        meta = load_cifar_pickle(osp.join(root, 'meta'))
        coarse_names = [n.decode() if isinstance(n, bytes) else str(n)
                        for n in meta['coarse_label_names']]
        sc = (coarse_names.index(self.superclass) if isinstance(self.superclass, str)
              else int(self.superclass))
        if not 0 <= sc < len(coarse_names):
            raise ValueError(f'CIFAR100SuperclassDataset: superclass must be 0-'
                             f'{len(coarse_names) - 1} or a name, got {self.superclass!r}')
        fine = sorted({s['ori_label'] for s, c in zip(samples, coarse) if c == sc})
        new_id = {f: i for i, f in enumerate(fine)}
        kept = []
        for s, c in zip(samples, coarse):
            if c == sc:
                kept.append(dict(s, ori_label=new_id[s['ori_label']]))
        return kept, [names[f] for f in fine]
