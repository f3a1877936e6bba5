"""configs/clip_cil: a tiny random CLIP (32 px, byte-level vocabulary), two tasks of one epoch
per stage, on tiny data in each dataset's real format (CIFAR-100 pickles, ImageNet-R folders).

``check`` keeps what the former tests/test_clip_cil/test_clip_cil_configs.py asserted after
training: a results file with both tasks and a 2-row accuracy matrix, ImageNet-R class words
from its class-names file, trained (non-zero) LoRA weights when the config has LoRA.
"""
import json
import pickle
from pathlib import Path

import cv2
import numpy as np

from cissreg.testing.clip_cil_parts import TINY_CLIP

from . import _shared

SIZE = 32  # TINY_CLIP's image size


def _write_cifar100(root: Path) -> None:
    """cifar-100-python pickles: 100 classes, 2 train / 1 test image per class."""
    cifar = root / 'cifar-100-python'
    cifar.mkdir()
    rng = np.random.RandomState(0)
    with open(cifar / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': [f'thing_{i}'.encode() for i in range(100)]}, f)
    for split, per_class in (('train', 2), ('test', 1)):
        labels = [c for c in range(100) for _ in range(per_class)]
        with open(cifar / split, 'wb') as f:
            pickle.dump({b'fine_labels': labels,
                         b'data': rng.randint(0, 256, (len(labels), 3072)).astype(np.uint8)}, f)


def _write_imagenet_r(root: Path) -> None:
    """200 wnid folders of 3 tiny images and a "wnid name" class-names file."""
    rng = np.random.RandomState(0)
    for c in range(200):
        (root / f'n{c:08d}').mkdir()
        for i in range(3):
            cv2.imwrite(str(root / f'n{c:08d}' / f'{i}.png'),
                        rng.randint(0, 256, (12, 10, 3)).astype(np.uint8))
    (root / 'classnames.txt').write_text(
        ''.join(f'n{c:08d} object number {c}\n' for c in range(200)))


def _point_to_tiny_data(cfg) -> None:
    for dataset in _shared.datasets(cfg):
        if dataset['type'] == 'CIFAR100CILDataset':
            dataset['data_root'] = str(_shared.shared_data('cifar100', _write_cifar100))
        elif dataset['type'] == 'ImageNetRCILDataset':
            root = _shared.shared_data('imagenet-r', _write_imagenet_r)
            dataset.update(data_root=str(root), class_names_file=str(root / 'classnames.txt'))
        elif dataset['type'] == 'CompositionalShapesCILDataset':
            dataset.update(num_train=4, num_test=2)  # generated in memory


def _shorten_schedule(train_cfg) -> None:
    """Two tasks; one epoch in every stage (first task included)."""
    train_cfg['num_tasks'] = 2
    for node in _shared.dicts(train_cfg.get('stages', {})):
        for key in ('max_epochs', 'init_max_epochs'):
            if key in node:
                node[key] = 1


def make_tiny(cfg, tmp_path: Path):
    cfg.model.clip = dict(config=json.loads(json.dumps(TINY_CLIP)), pretrained=None)
    cfg.model.tokenizer = dict(type='CLIPTokenizer', bpe_path=None, context_length=32)
    if cfg.model.get('lora'):
        cfg.model.lora.layers = [1]
    _point_to_tiny_data(cfg)
    _shared.shrink_image_sizes(cfg, SIZE)
    for key in _shared.LOADERS:
        if cfg.get(key):
            cfg[key].update(num_workers=0, persistent_workers=False)
    _shorten_schedule(cfg.train_cfg)
    cfg.work_dir = str(tmp_path / 'work')
    return cfg


def check(runner, cfg) -> None:
    results = json.loads((Path(cfg.work_dir) / cfg.train_cfg.results_file).read_text())
    assert [t['task'] for t in results['tasks']] == [0, 1]
    assert len(results['CILMetric']['acc_matrix']) == 2
    if cfg.train_dataloader.dataset.type == 'ImageNetRCILDataset':
        names = runner.train_dataloader.dataset.metainfo['classes']
        assert all(n.startswith('object number') for n in names)
    if cfg.model.get('lora'):
        assert any('lora_B' in k and v.abs().sum() > 0
                   for k, v in runner.model.state_dict().items())
