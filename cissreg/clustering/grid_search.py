"""Grid search of SSDDBC's ``k`` and core percentile, serial or in worker processes.

Every combination is scored on the same full-set neighbour lists (computed once) with
``3 * silhouette(unlabelled) - mean_labelled(-log p(label | pseudo label))``
(docs/en/methods/gcd.md).
The silhouette is taken on a fixed, seeded subsample of the unlabelled points (their
pairwise distances are computed once); ``p(label | c)`` is Laplace-smoothed:
``(n_{c,y} + 1) / (n_c + C)`` over the ``C`` known classes, ``1 / C`` for an unassigned
labelled point. Results are collected by grid position, so the worker count never changes
the outcome; ties go to the first combination in grid order (``k`` major).
"""
import multiprocessing
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from cissreg.utils.optional_import import import_optional

from .neighbours import Neighbours, full_neighbours, pairwise_distances
from .ssddbc import SSDDBCResult, ssddbc

DEFAULT_KS = tuple(range(3, 21))
DEFAULT_PERCENTILES = tuple(range(40, 96, 5))
_STATE: Dict = {}


@dataclass
class GridSearchResult:
    """Outcome of :func:`grid_search`.

    Attributes:
        best_params (dict): ``k`` and ``percentile`` of the best score.
        best (SSDDBCResult): the clustering with those parameters.
        score (float): its score.
        scores (np.ndarray): float64 [len(ks), len(percentiles)], -inf where fewer than two
            clusters were found.
        ks (tuple[int]): searched ``k`` values.
        percentiles (tuple[float]): searched percentiles.
    """
    best_params: Dict
    best: SSDDBCResult
    score: float
    scores: np.ndarray
    ks: Tuple[int, ...]
    percentiles: Tuple[float, ...]


def clustering_score(pseudo: np.ndarray, labels: np.ndarray, silhouette_idx: np.ndarray,
                     silhouette_dist: np.ndarray, num_known_classes: int) -> float:
    """``3 * silhouette - mean(-log p(label | pseudo label))`` (see the module docstring).

    Args:
        pseudo (np.ndarray): int [N] pseudo labels, -1 = unassigned.
        labels (np.ndarray): int [N] known labels, -1 = unlabelled.
        silhouette_idx (np.ndarray): int [S] unlabelled points the silhouette is taken on.
        silhouette_dist (np.ndarray): float [S, S] their pairwise distances.
        num_known_classes (int): ``C`` of the smoothing.

    Returns:
        float: the score; -inf when the subsample holds fewer than two assigned clusters.
    """
    silhouette_score = import_optional('sklearn.metrics', 'gcd',
                                       'the clustering score').silhouette_score
    sub = pseudo[silhouette_idx]
    keep = sub >= 0
    n_clusters = len(np.unique(sub[keep]))
    if n_clusters < 2 or n_clusters >= keep.sum():
        return float('-inf')
    sil = silhouette_score(silhouette_dist[np.ix_(keep, keep)], sub[keep], metric='precomputed')
    lab = labels >= 0
    if not lab.any():
        return float(3.0 * sil)
    y, c = labels[lab], pseudo[lab]
    assigned = c >= 0
    _, cid = np.unique(c[assigned], return_inverse=True)
    counts = np.zeros((cid.max() + 1 if assigned.any() else 0, num_known_classes))
    np.add.at(counts, (cid, y[assigned]), 1)
    prob = np.full(len(y), 1.0 / num_known_classes)
    prob[assigned] = (counts[cid, y[assigned]] + 1.0) / (counts.sum(1)[cid] + num_known_classes)
    return float(3.0 * sil - np.mean(-np.log(prob)))


def grid_search(features: np.ndarray, labels: np.ndarray,
                ks: Sequence[int] = DEFAULT_KS,
                percentiles: Sequence[float] = DEFAULT_PERCENTILES,
                num_workers: int = 0, backend: str = 'auto',
                num_known_classes: Optional[int] = None, silhouette_samples: int = 2000,
                seed: int = 0, progress: bool = True,
                neighbours: Optional[Neighbours] = None,
                start_method: Optional[str] = None) -> GridSearchResult:
    """Score every ``(k, percentile)`` and return the best clustering.

    Args:
        features (np.ndarray): float [N, D].
        labels (np.ndarray): int [N] known labels, -1 = unlabelled.
        ks (Sequence[int]): ``k`` values. Defaults to 3..20.
        percentiles (Sequence[float]): core percentiles. Defaults to 40..95 step 5.
        num_workers (int): Worker processes; 0 runs in this process. Defaults to 0.
        backend (str): kNN backend. Defaults to ``'auto'``.
        num_known_classes (int, optional): Defaults to ``max(labels) + 1``.
        silhouette_samples (int): Size of the silhouette subsample. Defaults to 2000.
        seed (int): Seed of the subsample. Defaults to 0.
        progress (bool): Show a tqdm progress bar. Defaults to True.
        neighbours (Neighbours, optional): Precomputed full-set lists with >= ``max(ks)``
            columns. Defaults to 64-long lists (longer when ``max(ks)`` needs).
        start_method (str, optional): multiprocessing start method of the workers.
            Defaults to ``'fork'`` where available (workers start in milliseconds and share
            the arrays copy-on-write), else ``'spawn'``.

    Returns:
        GridSearchResult: see its attributes.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    ks, percentiles = tuple(int(k) for k in ks), tuple(float(p) for p in percentiles)
    if num_known_classes is None:
        num_known_classes = int(labels.max()) + 1 if (labels >= 0).any() else 1
    if neighbours is None:
        neighbours = full_neighbours(features, max(64, max(ks)), backend)
    unlabelled = np.flatnonzero(labels < 0)
    if len(unlabelled) > silhouette_samples:
        unlabelled = np.sort(np.random.RandomState(seed).choice(
            unlabelled, silhouette_samples, replace=False))
    sil_dist = pairwise_distances(features[unlabelled], features[unlabelled])
    np.fill_diagonal(sil_dist, 0.0)
    state = dict(features=features, labels=labels, neighbours=neighbours, backend=backend,
                 num_known_classes=num_known_classes, silhouette_idx=unlabelled,
                 silhouette_dist=sil_dist)
    tasks = [(i, j, k, p) for i, k in enumerate(ks) for j, p in enumerate(percentiles)]
    scores = np.full((len(ks), len(percentiles)), -np.inf)
    bar = _progress(len(tasks), progress)
    if num_workers > 0:
        ctx = multiprocessing.get_context(start_method or _default_start_method())
        with ctx.Pool(num_workers, initializer=_init_worker, initargs=(state, True)) as pool:
            for i, j, score in pool.imap_unordered(_score_task, tasks):
                scores[i, j] = score
                bar.update()
    else:
        _init_worker(state, False)
        for task in tasks:
            i, j, score = _score_task(task)
            scores[i, j] = score
            bar.update()
    bar.close()
    _STATE.clear()
    flat = int(np.argmax(scores))  # first maximum in grid order
    i, j = np.unravel_index(flat, scores.shape)
    best = ssddbc(features, labels, ks[i], percentiles[j], num_known_classes, backend,
                  neighbours)
    return GridSearchResult(best_params=dict(k=ks[i], percentile=percentiles[j]), best=best,
                            score=float(scores[i, j]), scores=scores, ks=ks,
                            percentiles=percentiles)


def _default_start_method() -> str:
    return 'fork' if 'fork' in multiprocessing.get_all_start_methods() else 'spawn'


def _init_worker(state: Dict, limit_threads: bool) -> None:
    _STATE.clear()
    _STATE.update(state)
    if limit_threads:  # one BLAS / OpenMP thread per worker process
        from threadpoolctl import threadpool_limits
        _STATE['limits'] = threadpool_limits(1)


def _score_task(task: Tuple[int, int, int, float]) -> Tuple[int, int, float]:
    i, j, k, p = task
    s = _STATE
    result = ssddbc(s['features'], s['labels'], k, p, s['num_known_classes'], s['backend'],
                    s['neighbours'])
    return i, j, clustering_score(result.labels, s['labels'], s['silhouette_idx'],
                                  s['silhouette_dist'], s['num_known_classes'])


def _progress(total: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, disable=not enabled, desc='SSDDBC grid', unit='fit')
