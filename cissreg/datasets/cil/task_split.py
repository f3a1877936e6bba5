"""The task split of a class-incremental run: which samples each task trains and is tested on.

:class:`IncrementalLoop` asks a registered split object (``train_cfg.task_split``) for every
dataset it needs, so the loop knows nothing about labels. Another setting (e.g. incremental
segmentation, where a step's images are those containing its classes and labels of other
classes are remapped) is another split class with the same four methods.
"""
from typing import Dict, List, Tuple

from torch.utils.data import Dataset

from cissreg.registry import DATASETS
from cissreg.utils.task_split import task_class_ranges
from .base_cil_dataset import ClassSubset, class_range_subset


@DATASETS.register_module()
class ClassIncrementalSplit:
    """Tasks of ``init_class`` then ``increment`` classes in incremental label order.

    Task ``t`` trains on the samples whose incremental label is in ``[start_t, end_t)`` and is
    evaluated on the samples of all classes seen so far, ``[0, end_t)``. Works with any
    dataset that has ``metainfo['classes']`` and ``get_gt_labels()`` (``BaseCILDataset``).

    Args:
        init_class (int): Classes of task 0.
        increment (int): Classes of each later task.
    """

    def __init__(self, init_class: int, increment: int) -> None:
        self.init_class = init_class
        self.increment = increment

    def ranges(self, dataset: Dataset) -> List[Tuple[int, int]]:
        """``[(start, end), ...]`` of every task of ``dataset``'s classes."""
        return task_class_ranges(len(_base(dataset).metainfo['classes']), self.init_class,
                                 self.increment)

    def num_tasks(self, dataset: Dataset) -> int:
        """Number of tasks over ``dataset``'s classes."""
        return len(self.ranges(dataset))

    def task_info(self, dataset: Dataset, task_id: int) -> Dict:
        """What a model needs to enter task ``task_id``.

        Returns:
            dict: ``class_names`` (all classes, incremental order), ``new_classes`` (label
            ids of the task) and ``num_seen_classes``.
        """
        start, end = self.ranges(dataset)[task_id]
        return dict(class_names=list(_base(dataset).metainfo['classes']),
                    new_classes=list(range(start, end)), num_seen_classes=end)

    def train_subset(self, dataset: Dataset, task_id: int) -> ClassSubset:
        """The samples of task ``task_id``'s classes."""
        start, end = self.ranges(dataset)[task_id]
        return class_range_subset(_base(dataset), start, end)

    def eval_subset(self, dataset: Dataset, task_id: int) -> ClassSubset:
        """The samples of all classes seen up to task ``task_id``."""
        return class_range_subset(_base(dataset), 0, self.ranges(dataset)[task_id][1])

    def task_sizes(self, dataset: Dataset) -> List[int]:
        """Classes per task."""
        return [e - s for s, e in self.ranges(dataset)]


def _base(dataset: Dataset) -> Dataset:
    """The full dataset behind a (possibly nested) :class:`ClassSubset`."""
    while isinstance(dataset, ClassSubset):
        dataset = dataset.dataset
    return dataset

