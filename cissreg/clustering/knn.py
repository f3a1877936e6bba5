"""Exact k-nearest-neighbour search (Euclidean, ties broken by index) over two libraries.

A library (faiss ``IndexFlatL2`` or scikit-learn ``NearestNeighbors``) proposes a few more
candidates than asked; their distances are recomputed in float64 (:func:`exact_distances`) and
sorted by ``(distance, index)``, so both backends return the same neighbours in the same order
and equal distances are ordered by the smaller index, whatever the library's own tie order.
"""
import importlib
from typing import Optional, Tuple

import numpy as np

from cissreg.utils.optional_import import import_optional

KNN_BACKENDS = ('sklearn', 'faiss')
_BACKEND_MODULES = dict(sklearn='sklearn.neighbors', faiss='faiss')
_EXTRA = 4  # candidates beyond k, so ties at the k-th place are resolved by index
_CHUNK_ROWS = 2048


def available_backends() -> Tuple[str, ...]:
    """The backends importable here, in :data:`KNN_BACKENDS` order (default first)."""
    names = []
    for name in KNN_BACKENDS:
        try:
            importlib.import_module(_BACKEND_MODULES[name])
        except ImportError:
            continue
        names.append(name)
    return tuple(names)


def default_backend() -> str:
    """The faster backend measured by ``benchmarks/bench_ssddbc.py`` that is installed."""
    names = available_backends()
    if not names:  # raises, naming the extra that installs scikit-learn and faiss
        import_optional(_BACKEND_MODULES['sklearn'], 'gcd', 'k-nearest-neighbour search')
    return names[0]


def exact_distances(queries: np.ndarray, points: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """float64 [Q, M] Euclidean distances from ``queries[q]`` to ``points[cand[q, m]]``.

    Computed as ``sqrt(sum((a - b) ** 2))`` in float64, so the same pair always gets the same
    value, whichever search found it.
    """
    out = np.empty(cand.shape, dtype=np.float64)
    for start in range(0, len(cand), _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        diff = points[cand[rows]].astype(np.float64) - queries[rows, None, :].astype(np.float64)
        out[rows] = np.sqrt(np.einsum('nmd,nmd->nm', diff, diff))
    return out


def knn(points: np.ndarray, k: int, backend: str = 'auto',
        queries: Optional[np.ndarray] = None,
        query_ids: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest points of every query (by default: of every point, itself excluded).

    Args:
        points (np.ndarray): float [N, D] searched points (finite, as ``queries``; a NaN or
            infinity raises ``ValueError`` naming the first bad row on every backend).
        k (int): Neighbours per query, ``1 <= k < N`` (``<= N`` for outside queries).
        backend (str): ``'sklearn'``, ``'faiss'`` or ``'auto'`` (:func:`default_backend`).
        queries (np.ndarray, optional): float [Q, D]. Defaults to ``points``.
        query_ids (np.ndarray, optional): int [Q] index in ``points`` of each query, excluded
            from its own neighbours (-1: none). Defaults to ``arange(N)`` when ``queries`` is
            None, else all -1.

    Returns:
        tuple[np.ndarray, np.ndarray]: indices int64 [Q, k] into ``points`` and float64
        distances [Q, k], each row sorted by (distance, index).
    """
    points = np.ascontiguousarray(points, dtype=np.float32)
    n = len(points)
    if queries is None:
        queries = points
        query_ids = np.arange(n)
    else:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        query_ids = np.full(len(queries), -1) if query_ids is None else np.asarray(query_ids)
    for name, array in (('points', points), ('queries', queries)):
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            row = int(np.argmax(bad))
            raise ValueError(f'knn: {name} row {row} is not finite ({array[row][:8]}...); '
                             'the search needs finite features')
    n_self = int((query_ids >= 0).any())
    if not 1 <= k <= n - n_self:
        raise ValueError(f'knn: k must be in [1, {n - n_self}] for {n} points, got {k}')
    backend = default_backend() if backend == 'auto' else backend
    m = min(n, k + n_self + _EXTRA)
    if backend == 'faiss':
        faiss = import_optional('faiss', 'gcd', 'k-nearest-neighbour search (faiss)')
        index = faiss.IndexFlatL2(points.shape[1])
        index.add(points)
        _, cand = index.search(queries, m)
    elif backend == 'sklearn':
        NearestNeighbors = import_optional('sklearn.neighbors', 'gcd',
                                           'k-nearest-neighbour search').NearestNeighbors
        cand = NearestNeighbors(n_neighbors=m, algorithm='brute').fit(points).kneighbors(
            queries, return_distance=False)
    else:
        raise ValueError(f"knn: backend must be one of {KNN_BACKENDS} or 'auto', got {backend!r}")
    cand = cand.astype(np.int64)
    bad = (cand == query_ids[:, None]) | (cand < 0)  # self, faiss padding
    dist = exact_distances(queries, points, np.maximum(cand, 0))
    dist[bad] = np.inf
    order = np.lexsort((cand, dist), axis=-1)[:, :k]
    return np.take_along_axis(cand, order, 1), np.take_along_axis(dist, order, 1)
