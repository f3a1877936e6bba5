"""The task split of a class-incremental run: which samples each task trains and is tested on.

:class:`IncrementalLoop` asks a registered split object (``train_cfg.task_split``) for every
dataset it needs, so the loop knows nothing about labels. Another setting (e.g. incremental
segmentation, where a step's images are those containing its classes and labels of other
classes are remapped) is another :class:`~cissreg.datasets.base_task_split.BaseTaskSplit`.
"""
from typing import Dict, List, Optional, Tuple

from torch.utils.data import Dataset

from cissreg.registry import TASK_UTILS
from cissreg.utils.task_split import incremental_task_sizes

from ..base_task_split import BaseTaskSplit
from .base_cil_dataset import ClassSubset, class_range_subset


@TASK_UTILS.register_module()
class ClassIncrementalSplit(BaseTaskSplit):
    """Tasks of ``init_class`` then ``increment`` classes in incremental label order.

    Task ``t`` trains on the samples whose incremental label is in ``[start_t, end_t)`` and is
    evaluated on the samples of all classes seen so far, ``[0, end_t)``. Works with any
    dataset that has ``metainfo['classes']`` and ``get_gt_labels()`` (``BaseCILDataset``).

    Args:
        init_class (int, optional): Classes of task 0. Defaults to the model's task sizes
            (handed by ``IncrementalLoop``).
        increment (int, optional): Classes of each later task; given with ``init_class``.
    """

    def __init__(self, init_class: Optional[int] = None,
                 increment: Optional[int] = None) -> None:
        super().__init__()
        if (init_class is None) != (increment is None):
            raise ValueError('ClassIncrementalSplit: give both init_class and increment, or '
                             'neither (the model\'s task_sizes are used)')
        self.init_class = init_class
        self.increment = increment

    def task_sizes(self, dataset: Dataset) -> List[int]:
        """Classes per task."""
        num_classes = len(_base(dataset).metainfo['classes'])
        if self.init_class is None:
            return self._adopted(num_classes)
        return incremental_task_sizes(num_classes, self.init_class, self.increment)

    def ranges(self, dataset: Dataset) -> List[Tuple[int, int]]:
        """``[(start, end), ...]`` of every task of ``dataset``'s classes."""
        ranges, start = [], 0
        for size in self.task_sizes(dataset):
            ranges.append((start, start + size))
            start += size
        return ranges

    def task_info(self, dataset: Dataset, task_id: int) -> Dict:
        """What a model needs to enter task ``task_id``.

        Returns:
            dict: ``class_names`` (all classes, incremental order), ``new_classes`` (label
            ids of the task), ``num_seen_classes`` and ``task_sizes``.
        """
        start, end = self.ranges(dataset)[task_id]
        return dict(class_names=list(_base(dataset).metainfo['classes']),
                    new_classes=list(range(start, end)), num_seen_classes=end,
                    task_sizes=self.task_sizes(dataset))

    def train_subset(self, dataset: Dataset, task_id: int) -> ClassSubset:
        """The samples of task ``task_id``'s classes."""
        start, end = self.ranges(dataset)[task_id]
        return class_range_subset(_base(dataset), start, end)

    def eval_subset(self, dataset: Dataset, task_id: int) -> ClassSubset:
        """The samples of all classes seen up to task ``task_id``."""
        return class_range_subset(_base(dataset), 0, self.ranges(dataset)[task_id][1])


def _base(dataset: Dataset) -> Dataset:
    """The full dataset behind a (possibly nested) :class:`ClassSubset`."""
    while isinstance(dataset, ClassSubset):
        dataset = dataset.dataset
    return dataset
