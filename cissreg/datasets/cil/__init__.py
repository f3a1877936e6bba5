from .base_cil_dataset import (BaseCILDataset, ClassSubset, class_order_from_seed,
                               class_range_subset)
from .cifar100_dataset import CIFAR100CILDataset
from .digits_dataset import DIGIT_NAMES, DigitsCILDataset
from .imagenet_r_dataset import ImageNetRCILDataset
from .task_split import incremental_task_sizes, range_key, task_class_ranges
from .transforms import PackCILInputs

__all__ = [
    'BaseCILDataset', 'ClassSubset', 'class_order_from_seed', 'class_range_subset',
    'CIFAR100CILDataset', 'DIGIT_NAMES', 'DigitsCILDataset', 'ImageNetRCILDataset',
    'incremental_task_sizes', 'range_key', 'task_class_ranges', 'PackCILInputs'
]
