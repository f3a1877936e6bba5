"""SSDDBC step (4): breadth-first cluster growth and cluster labelling (SPEC.md §6)."""
from collections import deque

import numpy as np
from scipy import sparse


def grow_clusters(adjacency: sparse.csr_matrix, rho_rel: np.ndarray,
                  labels: np.ndarray) -> np.ndarray:
    """Step (4), growth: breadth-first clusters that never mix two labels.

    Seeds are taken in descending ``rho_rel`` (ties by index) among unvisited points; a
    labelled neighbour whose label differs from the cluster's stays unvisited (it seeds or
    joins another cluster later).

    Args:
        adjacency (csr_matrix): [M, M] step-(3) graph of the core points.
        rho_rel (np.ndarray): float [M] relative densities of the core points.
        labels (np.ndarray): int [M] labels of the core points, -1 = unlabelled.

    Returns:
        np.ndarray: int64 [M] cluster index of each core point, in growth order.
    """
    m = len(rho_rel)
    cluster = np.full(m, -1, dtype=np.int64)
    indptr, indices = adjacency.indptr, adjacency.indices
    seeds = np.lexsort((np.arange(m), -rho_rel))
    n_clusters = 0
    for seed in seeds:
        if cluster[seed] >= 0:
            continue
        owner = labels[seed]
        cluster[seed] = n_clusters
        queue = deque([seed])
        while queue:
            i = queue.popleft()
            for j in indices[indptr[i]:indptr[i + 1]]:
                if cluster[j] >= 0:
                    continue
                if labels[j] >= 0:
                    if owner >= 0 and labels[j] != owner:
                        continue
                    owner = labels[j]
                cluster[j] = n_clusters
                queue.append(j)
        n_clusters += 1
    return cluster


def cluster_owners(cluster: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """int64 [C]: the label that a cluster's labelled members carry, -1 if it has none.

    With several labels in one cluster (never produced by :func:`grow_clusters`) the largest
    one is returned.
    """
    owners = np.full(n_clusters, -1, dtype=np.int64)
    has = (labels >= 0) & (cluster >= 0)
    np.maximum.at(owners, cluster[has], labels[has])
    return owners


def label_clusters(cluster: np.ndarray, labels: np.ndarray, n_clusters: int,
                   min_size: int = 5, min_labelled: float = 0.25,
                   min_purity: float = 0.8) -> np.ndarray:
    """Step (4), labelling: the class of each cluster that qualifies, else -1.

    A cluster qualifies with ``>= min_size`` members, ``> min_labelled`` of them labelled and
    its most common label covering ``>= min_purity`` of its labelled members.

    Args:
        cluster (np.ndarray): int [M] cluster index per point (-1 = none).
        labels (np.ndarray): int [M] labels, -1 = unlabelled.
        n_clusters (int): Number of clusters ``C``.

    Returns:
        np.ndarray: int64 [C].
    """
    inside = cluster >= 0
    size = np.bincount(cluster[inside], minlength=n_clusters)
    lab = inside & (labels >= 0)
    n_classes = int(labels.max()) + 1 if lab.any() else 1
    counts = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(counts, (cluster[lab], labels[lab]), 1)
    n_lab = counts.sum(axis=1)
    purity = counts.max(axis=1) / np.maximum(n_lab, 1)
    ok = (size >= min_size) & (n_lab > min_labelled * size) & (purity >= min_purity)
    return np.where(ok, counts.argmax(axis=1), -1).astype(np.int64)
