"""SSDDBC: semi-supervised density-based clustering, steps (1)-(6) below.

Plain numpy / scipy / scikit-learn (or faiss) code, no training framework. ``labels`` inputs
use ``-1`` for an unlabelled point. One call of :func:`ssddbc` runs the six steps:

1. kNN of every point (Euclidean, ties by index); density ``rho_i = 1 / median`` kNN distance.
2. Relative density ``rho'_i = (k + mean(rho)) / (k + mean_{j in kNN(i)} rho_j) * rho_i``;
   core points are those with ``rho'`` >= its ``percentile``-th percentile.
3. kNN recomputed inside the core set; an edge is kept when its length is under the mean
   core kNN distance (edges are undirected).
4. Clusters grown breadth-first over the kept edges from core points in descending ``rho'``
   (ties by index), neighbours visited in index order; a labelled point never joins a cluster
   that holds a point with another label. A cluster becomes *labelled* (its pseudo label is
   that class) when it has >= 5 members, > 25% of them labelled and >= 80% purity.
5. Core clusters of <= 3 points are merged into the cluster of the nearest core point of a
   larger compatible cluster (a cluster holding labels may only join one with the same label).
6. Non-core points join the cluster with the smallest mean distance to its 3 nearest members;
   a labelled non-core point only joins a cluster holding its own label (else stays -1).

Pseudo labels: a labelled cluster gets its class; the other clusters get ids
``num_known_classes, num_known_classes + 1, ...`` in growth order.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from cissreg.utils.optional_import import import_optional

from .assignment import assign_non_core, merge_small_clusters
from .density import core_graph, core_knn, core_mask_from_density, local_density, relative_density
from .growth import cluster_owners, grow_clusters, label_clusters
from .neighbours import Neighbours, full_neighbours


@dataclass
class SSDDBCResult:
    """Output of :func:`ssddbc` for ``N`` points.

    Attributes:
        labels (np.ndarray): int64 [N] pseudo labels, -1 = unassigned.
        core_mask (np.ndarray): bool [N] core points of step (2).
        densities (np.ndarray): float64 [N] relative densities ``rho'`` of step (2).
        clusters (np.ndarray): int64 [N] cluster index (growth order) or -1.
        cluster_classes (np.ndarray): int64 [C] class of each labelled cluster, -1 otherwise.
    """
    labels: np.ndarray
    core_mask: np.ndarray
    densities: np.ndarray
    clusters: np.ndarray
    cluster_classes: np.ndarray


def first_bad_row(features: np.ndarray) -> Optional[int]:
    """Index of the first row of ``features`` [N, D] holding a NaN or an infinity, or None."""
    bad = ~np.isfinite(features).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def check_inputs(features: np.ndarray, labels: np.ndarray, num_known_classes: Optional[int],
                 caller: str) -> Tuple[np.ndarray, np.ndarray, int]:
    """Validate and convert the inputs of :func:`ssddbc` / ``grid_search``.

    Returns:
        tuple: float32 contiguous features [N, D], int64 labels [N] and the number of known
        classes (``max(labels) + 1`` when not given, 0 without labels).

    Raises:
        ValueError: features not [N, D] or not finite (the first bad row is named), labels not
            [N] or below -1, ``num_known_classes`` not above every label.
    """
    features = np.asarray(features)
    labels = np.asarray(labels)
    if features.ndim != 2 or labels.shape != (len(features), ):
        raise ValueError(f'{caller}: features [N, D] and labels [N] expected, got '
                         f'{features.shape} and {labels.shape}')
    row = first_bad_row(features)
    if row is not None:
        raise ValueError(f'{caller}: features row {row} is not finite ({features[row][:8]}...); '
                         'clustering needs finite features (check the model / feature cache)')
    features = np.ascontiguousarray(features, dtype=np.float32)
    labels = labels.astype(np.int64)
    if (labels < -1).any():
        raise ValueError(f'{caller}: labels must be >= 0 or -1 (unlabelled), got '
                         f'{int(labels.min())} at row {int(np.argmin(labels))}')
    top = int(labels.max()) + 1 if (labels >= 0).any() else 0
    if num_known_classes is None:
        return features, labels, top
    if int(num_known_classes) < top:
        raise ValueError(f'{caller}: num_known_classes={num_known_classes} but the labels reach '
                         f'class {top - 1}; it must be >= {top} (new-cluster ids start at '
                         'num_known_classes and would collide with known classes)')
    return features, labels, int(num_known_classes)


def ssddbc(features: np.ndarray, labels: np.ndarray, k: int, percentile: float,
           num_known_classes: Optional[int] = None, backend: str = 'auto',
           neighbours: Optional[Neighbours] = None) -> SSDDBCResult:
    """Run steps (1)-(6) once.

    Args:
        features (np.ndarray): float [N, D], finite.
        labels (np.ndarray): int [N] known labels, -1 = unlabelled.
        k (int): Neighbours of steps (1)-(3).
        percentile (float): Core density percentile of step (2), in [0, 100].
        num_known_classes (int, optional): First id of the new-cluster pseudo labels,
            ``> max(labels)``. Defaults to ``max(labels) + 1``.
        backend (str): kNN backend. Defaults to ``'auto'``.
        neighbours (Neighbours, optional): full-set lists with >= ``k`` columns, shared by
            the runs of a grid search. Defaults to :func:`full_neighbours` of ``features``.

    Returns:
        SSDDBCResult: see its attributes.

    Raises:
        ValueError: see :func:`check_inputs`; ``k`` outside ``[1, N - 1]``.
    """
    features, labels, first_new = check_inputs(features, labels, num_known_classes, 'ssddbc')
    if not 1 <= k < len(features):
        raise ValueError(f'ssddbc: k must be in [1, {len(features) - 1}], got {k}')
    if neighbours is None:
        neighbours = full_neighbours(features, backend=backend)
    if neighbours.idx.shape[1] < k:
        raise ValueError(f'ssddbc: neighbour lists hold {neighbours.idx.shape[1]} columns, '
                         f'k={k} needs more')
    rho_rel = relative_density(local_density(neighbours.dist[:, :k]), neighbours.idx[:, :k])
    core = core_mask_from_density(rho_rel, percentile)
    core_idx = np.flatnonzero(core)
    if len(core_idx) >= 2:
        adjacency = core_graph(*core_knn(features, core, k, neighbours, backend))
    else:
        sparse = import_optional('scipy.sparse', 'gcd', 'SSDDBC clustering')
        adjacency = sparse.csr_matrix((len(core_idx), len(core_idx)), dtype=bool)
    cluster_core = grow_clusters(adjacency, rho_rel[core_idx], labels[core_idx])
    n_clusters = int(cluster_core.max()) + 1 if len(cluster_core) else 0
    owners = cluster_owners(cluster_core, labels[core_idx], n_clusters)
    classes = label_clusters(cluster_core, labels[core_idx], n_clusters)
    cluster_core = merge_small_clusters(features, core_idx, cluster_core, owners, neighbours)
    clusters = np.full(len(features), -1, dtype=np.int64)
    clusters[core_idx] = cluster_core
    non_core = np.flatnonzero(~core)
    clusters[non_core] = assign_non_core(features, non_core, labels[non_core], clusters, owners,
                                         neighbours)
    pseudo = classes.copy()
    new = np.flatnonzero((classes < 0) & (np.bincount(cluster_core, minlength=n_clusters) > 0))
    pseudo[new] = first_new + np.arange(len(new))
    out = pseudo[clusters] if n_clusters else clusters.copy()
    out[clusters < 0] = -1
    return SSDDBCResult(labels=out.astype(np.int64), core_mask=core, densities=rho_rel,
                        clusters=clusters, cluster_classes=classes)
