"""A view of a segmentation dataset with per-item label remapping."""
import copy
from typing import List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dataset import Compose
from torch.utils.data import Dataset


class SegTaskSubset(Dataset):
    """Items ``(index, label_lut, trusted_lut)`` of ``dataset``.

    ``__getitem__`` hands the base sample's info, with ``label_lut`` / ``trusted_lut`` and
    ``extra`` added, to the base pipeline (or ``pipeline``), whose ``LoadSegSample`` applies
    the remapping.

    Args:
        dataset (BaseSegDataset): The full dataset.
        items (list[tuple[int, ndarray, ndarray | None]]): Index, ``[256]`` training-label
            map, ``[256]`` trusted-label map (``None``: same as the training labels).
        pipeline (list[dict], optional): Replaces the dataset's pipeline.
        extra (dict, optional): Keys added to every sample (e.g. task metadata).
    """

    def __init__(self, dataset, items: Sequence[Tuple[int, np.ndarray, Optional[np.ndarray]]],
                 pipeline: Optional[List[dict]] = None, extra: Optional[dict] = None) -> None:
        self.dataset = dataset
        self.items = list(items)
        self.pipeline = Compose(pipeline) if pipeline is not None else dataset.pipeline
        self.extra = dict(extra or {})

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    @property
    def indices(self) -> List[int]:
        """Base-dataset indices of the items."""
        return [i for i, _, _ in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict:
        index, lut, trusted = self.items[idx]
        info = copy.deepcopy(self.dataset.get_data_info(index))
        info.update(self.extra, label_lut=lut, trusted_lut=trusted, sample_idx=index)
        return self.pipeline(info)
