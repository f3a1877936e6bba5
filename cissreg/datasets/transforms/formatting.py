"""Packing: the pipeline's numpy results -> ``dict(inputs=Tensor, data_samples=DetDataSample)``."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from cissreg.registry import TRANSFORMS
from cissreg.structures import DetDataSample

_META_DEFAULTS = dict(scale_factor=lambda: (1.0, 1.0), pad_param=lambda: np.zeros(4, np.float32),
                      flip=lambda: False, flip_direction=lambda: None)


@TRANSFORMS.register_module()
class PackDetInputs(BaseTransform):
    """Pack an image and its boxes for a detector.

    Output ``inputs``: uint8 Tensor [3, H, W] (BGR, contiguous). ``data_samples``: a
    :class:`DetDataSample` whose ``gt_instances`` hold the *non-ignored* boxes (``bboxes``
    float32 [N, 4] in input-image pixels, ``labels`` int64 [N]; present when the pipeline
    loaded annotations) and whose metainfo holds ``meta_keys``. ``scale_factor`` defaults to
    (1.0, 1.0), ``pad_param`` to zeros, ``flip`` to False and ``flip_direction`` to None when no
    transform set them; other missing keys are skipped. ``instances`` is the dataset's cleaned
    annotation in original-image coordinates (ignored boxes included, for the metric).

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                                             'scale_factor', 'pad_param', 'flip',
                                             'flip_direction', 'instances')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = DetDataSample()
        if 'gt_bboxes' in results:
            keep = ~results.get('gt_ignore_flags', np.zeros(len(results['gt_bboxes']), bool))
            gt = InstanceData()
            gt.bboxes = torch.from_numpy(
                np.asarray(results['gt_bboxes'], np.float32).reshape(-1, 4)[keep].copy())
            gt.labels = torch.from_numpy(
                np.asarray(results['gt_bboxes_labels'], np.int64)[keep].copy())
            sample.gt_instances = gt
        meta = {}
        for key in self.meta_keys:
            if key in results:
                meta[key] = results[key]
            elif key in _META_DEFAULTS:
                meta[key] = _META_DEFAULTS[key]()
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
