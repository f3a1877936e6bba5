"""k-means baselines of GCD on a config's evaluation set (the unlabelled training images).

Usage:
    python benchmarks/gcd_kmeans_baseline.py CONFIG [--checkpoint CKPT] [--cfg-options ...]

Prints all / old / new accuracy (one Hungarian matching, as ``GCDMetric``) of k-means with the
true number of classes on (a) the raw pixels and (b) the L2-normalised backbone features (as
``GCDMetric`` and GCD's ``test_kmeans``) of the model built from the config (random
initialisation, the config's seed) or of ``--checkpoint``. GCD reports
(b) with its pretrained backbone as the "k-means" baseline. The numbers of classes and of old
classes come from the evaluated dataset's metainfo (``GCDDatasetWrapper``).
"""
import argparse
import json
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.runner import set_random_seed
from torch.utils.data import DataLoader

import cissreg  # noqa: F401
from cissreg.evaluation import gcd_cluster_accuracy
from cissreg.registry import DATASETS, MODELS
from cissreg.utils.config_loading import load_config


def class_counts(dataset) -> Tuple[int, int]:
    """``(number of classes, number of old classes)`` from a GCD dataset's metainfo.

    Raises:
        ValueError: the metainfo lacks ``classes`` or ``num_old_classes``.
    """
    meta = dataset.metainfo
    missing = [k for k in ('classes', 'num_old_classes') if k not in meta]
    if missing:
        raise ValueError(f'gcd_kmeans_baseline: the evaluation dataset\'s metainfo lacks '
                         f'{missing} (keys: {sorted(meta)}); evaluate a GCDDatasetWrapper')
    return len(meta['classes']), int(meta['num_old_classes'])


@torch.no_grad()
def pixels_and_features(cfg: Config, checkpoint: Optional[str] = None):
    """Normalised pixels [N, C*H*W], backbone features [N, D] and labels [N] of the config's
    evaluation set, plus the dataset."""
    DefaultScope.get_instance('gcd_kmeans_baseline', scope_name='cissreg')
    set_random_seed(cfg.randomness.seed)
    model = MODELS.build(cfg.model).eval()
    if checkpoint:
        state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
        model.load_state_dict(state)
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    pixels, feats, labels = [], [], []
    for data in DataLoader(dataset, batch_size=256, collate_fn=pseudo_collate):
        data = model.data_preprocessor(data, False)
        pixels.append(data['inputs'].flatten(1).numpy())
        feats.append(model.extract_feat(data['inputs']).numpy())
        labels += [int(s.gt_label.reshape(-1)[0]) for s in data['data_samples']]
    return np.concatenate(pixels), np.concatenate(feats), np.array(labels), dataset


def kmeans_accuracy(x: np.ndarray, y: np.ndarray, num_clusters: int, num_old: int,
                    seed: int = 0) -> Dict[str, float]:
    """All / old / new accuracy (%) of ``KMeans(num_clusters, n_init=4)`` on ``x`` [N, D]."""
    from sklearn.cluster import KMeans
    pred = KMeans(num_clusters, n_init=4, random_state=seed).fit_predict(x)
    acc = gcd_cluster_accuracy(y, pred, range(num_old))
    return {key: round(v * 100, 2) for key, v in acc.items()}


def kmeans_baselines(cfg: Config, checkpoint: Optional[str] = None) -> Dict:
    """``{'raw pixels': acc, 'backbone features': acc, 'samples': N}``."""
    pixels, feats, y, dataset = pixels_and_features(cfg, checkpoint)
    k, num_old = class_counts(dataset)
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)
    return {'samples': len(y), 'raw pixels': kmeans_accuracy(pixels, y, k, num_old),
            'backbone features': kmeans_accuracy(feats, y, k, num_old)}


def main(argv: Optional[List[str]] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    out = dict(checkpoint=args.checkpoint or 'random init',
               **kmeans_baselines(cfg, args.checkpoint))
    print(json.dumps(out))
    return out


if __name__ == '__main__':
    main()
