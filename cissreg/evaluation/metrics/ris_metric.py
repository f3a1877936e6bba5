"""Referring image segmentation metrics: mIoU, cumulative (overall) IoU, Prec@X."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from cissreg.registry import METRICS


@METRICS.register_module()
class RISMetric(BaseMetric):
    """mIoU (mean of per-expression IoU), oIoU (sum of intersections / sum of unions over
    the whole set) and Prec@X (fraction of expressions with IoU >= X), as in LAVT / Sa2VA.

    An expression whose prediction and target are both empty has IoU 1.

    Each prediction (what the model's ``predict`` returns) is a dict with ``pred_mask`` and
    ``gt_mask``: bool [H, W].

    Args:
        thresholds (Sequence[float]): Prec@X thresholds. Defaults to 0.5, 0.6, 0.7, 0.8, 0.9.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Metric name prefix. Defaults to ``'ris'``.
    """

    default_prefix = 'ris'

    def __init__(self, thresholds: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9),
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = tuple(thresholds)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store (intersection, union) of every expression."""
        for sample in data_samples:
            pred = torch.as_tensor(sample['pred_mask']).bool()
            gt = torch.as_tensor(sample['gt_mask']).bool()
            if pred.shape != gt.shape:
                raise ValueError(f'RISMetric: pred_mask {tuple(pred.shape)} and gt_mask '
                                 f'{tuple(gt.shape)} differ')
            self.results.append((int((pred & gt).sum()), int((pred | gt).sum())))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """mIoU, oIoU and Prec@X in [0, 1]."""
        inter = np.array([r[0] for r in results], dtype=np.float64)
        union = np.array([r[1] for r in results], dtype=np.float64)
        iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        metrics = dict(mIoU=float(iou.mean()),
                       oIoU=float(inter.sum() / union.sum()) if union.sum() > 0 else 1.0)
        for t in self.thresholds:
            metrics[f'Prec@{t:g}'] = float((iou >= t).mean())
        return metrics
