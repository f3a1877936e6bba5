from .base_cil_dataset import BaseCILDataset, ClassSubset, class_order_from_seed, class_range_subset
from .cifar100_dataset import CIFAR100CILDataset
from .compositional_shapes import CompositionalShapesCILDataset
from .digits_dataset import DIGIT_NAMES, DigitsCILDataset
from .imagenet_r_dataset import ImageNetRCILDataset
from .task_split import ClassIncrementalSplit
from .transforms import PackCILInputs

__all__ = [
    'BaseCILDataset', 'ClassSubset', 'class_order_from_seed', 'class_range_subset',
    'CIFAR100CILDataset', 'DIGIT_NAMES', 'DigitsCILDataset', 'ImageNetRCILDataset',
    'ClassIncrementalSplit', 'CompositionalShapesCILDataset', 'PackCILInputs'
]
