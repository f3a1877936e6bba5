"""The task split protocol of :class:`~cissreg.engine.loops.IncrementalLoop`."""
from typing import List, Optional, Sequence

from torch.utils.data import Dataset


class BaseTaskSplit:
    """Which samples each task of an incremental run trains and is evaluated on.

    Subclasses are registered in ``TASK_UTILS`` and built from ``train_cfg.task_split``.
    They implement :meth:`task_sizes`, :meth:`task_info`, :meth:`train_subset` and
    :meth:`eval_subset`; a split may state its sizes in its config or adopt the model's
    (:meth:`adopt_task_sizes`, called by the loop), so that a config states them once.
    """

    def __init__(self) -> None:
        self.adopted_task_sizes: Optional[List[int]] = None

    def adopt_task_sizes(self, task_sizes: Sequence[int]) -> None:
        """Use ``task_sizes`` (the model's) when the config gives no sizes of its own."""
        self.adopted_task_sizes = [int(s) for s in task_sizes]

    def _adopted(self, num_classes: int) -> List[int]:
        """The adopted sizes, checked against the dataset's ``num_classes``."""
        if self.adopted_task_sizes is None:
            raise ValueError(f'{type(self).__name__}: no task sizes. Give them in '
                             'train_cfg.task_split, or build the model with task_sizes '
                             '(IncrementalLoop hands them to the split)')
        if sum(self.adopted_task_sizes) != num_classes:
            raise ValueError(f'{type(self).__name__}: the task sizes {self.adopted_task_sizes} '
                             f'sum to {sum(self.adopted_task_sizes)}, but the dataset has '
                             f'{num_classes} classes')
        return self.adopted_task_sizes

    def task_sizes(self, dataset: Dataset) -> List[int]:
        """Classes per task over ``dataset``'s classes."""
        raise NotImplementedError

    def num_tasks(self, dataset: Dataset) -> int:
        """Number of tasks."""
        return len(self.task_sizes(dataset))

    def task_info(self, dataset: Dataset, task_id: int) -> dict:
        """What the model's ``begin_task`` gets for task ``task_id``."""
        raise NotImplementedError

    def train_subset(self, dataset: Dataset, task_id: int) -> Dataset:
        """The training samples of task ``task_id``."""
        raise NotImplementedError

    def eval_subset(self, dataset: Dataset, task_id: int) -> Dataset:
        """The evaluation samples of the classes seen up to task ``task_id``."""
        raise NotImplementedError
