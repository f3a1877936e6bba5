"""SSDDBC steps (5)-(6): merging small core clusters and assigning non-core points."""
import numpy as np

from .neighbours import Neighbours, segment_starts, pairwise_distances

_CHUNK_ROWS = 1024


def merge_small_clusters(features: np.ndarray, core_idx: np.ndarray, cluster: np.ndarray,
                         owners: np.ndarray, neighbours: Neighbours,
                         max_size: int = 3) -> np.ndarray:
    """Step (5): clusters of <= ``max_size`` points join the cluster of the nearest point of a
    compatible larger cluster (single linkage; a labelled small cluster only joins a cluster
    with its label, an unlabelled one any larger cluster). Without a compatible target a small
    cluster stays.

    Args:
        features (np.ndarray): float [N, D].
        core_idx (np.ndarray): int [M] indices of the core points in ``features``.
        cluster (np.ndarray): int [M] cluster of each core point.
        owners (np.ndarray): int [C] owner label per cluster (:func:`cluster_owners`).
        neighbours (Neighbours): full-set lists; rows without a target there are searched
            exactly against all larger-cluster points.
        max_size (int): Largest size that is merged. Defaults to 3.

    Returns:
        np.ndarray: int64 [M] new cluster index per core point (indices keep their meaning;
        merged clusters become empty).
    """
    size = np.bincount(cluster, minlength=len(owners))
    small = np.flatnonzero(size[cluster] <= max_size)
    big = np.flatnonzero(size[cluster] > max_size)
    if len(small) == 0 or len(big) == 0:
        return cluster.copy()
    cluster_of = np.full(len(features), -1, dtype=np.int64)
    cluster_of[core_idx[big]] = cluster[big]
    src_owner = owners[cluster[small]]
    cand = neighbours.idx[core_idx[small]]
    cand_cluster = cluster_of[cand]
    ok = (cand_cluster >= 0) & ((src_owner[:, None] < 0)
                                | (owners[cand_cluster] == src_owner[:, None]))
    first = ok.argmax(axis=1)
    rows = np.arange(len(small))
    best_d = np.where(ok[rows, first], neighbours.dist[core_idx[small], first], np.inf)
    best_t = np.where(ok[rows, first], cand_cluster[rows, first], -1)
    for start in range(0, len(small), _CHUNK_ROWS):  # rows whose lists hold no target
        miss = np.flatnonzero(~ok[start:start + _CHUNK_ROWS].any(axis=1)) + start
        if len(miss) == 0:
            continue
        d = pairwise_distances(features[core_idx[small[miss]]], features[core_idx[big]])
        d[(src_owner[miss, None] >= 0)
          & (owners[cluster[big]][None, :] != src_owner[miss, None])] = np.inf
        j = d.argmin(axis=1)
        best_d[miss] = d[np.arange(len(miss)), j]
        best_t[miss] = np.where(np.isfinite(best_d[miss]), cluster[big[j]], -1)
    src = cluster[small]
    order = np.lexsort((best_d, src))  # per source cluster, its closest point first
    first = order[segment_starts(src[order])]
    target = np.arange(len(owners))
    found = np.isfinite(best_d[first])
    target[src[first][found]] = best_t[first][found]
    return target[cluster]


def assign_non_core(features: np.ndarray, point_ids: np.ndarray, point_labels: np.ndarray,
                    clusters: np.ndarray, owners: np.ndarray, neighbours: Neighbours,
                    n_nearest: int = 3) -> np.ndarray:
    """Step (6): each point joins the cluster with the smallest mean distance to its
    ``n_nearest`` nearest members (all members when the cluster is smaller).

    The means come from the sorted full-set lists where they decide exactly (the best
    complete mean is below every bound of a cluster not fully seen in the list); the other
    rows are computed against all core points (:func:`assign_non_core_exact`).

    Args:
        features (np.ndarray): float [N, D].
        point_ids (np.ndarray): int [P] indices of the non-core points.
        point_labels (np.ndarray): int [P] their labels; a labelled point only joins a cluster
            whose owner is its label, and stays -1 without one.
        clusters (np.ndarray): int [N] cluster of every core point, -1 elsewhere.
        owners (np.ndarray): int [C] owner label per cluster.
        neighbours (Neighbours): full-set lists.
        n_nearest (int): Members averaged. Defaults to 3.

    Returns:
        np.ndarray: int64 [P] cluster index, -1 when none is allowed.
    """
    out = np.full(len(point_ids), -1, dtype=np.int64)
    size = np.bincount(clusters[clusters >= 0], minlength=len(owners))
    if len(point_ids) == 0 or not size.any():
        return out
    need = np.minimum(size, n_nearest)
    cand, dist = neighbours.idx[point_ids], neighbours.dist[point_ids]
    d_last = dist[:, -1]
    c = clusters[cand]
    r = np.repeat(np.arange(len(point_ids)), cand.shape[1])[c.ravel() >= 0]
    d, c = dist.ravel()[c.ravel() >= 0], c.ravel()[c.ravel() >= 0]
    order = np.lexsort((c, r))  # stable: distance order kept inside each (row, cluster)
    r, c, d = r[order], c[order], d[order]
    starts = segment_starts(r * len(owners) + c)
    group = np.cumsum(np.r_[False, (r[1:] != r[:-1]) | (c[1:] != c[:-1])])[:len(r)]
    rank = np.arange(len(r)) - starts[group]
    keep = rank < need[c]
    total = np.bincount(group[keep], weights=d[keep], minlength=len(starts))
    count = np.bincount(group[keep], minlength=len(starts))
    gr, gc = r[starts], c[starts]
    value = (total + (need[gc] - count) * d_last[gr]) / need[gc]
    lab = point_labels[gr]
    allowed = (lab < 0) | (owners[gc] == lab)
    complete = count == need[gc]
    best_value = np.full(len(point_ids), np.inf)
    best_cluster = np.full(len(point_ids), -1, dtype=np.int64)
    sel = np.flatnonzero(allowed & complete)
    sel = sel[np.lexsort((gc[sel], value[sel], gr[sel]))]
    sel = sel[segment_starts(gr[sel])] if len(sel) else sel
    best_value[gr[sel]], best_cluster[gr[sel]] = value[sel], gc[sel]
    bound = np.full(len(point_ids), np.inf)
    inc = allowed & ~complete
    np.minimum.at(bound, gr[inc], value[inc])
    n_allowed = np.where(point_labels < 0, (size > 0).sum(),
                         np.bincount(owners[(size > 0) & (owners >= 0)],
                                     minlength=max(point_labels.max() + 1, 1))[
                                         np.maximum(point_labels, 0)])
    n_seen = np.bincount(gr[allowed], minlength=len(point_ids))
    bound = np.where(n_seen < n_allowed, np.minimum(bound, d_last), bound)
    decided = (best_value < bound) | (n_allowed == 0)
    out[decided] = best_cluster[decided]
    rest = np.flatnonzero(~decided)
    if len(rest):
        core_ids = np.flatnonzero(clusters >= 0)
        out[rest] = assign_non_core_exact(features[point_ids[rest]], point_labels[rest],
                                          features[core_ids], clusters[core_ids], owners,
                                          n_nearest)
    return out


def assign_non_core_exact(points: np.ndarray, point_labels: np.ndarray,
                          core_features: np.ndarray, cluster: np.ndarray, owners: np.ndarray,
                          n_nearest: int = 3) -> np.ndarray:
    """Step (6) against every core point (see :func:`assign_non_core`).

    Args:
        points (np.ndarray): float [P, D] non-core points.
        point_labels (np.ndarray): int [P] their labels (-1 = unlabelled).
        core_features (np.ndarray): float [M, D].
        cluster (np.ndarray): int [M] cluster of each core point.
        owners (np.ndarray): int [C] owner label per cluster.
        n_nearest (int): Members averaged. Defaults to 3.

    Returns:
        np.ndarray: int64 [P] cluster index, -1 when none is allowed.
    """
    present = np.unique(cluster)
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(present) == 0:
        return out
    members = [np.flatnonzero(cluster == c) for c in present]
    for start in range(0, len(points), _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        d = pairwise_distances(points[rows], core_features)
        score = np.stack([
            np.partition(d[:, m], min(n_nearest, len(m)) - 1, axis=1)[:, :n_nearest].mean(1)
            for m in members], axis=1)  # [chunk, C']
        lab = point_labels[rows]
        score[(lab[:, None] >= 0) & (owners[present][None, :] != lab[:, None])] = np.inf
        best = score.argmin(axis=1)
        out[rows] = np.where(np.isfinite(score[np.arange(len(best)), best]), present[best], -1)
    return out
