"""pycocotools' ``COCOeval.summarize()`` for bbox: the 12 stats and per-category AP."""
from typing import Optional, Sequence, Tuple

import numpy as np

#: Names of the 12 numbers of ``COCOeval.stats``, in order.
COCO_STAT_NAMES: Tuple[str, ...] = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10',
                                    'AR100', 'ARs', 'ARm', 'ARl')


def summarize(precision: np.ndarray, recall: np.ndarray, iou_thrs: np.ndarray,
              max_dets: Sequence[int]) -> np.ndarray:
    """``COCOeval.summarize()`` for bbox: the 12 stats."""

    def mean(ap: bool, iou_thr: Optional[float] = None, area: int = 0,
             max_det: int = max_dets[2]) -> float:
        m = list(max_dets).index(max_det)
        s = precision[..., area, m] if ap else recall[..., area, m]
        if iou_thr is not None:
            s = s[np.flatnonzero(iou_thrs == iou_thr)]
        s = s[s > -1]
        return float(np.mean(s)) if s.size else -1.0

    return np.array([
        mean(True),
        mean(True, iou_thr=.5),
        mean(True, iou_thr=.75),
        mean(True, area=1),
        mean(True, area=2),
        mean(True, area=3),
        mean(False, max_det=max_dets[0]),
        mean(False, max_det=max_dets[1]),
        mean(False),
        mean(False, area=1),
        mean(False, area=2),
        mean(False, area=3),
    ])


def per_class_ap(precision: np.ndarray) -> np.ndarray:
    """AP@[iou_thrs] per category (area 'all', the largest maxDets) from [T, R, K, A, M].

    Returns:
        np.ndarray: [K] mean of the valid precision values, ``-1`` for a category without GT.
    """
    num_classes = precision.shape[2]
    classwise = precision[:, :, :, 0, -1].transpose(2, 0, 1).reshape(num_classes, -1)
    return np.array([row[row > -1].mean() if (row > -1).any() else -1.0 for row in classwise])
