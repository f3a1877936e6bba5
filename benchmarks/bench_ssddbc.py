"""SSDDBC (one fit and the full grid search) vs scikit-learn HDBSCAN on the same features.

Usage:
    python benchmarks/bench_ssddbc.py [--n 20000] [--dim 256] [--workers 2] [--threads 1]

Features: ``make_blobs`` (50 centres, L2-normalised like GCD projections); 20% of the points
of the first 25 classes are labelled. Prints the kNN backends' times (the faster is SSDDBC's
default), one SSDDBC fit (k=10, percentile 70, neighbour lists included), the full grid
(k 3..20 x percentile 40..95, 216 fits) with ``--workers`` processes, and HDBSCAN
(``min_cluster_size=5``), each with its adjusted Rand index, and the ratios.
"""
import argparse
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=20000)
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1, help='BLAS / OpenMP threads')
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    from sklearn.cluster import HDBSCAN
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score

    from cissreg.clustering import available_backends, full_neighbours, grid_search, knn, ssddbc

    x, y = make_blobs(args.n, centers=50, n_features=args.dim, cluster_std=4.0, random_state=0)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    known = np.where((np.random.RandomState(0).rand(args.n) < 0.2) & (y < 25), y, -1)
    rows = []

    def timed(name, fn):
        start = time.perf_counter()
        out = fn()
        rows.append(dict(name=name, seconds=round(time.perf_counter() - start, 2)))
        print(json.dumps(rows[-1]), flush=True)
        return out

    for backend in available_backends():
        timed(f'kNN k=64 {backend}', lambda b=backend: knn(x, 64, b))
    fit = timed('SSDDBC one fit (k=10, p=70)',
                lambda: ssddbc(x, known, 10, 70, neighbours=full_neighbours(x, 64)))
    rows[-1]['ari'] = round(adjusted_rand_score(y, fit.labels), 4)
    grid = timed(f'SSDDBC grid 216 fits, {args.workers} workers',
                 lambda: grid_search(x, known, num_workers=args.workers, progress=False))
    rows[-1].update(ari=round(adjusted_rand_score(y, grid.best.labels), 4),
                    best=grid.best_params)
    hdb = timed('sklearn HDBSCAN(min_cluster_size=5)',
                lambda: HDBSCAN(min_cluster_size=5, copy=True).fit_predict(x))
    rows[-1]['ari'] = round(adjusted_rand_score(y, hdb), 4)
    hdb_s = rows[-1]['seconds']
    print(json.dumps(dict(n=args.n, dim=args.dim, threads=args.threads, rows=rows,
                          fit_over_hdbscan=round(rows[-3]['seconds'] / hdb_s, 3),
                          grid_over_hdbscan=round(rows[-2]['seconds'] / hdb_s, 3))))


if __name__ == '__main__':
    main()
