from .cifar100_superclass_dataset import CIFAR100SuperclassDataset
from .gcd_dataset_wrapper import GCDDatasetWrapper, labelled_mask
from .mnist5k_dataset import MNIST5kDataset

__all__ = ['CIFAR100SuperclassDataset', 'GCDDatasetWrapper', 'labelled_mask', 'MNIST5kDataset']
