"""Grid search of SSDDBC's ``k`` and core percentile, serial or in worker processes.

Every combination is run on the same full-set neighbour lists (computed once) and scored by
one of two criteria (``selection``):

* ``'labelled'`` (default), as GCD selects its number of clusters with the labelled data: the
  labels of the last ``holdout_classes`` known classes and a seeded ``holdout`` share of each
  other known class's labelled points are hidden from the clustering (treated as unlabelled)
  and the score is the clustering accuracy of those held-out points (one Hungarian matching
  between clusters and their classes; an unassigned point is wrong). Ties are broken by the
  silhouette of the unlabelled points, then by grid order. The returned clustering is then run
  again with every label visible.
* ``'silhouette'``: ``3 * silhouette(unlabelled) - mean_labelled(-log p(label | pseudo
  label))``, ``p(label | c)`` Laplace-smoothed: ``(n_{c,y} + 1) / (n_c + C)`` over the ``C``
  known classes, ``1 / C`` for an unassigned labelled point.

The silhouette is taken on a fixed, seeded subsample of the unlabelled points (their pairwise
distances are computed once); it is 0 for a clustering with fewer than two clusters there (so
a single cluster can still be chosen). Results are collected by grid position, so the worker
count never changes the outcome; ties go to the first combination in grid order (``k`` major).
"""
import multiprocessing
import warnings
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from cissreg.utils.optional_import import import_optional

from .neighbours import Neighbours, full_neighbours, pairwise_distances
from .ssddbc import SSDDBCResult, check_inputs, ssddbc

DEFAULT_KS = tuple(range(3, 21))
DEFAULT_PERCENTILES = tuple(range(40, 96, 5))
SELECTIONS = ('labelled', 'silhouette')
_STATE: Dict = {}


@dataclass
class GridSearchResult:
    """Outcome of :func:`grid_search`.

    Attributes:
        best_params (dict): ``k`` and ``percentile`` of the best score.
        best (SSDDBCResult): the clustering with those parameters (every label visible).
        score (float): its score.
        scores (np.ndarray): float64 [len(ks), len(percentiles)] score of every cell (the
            ``selection`` criterion), -inf where a cell could not be scored.
        silhouettes (np.ndarray): float64 [len(ks), len(percentiles)] silhouette of every
            cell on the unlabelled subsample (the tie-break of ``'labelled'``).
        ks (tuple[int]): searched ``k`` values (those ``< N``).
        percentiles (tuple[float]): searched percentiles.
        selection (str): the criterion.
    """
    best_params: Dict
    best: SSDDBCResult
    score: float
    scores: np.ndarray
    silhouettes: np.ndarray
    ks: Tuple[int, ...]
    percentiles: Tuple[float, ...]
    selection: str = 'labelled'


def silhouette(pseudo: np.ndarray, silhouette_idx: np.ndarray,
               silhouette_dist: np.ndarray) -> float:
    """Silhouette of the assigned points of ``pseudo[silhouette_idx]`` (precomputed
    distances [S, S]); 0 with fewer than two clusters or with every point its own cluster."""
    silhouette_score = import_optional('sklearn.metrics', 'gcd',
                                       'the clustering score').silhouette_score
    sub = pseudo[silhouette_idx]
    keep = sub >= 0
    n_clusters = len(np.unique(sub[keep]))
    if n_clusters < 2 or n_clusters >= keep.sum():
        return 0.0
    return float(silhouette_score(silhouette_dist[np.ix_(keep, keep)], sub[keep],
                                  metric='precomputed'))


def clustering_score(pseudo: np.ndarray, labels: np.ndarray, silhouette_idx: np.ndarray,
                     silhouette_dist: np.ndarray, num_known_classes: int) -> float:
    """``3 * silhouette - mean(-log p(label | pseudo label))`` (``selection='silhouette'``).

    Args:
        pseudo (np.ndarray): int [N] pseudo labels, -1 = unassigned.
        labels (np.ndarray): int [N] known labels, -1 = unlabelled.
        silhouette_idx (np.ndarray): int [S] unlabelled points the silhouette is taken on.
        silhouette_dist (np.ndarray): float [S, S] their pairwise distances.
        num_known_classes (int): ``C`` of the smoothing.

    Returns:
        float: the score; -inf when no point of the subsample is assigned.
    """
    if len(silhouette_idx) and not (pseudo[silhouette_idx] >= 0).any():
        return float('-inf')
    sil = silhouette(pseudo, silhouette_idx, silhouette_dist)
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


def heldout_accuracy(pseudo: np.ndarray, labels: np.ndarray, heldout: np.ndarray) -> float:
    """Clustering accuracy of the held-out labelled points: one Hungarian matching between
    their pseudo labels and classes; an unassigned point (-1) is wrong.

    Args:
        pseudo (np.ndarray): int [N] pseudo labels, -1 = unassigned.
        labels (np.ndarray): int [N] known labels.
        heldout (np.ndarray): int [H] indices of the held-out points.
    """
    linear_sum_assignment = import_optional('scipy.optimize', 'gcd',
                                            'the held-out accuracy').linear_sum_assignment
    y, c = labels[heldout], pseudo[heldout]
    assigned = c >= 0
    if not assigned.any():
        return 0.0
    _, cid = np.unique(c[assigned], return_inverse=True)
    counts = np.zeros((cid.max() + 1, y.max() + 1))
    np.add.at(counts, (cid, y[assigned]), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(y))


def holdout_split(labels: np.ndarray, holdout: float, seed: int,
                  holdout_classes: int = 0) -> np.ndarray:
    """int [H] sorted indices of the held-out labelled points: every labelled point of the
    last ``holdout_classes`` known classes (kept when fewer than two classes would remain:
    the clustering then has to discover them as new classes) and ``round(holdout * n_c)``
    labelled points of every other class ``c`` with at least two (at most ``n_c - 1``), drawn
    with ``RandomState(seed)``."""
    rng = np.random.RandomState(seed)
    classes = np.unique(labels[labels >= 0])
    hidden = classes[len(classes) - holdout_classes:] if 0 < holdout_classes <= len(
        classes) - 2 else classes[:0]
    out = [np.flatnonzero(np.isin(labels, hidden))]
    for c in classes[~np.isin(classes, hidden)]:
        members = np.flatnonzero(labels == c)
        n = min(int(round(holdout * len(members))), len(members) - 1)
        if n > 0:
            out.append(rng.choice(members, n, replace=False))
    return np.sort(np.concatenate(out)).astype(np.int64)


def grid_search(features: np.ndarray, labels: np.ndarray,
                ks: Sequence[int] = DEFAULT_KS,
                percentiles: Sequence[float] = DEFAULT_PERCENTILES,
                num_workers: int = 0, backend: str = 'auto',
                num_known_classes: Optional[int] = None, silhouette_samples: int = 2000,
                seed: int = 0, progress: bool = True,
                neighbours: Optional[Neighbours] = None,
                start_method: Optional[str] = None, selection: str = 'labelled',
                holdout: float = 0.2, holdout_classes: int = 1) -> GridSearchResult:
    """Score every ``(k, percentile)`` and return the best clustering.

    Args:
        features (np.ndarray): float [N, D], finite.
        labels (np.ndarray): int [N] known labels, -1 = unlabelled.
        ks (Sequence[int]): ``k`` values; those ``>= N`` are skipped with a warning.
            Defaults to 3..20.
        percentiles (Sequence[float]): core percentiles. Defaults to 40..95 step 5.
        num_workers (int): Worker processes; 0 runs in this process. Defaults to 0.
        backend (str): kNN backend. Defaults to ``'auto'``.
        num_known_classes (int, optional): Defaults to ``max(labels) + 1``.
        silhouette_samples (int): Size of the silhouette subsample. Defaults to 2000.
        seed (int): Seed of the subsample and of the held-out split. Defaults to 0.
        progress (bool): Show a tqdm progress bar. Defaults to True.
        neighbours (Neighbours, optional): Precomputed full-set lists with >= ``max(ks)``
            columns. Defaults to 64-long lists (longer when ``max(ks)`` needs).
        start_method (str, optional): multiprocessing start method of the workers.
            Defaults to ``'fork'`` where available (workers start in milliseconds and share
            the arrays copy-on-write), else ``'spawn'``.
        selection (str): ``'labelled'`` or ``'silhouette'`` (module docstring). Without
            labelled points to hold out, ``'labelled'`` falls back to ``'silhouette'`` with a
            warning. Defaults to ``'labelled'``.
        holdout (float): Share of each class's labelled points held out by ``'labelled'``.
            Defaults to 0.2.
        holdout_classes (int): Known classes whose labels ``'labelled'`` hides entirely (the
            last ones; used only while two known classes stay visible), so the score also
            measures how well a class without labels is found. Defaults to 1.

    Returns:
        GridSearchResult: see its attributes.

    Raises:
        ValueError: bad ``features`` / ``labels`` / ``num_known_classes``
            (:func:`check_inputs`), an unknown ``selection`` or no ``k < N`` to search.
    """
    features, labels, num_known_classes = check_inputs(features, labels, num_known_classes,
                                                       'grid_search')
    if selection not in SELECTIONS:
        raise ValueError(f'grid_search: selection must be one of {SELECTIONS}, got '
                         f'{selection!r}')
    n = len(features)
    usable = tuple(int(k) for k in ks if 1 <= int(k) < n)
    if len(usable) < len(tuple(ks)):
        skipped = sorted(set(int(k) for k in ks) - set(usable))
        if not usable:
            raise ValueError(f'grid_search: every k of {list(ks)} is >= the {n} points; '
                             f'k must be in [1, {n - 1}]')
        warnings.warn(f'grid_search: k = {skipped} skipped: k must be < the {n} points')
    ks, percentiles = usable, tuple(float(p) for p in percentiles)
    heldout = (holdout_split(labels, holdout, seed, holdout_classes) if selection == 'labelled'
               else None)
    if heldout is not None and len(heldout) == 0:
        warnings.warn('grid_search: no class has two labelled points to hold one out; '
                      "selecting with selection='silhouette'")
        selection, heldout = 'silhouette', None
    if neighbours is None:
        neighbours = full_neighbours(features, max(64, max(ks)), backend)
    pool = np.flatnonzero(labels < 0)
    if len(pool) == 0:
        warnings.warn('grid_search: every point is labelled; the silhouette is taken on the '
                      'labelled points')
        pool = np.arange(n)
    if len(pool) > silhouette_samples:
        pool = np.sort(np.random.RandomState(seed).choice(pool, silhouette_samples,
                                                          replace=False))
    sil_dist = pairwise_distances(features[pool], features[pool])
    np.fill_diagonal(sil_dist, 0.0)
    visible = labels.copy()
    if heldout is not None:
        visible[heldout] = -1
    state = dict(features=features, labels=labels, visible=visible, heldout=heldout,
                 neighbours=neighbours, backend=backend, num_known_classes=num_known_classes,
                 silhouette_idx=pool, silhouette_dist=sil_dist)
    tasks = [(i, j, k, p) for i, k in enumerate(ks) for j, p in enumerate(percentiles)]
    scores = np.full((len(ks), len(percentiles)), -np.inf)
    sils = np.zeros((len(ks), len(percentiles)))
    bar = _progress(len(tasks), progress)
    if num_workers > 0:
        ctx = multiprocessing.get_context(start_method or _default_start_method())
        with ctx.Pool(num_workers, initializer=_init_worker, initargs=(state, True)) as pool_:
            for i, j, score, sil in pool_.imap_unordered(_score_task, tasks):
                scores[i, j], sils[i, j] = score, sil
                bar.update()
    else:
        _init_worker(state, False)
        for task in tasks:
            i, j, score, sil = _score_task(task)
            scores[i, j], sils[i, j] = score, sil
            bar.update()
    bar.close()
    _STATE.clear()
    if not np.isfinite(scores).any():
        warnings.warn('grid_search: no (k, percentile) assigned any point of the silhouette '
                      'subsample; returning the first cell')
    # best score, then best silhouette, then grid order (lexsort: last key is primary)
    order = np.lexsort((np.arange(scores.size), -sils.ravel(), -scores.ravel()))
    i, j = np.unravel_index(int(order[0]), scores.shape)
    best = ssddbc(features, labels, ks[i], percentiles[j], num_known_classes, backend,
                  neighbours)
    return GridSearchResult(best_params=dict(k=ks[i], percentile=percentiles[j]), best=best,
                            score=float(scores[i, j]), scores=scores, silhouettes=sils, ks=ks,
                            percentiles=percentiles, selection=selection)


def _default_start_method() -> str:
    return 'fork' if 'fork' in multiprocessing.get_all_start_methods() else 'spawn'


def _init_worker(state: Dict, limit_threads: bool) -> None:
    _STATE.clear()
    _STATE.update(state)
    if limit_threads:  # one BLAS / OpenMP thread per worker process
        from threadpoolctl import threadpool_limits
        _STATE['limits'] = threadpool_limits(1)


def _score_task(task: Tuple[int, int, int, float]) -> Tuple[int, int, float, float]:
    i, j, k, p = task
    s = _STATE
    pseudo = ssddbc(s['features'], s['visible'], k, p, s['num_known_classes'], s['backend'],
                    s['neighbours']).labels
    sil = silhouette(pseudo, s['silhouette_idx'], s['silhouette_dist'])
    if s['heldout'] is None:
        score = clustering_score(pseudo, s['labels'], s['silhouette_idx'], s['silhouette_dist'],
                                 s['num_known_classes'])
    else:
        score = heldout_accuracy(pseudo, s['labels'], s['heldout'])
    return i, j, score, sil


def _progress(total: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, disable=not enabled, desc='SSDDBC grid', unit='fit')
