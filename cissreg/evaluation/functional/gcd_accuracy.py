"""Clustering accuracy of generalized category discovery (GCD's ``split_cluster_acc_v2``)."""
from typing import Dict, Sequence

import numpy as np

from cissreg.utils.optional_import import import_optional


def gcd_cluster_accuracy(y_true: np.ndarray, y_pred: np.ndarray,
                         old_classes: Sequence[int]) -> Dict[str, float]:
    """Accuracy all / old / new under one Hungarian matching over all classes.

    ``w[pred, true]`` counts the samples; the assignment maximises the matched count
    (``linear_sum_assignment(w.max() - w)``); a sample is correct when its cluster is matched
    to its true class. ``old`` / ``new`` are the accuracies over the samples whose *ground
    truth* class is in / not in ``old_classes``, under the same matching (GCD's "v2").
    A prediction of -1 (unassigned) is a cluster of its own.

    Args:
        y_true (np.ndarray): int [N] ground-truth classes (>= 0).
        y_pred (np.ndarray): int [N] cluster ids (>= -1).
        old_classes (Sequence[int]): classes that had labels.

    Returns:
        dict: ``all``, ``old``, ``new`` in [0, 1] (NaN for a group without samples).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f'gcd_cluster_accuracy: y_true and y_pred must be [N], got '
                         f'{y_true.shape} and {y_pred.shape}')
    if len(y_true) == 0:
        return dict(all=float('nan'), old=float('nan'), new=float('nan'))
    y_pred = np.where(y_pred < 0, y_pred.max() + 1, y_pred)
    size = int(max(y_pred.max(), y_true.max())) + 1
    w = np.zeros((size, size), dtype=np.int64)
    np.add.at(w, (y_pred, y_true), 1)
    optimize = import_optional('scipy.optimize', 'gcd', 'GCD cluster accuracy')
    rows, cols = optimize.linear_sum_assignment(w.max() - w)
    mapping = np.empty(size, dtype=np.int64)
    mapping[rows] = cols
    correct = mapping[y_pred] == y_true
    old = np.isin(y_true, np.asarray(list(old_classes), dtype=np.int64))

    def acc(mask: np.ndarray) -> float:
        return float(correct[mask].mean()) if mask.any() else float('nan')

    return dict(all=float(correct.mean()), old=acc(old), new=acc(~old))
