from .base_det_dataset import BaseDetDataset
from .cil import *  # noqa: F401,F403
from .coco_det_dataset import CocoDetDataset
from .det_collate import stack_det_collate
from .few_shot_subset import FewShotSubset, few_shot_indices
from .gcd import *  # noqa: F401,F403
from .refcoco_region_dataset import RefCocoRegionDataset
from .region_pair_dataset import RegionPairDataset, region_pair_vocabulary
from .seg import *  # noqa: F401,F403
from .shapes_det_dataset import SHAPE_CLASSES, ShapesDetDataset
from .transforms import *  # noqa: F401,F403
from .voc_det_dataset import VOC_CLASSES, VOCDetDataset
from .yolo_txt_dataset import YOLOTxtDataset

__all__ = [
    'BaseDetDataset', 'CocoDetDataset', 'FewShotSubset', 'few_shot_indices', 'SHAPE_CLASSES',
    'ShapesDetDataset', 'VOC_CLASSES',
    'VOCDetDataset', 'YOLOTxtDataset', 'RefCocoRegionDataset', 'RegionPairDataset',
    'region_pair_vocabulary', 'stack_det_collate'
]
