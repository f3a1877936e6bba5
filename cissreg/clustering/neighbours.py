"""Sorted neighbour lists of a whole feature set, shared by the SSDDBC steps."""
from dataclasses import dataclass

import numpy as np

from .knn import knn


@dataclass
class Neighbours:
    """Sorted neighbour lists of the full set (:func:`full_neighbours`).

    Attributes:
        idx (np.ndarray): int64 [N, K] neighbour indices, each row by (distance, index).
        dist (np.ndarray): float64 [N, K] their Euclidean distances.
    """
    idx: np.ndarray
    dist: np.ndarray


def full_neighbours(features: np.ndarray, n_neighbors: int = 64,
                    backend: str = 'auto') -> Neighbours:
    """Sorted neighbour lists of the full set (:func:`cissreg.clustering.knn.knn`).

    Steps (1)-(2) read their first ``k`` columns; steps (3), (5) and (6) read further and
    search exactly only where a list is too short, so longer lists trade memory for time.

    Args:
        features (np.ndarray): float [N, D].
        n_neighbors (int): List length (clipped to ``N - 1``). Defaults to 64.
        backend (str): kNN backend. Defaults to ``'auto'``.
    """
    idx, dist = knn(features, min(n_neighbors, len(features) - 1), backend)
    return Neighbours(idx=idx, dist=dist)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64 [A, B] Euclidean distances (``|a|^2 + |b|^2 - 2ab``, clipped at 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


def segment_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start positions of the runs of equal values in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
