"""Packing of classification samples for :class:`CLIPPromptClassifier`."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement

from cissreg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackCILInputs(BaseTransform):
    """``img`` [H, W, 3] uint8 -> ``inputs`` uint8 [3, H, W]; label -> ``data_samples``.

    Output: ``dict(inputs=Tensor, data_samples=BaseDataElement)`` whose data sample has
    ``gt_label`` (int64 [1], incremental label) and metainfo ``sample_idx``, ``img_path``,
    ``ori_label``.
    """

    def transform(self, results: dict) -> dict:
        img = np.ascontiguousarray(results['img'].transpose(2, 0, 1))
        sample = BaseDataElement(metainfo=dict(sample_idx=results['sample_idx'],
                                               img_path=results.get('img_path'),
                                               ori_label=results['ori_label']))
        sample.gt_label = torch.tensor([results['gt_label']], dtype=torch.long)
        return dict(inputs=torch.from_numpy(img), data_samples=sample)
