from .ade20k_seg_dataset import ADE20KSegDataset
from .base_seg_dataset import BaseSegDataset
from .memory import class_balanced_memory
from .shapes_seg_dataset import SHAPE_SEG_CLASSES, ShapesSegDataset, generate_shapes_seg
from .task_split import CISSTaskSplit, ciss_task_sizes, label_presence, step_images
from .task_subset import SegTaskSubset
from .transforms import (LoadSegSample, PackSegInputs, SegRandomFlip, SegRandomResizedCrop,
                         SegResizeCenterCrop, label_lut)
from .voc_seg_dataset import VOC_SEG_CLASSES, VOCSegDataset

__all__ = [
    'ADE20KSegDataset', 'BaseSegDataset', 'class_balanced_memory', 'SHAPE_SEG_CLASSES',
    'ShapesSegDataset', 'generate_shapes_seg', 'CISSTaskSplit', 'ciss_task_sizes',
    'label_presence', 'step_images', 'SegTaskSubset', 'LoadSegSample', 'PackSegInputs',
    'SegRandomFlip', 'SegRandomResizedCrop', 'SegResizeCenterCrop', 'label_lut',
    'VOC_SEG_CLASSES', 'VOCSegDataset'
]
