"""``python -m cissreg.clustering FEATURES --out NPZ``: SSDDBC grid search on a feature cache.

Stage 2 of the GCD pipeline (``tools/pseudo_label_pipeline.py``) runs this in its own process;
it reads the feature cache, searches ``k`` and the core percentile in ``--num-workers``
processes and writes the pseudo-label ``.npz`` with the cache's hash, epoch and checkpoint.
"""
import argparse
import json
import os
import sys
import time
from typing import List, Optional

import numpy as np

from .cache_io import feature_digest, load_feature_cache, save_pseudo_labels
from .grid_search import DEFAULT_KS, DEFAULT_PERCENTILES, SELECTIONS, grid_search
from .knn import KNN_BACKENDS


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='SSDDBC pseudo labels from a feature cache')
    parser.add_argument('features', help='feature cache .npz (tools/cache_features.py)')
    parser.add_argument('--out', required=True, help='pseudo-label .npz to write')
    parser.add_argument('--ks', type=int, nargs='+', default=list(DEFAULT_KS))
    parser.add_argument('--percentiles', type=float, nargs='+',
                        default=list(DEFAULT_PERCENTILES))
    parser.add_argument('--num-workers', type=int, default=0)
    parser.add_argument('--backend', choices=('auto', ) + KNN_BACKENDS, default='auto')
    parser.add_argument('--num-known-classes', type=int, default=None)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--selection', choices=SELECTIONS, default='labelled',
                        help='grid criterion: held-out labelled accuracy or silhouette')
    parser.add_argument('--holdout', type=float, default=0.2)
    parser.add_argument('--holdout-classes', type=int, default=1)
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    cache = load_feature_cache(args.features)
    start = time.time()
    result = grid_search(cache['features'], cache['labels'], ks=args.ks,
                         percentiles=args.percentiles, num_workers=args.num_workers,
                         backend=args.backend, num_known_classes=args.num_known_classes,
                         seed=args.seed, progress=not args.no_progress,
                         selection=args.selection, holdout=args.holdout,
                         holdout_classes=args.holdout_classes)
    labels = result.best.labels
    metadata = dict(cache['metadata'], feature_file=os.path.abspath(args.features),
                    feature_sha256=feature_digest(args.features))
    save_pseudo_labels(args.out, cache['indices'], labels, result.best.core_mask,
                       result.best.densities, result.best_params, result.score, metadata)
    lab = cache['labels'] >= 0
    summary = dict(best_params=result.best_params, score=result.score,
                   num_clusters=int(len(np.unique(labels[labels >= 0]))),
                   core_ratio=float(result.best.core_mask.mean()),
                   assigned_ratio=float((labels >= 0).mean()),
                   labelled_pseudo_acc=float((labels[lab] == cache['labels'][lab]).mean())
                   if lab.any() else None,
                   seconds=round(time.time() - start, 2), out=args.out)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
