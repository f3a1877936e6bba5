"""Class-incremental segmentation mIoU: old (incl. background), new, all, hIoU per step."""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from cissreg.registry import METRICS

from .incremental_metric import IncrementalMetricMixin


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, num_labels: int,
                     ignore_index: int = 255) -> np.ndarray:
    """``[K, K]`` int64 counts ``cm[g, p]`` over pixels with ``gt != ignore_index``."""
    gt, pred = gt.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    valid = gt != ignore_index
    return np.bincount(gt[valid] * num_labels + pred[valid],
                       minlength=num_labels * num_labels).reshape(num_labels, num_labels)


def class_iou(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU ``tp / (gt + pred - tp)``; nan for a class with neither GT nor
    prediction."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def ciss_miou(cm: np.ndarray, num_base: int, num_seen: int) -> Dict[str, float]:
    """mIoU (%) of old = background + classes ``1..num_base``, new = ``num_base+1 ..
    num_seen``, all = ``0..num_seen``, and hIoU = 2 old new / (old + new); nan classes are
    left out of a mean, an empty group is nan."""
    iou = class_iou(cm)

    def mean(sl: slice) -> float:
        vals = iou[sl]
        vals = vals[~np.isnan(vals)]
        return float(vals.mean() * 100) if vals.size else float('nan')

    old, new, all_ = mean(slice(0, num_base + 1)), mean(slice(num_base + 1, num_seen + 1)), \
        mean(slice(0, num_seen + 1))
    hiou = 2 * old * new / (old + new) if (old + new) > 0 else float('nan')
    return dict(mIoU_old=old, mIoU_new=new, mIoU_all=all_, hIoU=hiou)


@METRICS.register_module()
class CISSMetric(IncrementalMetricMixin, BaseMetric):
    """One confusion matrix over the evaluated set (255 ignored) -> ``mIoU_old``,
    ``mIoU_new``, ``mIoU_all``, ``hIoU`` of the current step, and their averages over the
    steps evaluated so far (``avg_mIoU_all`` ...).

    The step, the number of base classes and of seen classes come with every data sample
    (``ciss_task``, ``ciss_num_base``, ``ciss_num_seen``, set by ``CISSTaskSplit``'s
    eval subset); without them the metric evaluates all classes as one step. ``history``
    (per-step rows with per-class IoU) is restored on resume and written to the results
    file by the loop.

    Args:
        num_classes (int, optional): Foreground classes; defaults to ``dataset_meta``.
        ignore_index (int): Defaults to 255.
        collect_device (str): Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'ciss'``.
    """

    default_prefix = 'ciss'

    def __init__(self, num_classes: Optional[int] = None, ignore_index: int = 255,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.history: Dict[int, dict] = {}

    def _num_labels(self) -> int:
        if self.num_classes is None:
            return len(self.dataset_meta['classes']) + 1
        return self.num_classes + 1

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        k = self._num_labels()
        for sample in data_samples:
            pred = np.asarray(sample['pred_sem_seg'].cpu())
            gt = np.asarray(sample['gt_seg'].cpu())
            info = (int(sample.get('ciss_task', 0)), int(sample.get('ciss_num_base', k - 1)),
                    int(sample.get('ciss_num_seen', k - 1)))
            self.results.append((confusion_matrix(gt, pred, k, self.ignore_index), info))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        cm = sum(r[0] for r in results)
        task, num_base, num_seen = results[0][1]
        row = ciss_miou(cm, num_base, num_seen)
        self.history[task] = dict(row, class_iou=[None if np.isnan(v) else float(v * 100)
                                                  for v in class_iou(cm)[:num_seen + 1]])
        out = dict(row)
        for key in ('mIoU_old', 'mIoU_new', 'mIoU_all', 'hIoU'):
            vals = [h[key] for h in self.history.values() if not np.isnan(h[key])]
            out[f'avg_{key}'] = float(np.mean(vals)) if vals else float('nan')
        print_log('CISS results per step (mIoU %):\n' + self.table(), logger='current')
        return out

    def table(self) -> str:
        """Markdown table of the per-step rows."""
        lines = ['| step | old | new | all | hIoU |', '| --- | --- | --- | --- | --- |']
        for t in sorted(self.history):
            h = self.history[t]
            lines.append(f'| {t} | ' + ' | '.join(
                f'{h[k]:.2f}' for k in ('mIoU_old', 'mIoU_new', 'mIoU_all', 'hIoU')) + ' |')
        return '\n'.join(lines)

    def state_dict(self) -> dict:
        return dict(history=[[t, self.history[t]] for t in sorted(self.history)])

    def load_state_dict(self, state: dict) -> None:
        self.history = {int(t): row for t, row in state['history']}

    def incremental_record(self) -> dict:
        """Per-step rows and the markdown table (for the loop's results file)."""
        return dict(steps=[dict(step=t, **self.history[t]) for t in sorted(self.history)],
                    table=self.table())
