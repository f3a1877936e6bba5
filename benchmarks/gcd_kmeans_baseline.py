"""k-means baselines of GCD on a config's evaluation set (the unlabelled training images).

Usage:
    python benchmarks/gcd_kmeans_baseline.py CONFIG [--checkpoint CKPT] [--cfg-options ...]

Prints all / old / new accuracy (one Hungarian matching, GCDMetric) of k-means with the true
number of classes on (a) the raw pixels and (b) the backbone features of the model built from
the config (random initialisation, the config's seed) or of ``--checkpoint``. GCD reports (b)
with its pretrained backbone as the "k-means" baseline.
"""
import argparse
import json

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    DefaultScope.get_instance('gcd_kmeans_baseline', scope_name='cissreg')
    set_random_seed(cfg.randomness.seed)
    model = MODELS.build(cfg.model).eval()
    if args.checkpoint:
        state = torch.load(args.checkpoint, map_location='cpu', weights_only=False)['state_dict']
        model.load_state_dict(state)
    dataset = DATASETS.build(cfg.val_dataloader.dataset)
    pixels, feats, labels = [], [], []
    with torch.no_grad():
        for data in DataLoader(dataset, batch_size=256, collate_fn=pseudo_collate):
            data = model.data_preprocessor(data, False)
            pixels.append(data['inputs'].flatten(1).numpy())
            feats.append(model.extract_feat(data['inputs']).numpy())
            labels += [int(s.gt_label.reshape(-1)[0]) for s in data['data_samples']]
    from sklearn.cluster import KMeans
    y = np.array(labels)
    k = cfg.val_evaluator.num_clusters
    old = range(cfg.val_evaluator.num_old_classes)
    out = {}
    for name, x in (('raw pixels', np.concatenate(pixels)),
                    ('backbone features', np.concatenate(feats))):
        pred = KMeans(k, n_init=4, random_state=0).fit_predict(x)
        out[name] = {key: round(v * 100, 2) for key, v in gcd_cluster_accuracy(y, pred,
                                                                               old).items()}
    print(json.dumps(dict(checkpoint=args.checkpoint or 'random init', samples=len(y), **out)))


if __name__ == '__main__':
    main()
