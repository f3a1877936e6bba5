"""SSDDBC steps (1)-(3): densities, core points and the core kNN graph (docs/en/methods/gcd.md)."""
from typing import TYPE_CHECKING, Tuple

import numpy as np

from cissreg.utils.optional_import import import_optional

from .knn import knn
from .neighbours import Neighbours

if TYPE_CHECKING:  # scipy comes with the "gcd" extra
    from scipy import sparse


def local_density(knn_dist: np.ndarray) -> np.ndarray:
    """Step (1): ``rho_i = 1 / median_j d(i, kNN_j(i))``.

    Args:
        knn_dist (np.ndarray): float [N, k] kNN distances.

    Returns:
        np.ndarray: float64 [N]; a point with zero median distance gets ``1 / 1e-12``.
    """
    return 1.0 / np.maximum(np.median(knn_dist, axis=1), 1e-12)


def relative_density(rho: np.ndarray, knn_idx: np.ndarray) -> np.ndarray:
    """Step (2): ``rho'_i = (k + mean(rho)) / (k + mean_{j in kNN(i)} rho_j) * rho_i``.

    Args:
        rho (np.ndarray): float [N] densities of step (1).
        knn_idx (np.ndarray): int [N, k] kNN indices (``k`` is their number of columns).

    Returns:
        np.ndarray: float64 [N].
    """
    k = knn_idx.shape[1]
    return (k + rho.mean()) / (k + rho[knn_idx].mean(axis=1)) * rho


def core_mask_from_density(rho_rel: np.ndarray, percentile: float) -> np.ndarray:
    """Step (2): bool [N], ``rho' >= np.percentile(rho', percentile)`` (linear interpolation)."""
    return rho_rel >= np.percentile(rho_rel, percentile)


def core_knn(features: np.ndarray, core_mask: np.ndarray, k: int, neighbours: Neighbours,
             backend: str = 'auto') -> Tuple[np.ndarray, np.ndarray]:
    """Step (3), search: the ``k`` nearest core points of every core point.

    Read from the full-set neighbour lists where a row holds ``k`` core points (exact: the
    lists are sorted), searched in the core set for the other rows.

    Args:
        features (np.ndarray): float [N, D].
        core_mask (np.ndarray): bool [N].
        k (int): Neighbours (clipped to ``M - 1`` for ``M`` core points, ``M >= 2``).
        neighbours (Neighbours): full-set lists.
        backend (str): kNN backend of the searched rows.

    Returns:
        tuple[np.ndarray, np.ndarray]: core-local indices int64 [M, k] and float64 distances.
    """
    core_idx = np.flatnonzero(core_mask)
    m = len(core_idx)
    k = min(k, m - 1)
    local = np.full(len(core_mask), -1, dtype=np.int64)
    local[core_idx] = np.arange(m)
    cand, dist = neighbours.idx[core_idx], neighbours.dist[core_idx]
    is_core = core_mask[cand]
    rank = np.cumsum(is_core, axis=1)
    enough = rank[:, -1] >= k
    take = is_core & (rank <= k) & enough[:, None]
    out_idx = np.empty((m, k), dtype=np.int64)
    out_dist = np.empty((m, k), dtype=np.float64)
    out_idx[enough] = local[cand[take]].reshape(-1, k)
    out_dist[enough] = dist[take].reshape(-1, k)
    rest = np.flatnonzero(~enough)
    if len(rest):
        out_idx[rest], out_dist[rest] = knn(features[core_idx], k, backend,
                                            queries=features[core_idx[rest]], query_ids=rest)
    return out_idx, out_dist


def core_graph(knn_idx: np.ndarray, knn_dist: np.ndarray) -> 'sparse.csr_matrix':
    """Step (3), edges: undirected core kNN graph, edges shorter than the mean kNN distance
    (and edges of length 0: identical points are always connected, also when every distance
    is 0 and nothing is shorter than the mean).

    Args:
        knn_idx (np.ndarray): int [M, k] core-local kNN indices (:func:`core_knn`).
        knn_dist (np.ndarray): float [M, k] their distances.

    Returns:
        scipy.sparse.csr_matrix: bool [M, M] symmetric adjacency with sorted column indices.
    """
    m = len(knn_idx)
    keep = ((knn_dist < knn_dist.mean()) | (knn_dist == 0)).ravel() if knn_dist.size \
        else np.zeros(0, bool)
    rows = np.repeat(np.arange(m), knn_idx.shape[1])[keep]
    cols = knn_idx.ravel()[keep]
    sparse = import_optional('scipy.sparse', 'gcd', 'SSDDBC clustering')
    adj = sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(m, m))
    adj = (adj + adj.T).tocsr()
    adj.sort_indices()
    return adj
