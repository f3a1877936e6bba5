"""Clustering library of the GCD pipeline (numpy / scipy / scikit-learn / faiss).

No training framework: stage 2 of ``tools/pseudo_label_pipeline.py`` runs it in its own
process (``python -m cissreg.clustering``).
"""
from .cache_io import (PseudoLabelFileError, feature_digest, load_feature_cache, load_pseudo_labels,
                       save_feature_cache, save_pseudo_labels)
from .grid_search import (DEFAULT_KS, DEFAULT_PERCENTILES, GridSearchResult, clustering_score,
                          grid_search)
from .knn import available_backends, default_backend, knn
from .neighbours import Neighbours, full_neighbours
from .ssddbc import SSDDBCResult, ssddbc
from .weights import PSEUDO_LABEL_MODES, pseudo_label_weights

__all__ = [
    'PseudoLabelFileError', 'feature_digest', 'load_feature_cache', 'load_pseudo_labels',
    'save_feature_cache', 'save_pseudo_labels', 'DEFAULT_KS', 'DEFAULT_PERCENTILES',
    'GridSearchResult', 'clustering_score', 'grid_search', 'available_backends',
    'default_backend', 'knn', 'Neighbours', 'full_neighbours', 'SSDDBCResult', 'ssddbc',
    'PSEUDO_LABEL_MODES', 'pseudo_label_weights'
]
