"""Class-incremental accuracy: grouped by task, Last, Avg (AIA) and forgetting."""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from cissreg.registry import METRICS
from cissreg.utils.task_split import range_key, task_class_ranges

from .incremental_metric import IncrementalMetricMixin


def grouped_accuracy(preds: np.ndarray, labels: np.ndarray, ranges: Sequence[Tuple[int, int]],
                     task_id: int) -> Dict[str, Optional[float]]:
    """Accuracy (%) after task ``task_id``: all, each seen task's classes, old, new.

    Args:
        preds (np.ndarray): [N] predicted labels.
        labels (np.ndarray): [N] true labels (all < end of task ``task_id``).
        ranges (Sequence[tuple[int, int]]): Class range ``[start, end)`` of every task.
        task_id (int): Current task.

    Returns:
        dict: ``'all'``, one ``'{start}-{end-1}'`` key per seen task in task order (so
        ``'100-109'`` comes after ``'90-99'``), ``'old'`` (None for task 0) and ``'new'``;
        None for a group without samples.
    """
    correct = preds == labels

    def acc(mask: np.ndarray) -> Optional[float]:
        return float(correct[mask].mean() * 100) if mask.any() else None

    start, end = ranges[task_id]
    out: Dict[str, Optional[float]] = {'all': acc(np.ones_like(correct))}
    for s, e in ranges[:task_id + 1]:
        out[range_key(s, e)] = acc((labels >= s) & (labels < e))
    out['old'] = acc(labels < start) if task_id > 0 else None
    out['new'] = acc((labels >= start) & (labels < end))
    return out


def cil_summary(task_acc: Sequence[Sequence[float]],
                all_acc: Sequence[float]) -> Dict[str, Optional[float]]:
    """Last, Avg and forgetting of a run up to its last task T (PyCIL's definitions).

    With ``a[t][j]`` the accuracy on task ``j``'s classes after training task ``t`` and
    ``A[t]`` the accuracy on all classes seen up to ``t``:
    ``Last = A[T]`` (what RAPF / PROOF report as "Last"); ``Avg = mean_t A[t]`` (average
    incremental accuracy, AIA); ``forgetting = mean_{j<T} (max_{l<=T} a[l][j] - a[T][j])``
    (PyCIL's ``np.max(acctable, axis=1) - acctable[:, T]`` over the old tasks; None when
    T = 0).

    Args:
        task_acc (Sequence[Sequence[float]]): Row ``t`` = ``[a[t][0], ..., a[t][t]]``.
        all_acc (Sequence[float]): ``A[0..T]``.

    Returns:
        dict: ``Last``, ``Avg``, ``forgetting``.
    """
    last = len(task_acc) - 1
    if last < 0 or len(all_acc) != len(task_acc):
        raise ValueError('cil_summary needs one accuracy row and one A_t per task')
    forgetting = None
    if last > 0:
        forgetting = float(np.mean([
            max(task_acc[i][j] for i in range(j, last + 1)) - task_acc[last][j]
            for j in range(last)
        ]))
    return dict(Last=float(all_acc[last]), Avg=float(np.mean(all_acc)), forgetting=forgetting)


@METRICS.register_module()
class CILMetric(IncrementalMetricMixin, BaseMetric):
    """Grouped accuracy of a class-incremental model, with the run's history.

    The task being evaluated is the one whose classes end at the model's number of scored
    classes (``len(pred_score)``); samples of classes the model has not seen yet are left
    out (and counted in the log), so a task checkpoint can be tested on the full test set.
    Groups follow the task split (B50-Inc10 gives ``'0-49'``, ``'50-59'``, ...): the
    ``task_sizes`` that ``IncrementalLoop`` and ``CissRunner`` hand in ``dataset_meta``,
    unless ``num_classes`` / ``init_class`` / ``increment`` are given. Each evaluation is
    stored in :attr:`history` by task; once the history holds tasks ``0..t``, the results also
    carry Last, Avg and forgetting (see :func:`cil_summary`).

    Keys (prefix ``cil/``): ``acc_all``, ``acc_{start}-{end}`` per seen task, ``acc_old``
    (from task 1), ``acc_new``, ``task`` and, with a full history, ``Last``, ``Avg``,
    ``forgetting`` (from task 1). Values are percentages.

    Args:
        num_classes (int, optional): Total classes. Defaults to the handed split.
        init_class (int, optional): Classes of task 0.
        increment (int, optional): Classes per later task.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'cil'``.
    """

    default_prefix = 'cil'

    def __init__(self,
                 num_classes: Optional[int] = None,
                 init_class: Optional[int] = None,
                 increment: Optional[int] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        given = [v is not None for v in (num_classes, init_class, increment)]
        if any(given) and not all(given):
            raise ValueError('CILMetric: give num_classes, init_class and increment together, '
                             'or none of them (the task split handed in dataset_meta is used)')
        self._ranges = (task_class_ranges(num_classes, init_class, increment) if all(given)
                        else None)
        self.history: Dict[int, dict] = {}

    @property
    def ranges(self) -> List[Tuple[int, int]]:
        """``[(start, end), ...]`` class range of every task."""
        if self._ranges is not None:
            return self._ranges
        sizes = self.task_sizes_from_meta()
        if sizes is None:
            raise ValueError('CILMetric: no task split. It comes in dataset_meta[\'task_sizes\'] '
                             'from IncrementalLoop or from a CissRunner whose model has '
                             'task_sizes; otherwise give num_classes, init_class and increment')
        starts = np.cumsum([0] + sizes)
        return [(int(s), int(e)) for s, e in zip(starts[:-1], starts[1:])]

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            score, label = sample.get('pred_score'), sample.get('gt_label')
            self.results.append((int(score.argmax()), int(label.reshape(-1)[0]), len(score)))

    def task_of(self, num_scored: int) -> int:
        """Task whose classes end at ``num_scored``."""
        for t, (_, end) in enumerate(self.ranges):
            if end == num_scored:
                return t
        raise ValueError(f'CILMetric: the model scores {num_scored} classes, which is no task '
                         f'boundary of {[e for _, e in self.ranges]}')

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        seen = {r[2] for r in results}
        if len(seen) != 1:
            raise ValueError(f'CILMetric: predictions score different numbers of classes {seen}')
        task = self.task_of(seen.pop())
        preds = np.array([r[0] for r in results])
        labels = np.array([r[1] for r in results])
        keep = labels < self.ranges[task][1]
        if not keep.all():
            print_log(f'CILMetric: {int((~keep).sum())} samples of classes not seen by task '
                      f'{task} are left out', logger='current')
        grouped = grouped_accuracy(preds[keep], labels[keep], self.ranges, task)
        task_keys = [range_key(s, e) for s, e in self.ranges[:task + 1]]
        self.history[task] = dict(grouped=grouped, task_acc=[grouped[k] for k in task_keys])
        metrics: Dict[str, float] = {'task': float(task)}
        metrics.update({f'acc_{k}': v for k, v in grouped.items() if v is not None})
        summary = self.summary(task)
        if summary is not None:
            metrics.update({k: v for k, v in summary.items() if v is not None})
        return metrics

    def summary(self, last_task: int) -> Optional[Dict[str, Optional[float]]]:
        """Last / Avg / forgetting up to ``last_task`` (None without the full history)."""
        rows = [self.history.get(t) for t in range(last_task + 1)]
        if any(r is None for r in rows) or any(v is None for r in rows for v in r['task_acc']):
            return None
        return cil_summary([r['task_acc'] for r in rows], [r['grouped']['all'] for r in rows])

    def incremental_record(self) -> dict:
        """The run's record for the results file: grouped accuracy per task, the accuracy
        matrix ``a[t][j]`` and the summary of the latest task."""
        tasks = sorted(self.history)
        out = dict(grouped={str(t): self.history[t]['grouped'] for t in tasks},
                   acc_matrix=[self.history[t]['task_acc'] for t in tasks])
        out.update(self.summary(tasks[-1]) or {} if tasks else {})
        return out

    def state_dict(self) -> dict:
        """The history, as plain types (stored in checkpoints for resuming)."""
        return {'history': [[t, self.history[t]] for t in sorted(self.history)]}

    def load_state_dict(self, state: dict) -> None:
        self.history = {int(t): row for t, row in state.get('history', [])}
