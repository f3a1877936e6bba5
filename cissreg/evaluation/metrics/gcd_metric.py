"""GCD metric: cluster the evaluated samples and score all / old / new accuracy."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from cissreg.evaluation.functional.gcd_accuracy import gcd_cluster_accuracy
from cissreg.registry import METRICS


@METRICS.register_module()
class GCDMetric(BaseMetric):
    """Accuracy all / old / new of generalized category discovery (GCD's "v2").

    Each data sample carries ``gt_label`` and either ``pred_label`` (a cluster id, used with
    ``cluster='pred'``) or the features ``feats`` [D] that are clustered here with k-means
    (``num_clusters`` clusters, scikit-learn ``KMeans`` seeded by ``seed``), as GCD evaluates
    its backbone features. Then one Hungarian matching over all classes
    (:func:`gcd_cluster_accuracy`); old / new split by ground-truth class.

    Args:
        num_old_classes (int, optional): Classes ``0 .. num_old_classes - 1`` are old.
            Defaults to None: ``dataset_meta['num_old_classes']`` (set by
            ``GCDDatasetWrapper``).
        num_clusters (int, optional): k-means clusters. Defaults to None: the true number of
            classes, ``len(dataset_meta['classes'])``, as GCD does.
        cluster (str): ``'kmeans'`` or ``'pred'``. Defaults to ``'kmeans'``.
        seed (int): k-means seed. Defaults to 0.
        normalize (bool): L2-normalise the features before k-means, as GCD's ``test_kmeans``
            does. Defaults to True.
        collect_device (str): As in ``BaseMetric``. Defaults to ``'cpu'``.
        prefix (str, optional): Defaults to ``'gcd'``.
    """

    def __init__(self, num_old_classes: Optional[int] = None,
                 num_clusters: Optional[int] = None, cluster: str = 'kmeans',
                 seed: int = 0, normalize: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = 'gcd') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if cluster not in ('kmeans', 'pred'):
            raise ValueError(f"GCDMetric: cluster must be 'kmeans' or 'pred', got {cluster!r}")
        self.num_old_classes = num_old_classes
        self.num_clusters = num_clusters
        self.cluster = cluster
        self.seed = seed
        self.normalize = normalize

    def _from_meta(self, value: Optional[int], name: str, key: str) -> int:
        """``value``, or the evaluated dataset's ``dataset_meta[key]`` (its length for a
        sequence)."""
        if value is not None:
            return value
        meta = self.dataset_meta or {}
        if key not in meta:
            raise ValueError(f'GCDMetric: {name} is not set and the evaluated dataset\'s '
                             f'metainfo has no {key!r} (keys: {sorted(meta)}); set {name} '
                             'or evaluate a GCDDatasetWrapper')
        return meta[key] if isinstance(meta[key], int) else len(meta[key])

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            out = dict(gt_label=int(torch.as_tensor(sample['gt_label']).reshape(-1)[0]))
            if self.cluster == 'pred':
                out['pred_label'] = int(torch.as_tensor(sample['pred_label']).reshape(-1)[0])
            else:
                out['feats'] = torch.as_tensor(sample['feats']).detach().float().cpu().numpy()
            self.results.append(out)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        y_true = np.array([r['gt_label'] for r in results], dtype=np.int64)
        if self.cluster == 'pred':
            y_pred = np.array([r['pred_label'] for r in results], dtype=np.int64)
        else:
            from sklearn.cluster import KMeans
            feats = np.stack([r['feats'] for r in results]).astype(np.float64)
            if self.normalize:
                feats /= np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
            num_clusters = self._from_meta(self.num_clusters, 'num_clusters', 'classes')
            y_pred = KMeans(num_clusters, n_init=4, random_state=self.seed).fit_predict(feats)
        num_old = self._from_meta(self.num_old_classes, 'num_old_classes', 'num_old_classes')
        acc = gcd_cluster_accuracy(y_true, y_pred, range(num_old))
        return {k: v * 100 for k, v in acc.items()}
