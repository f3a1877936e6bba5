"""Every shipped CLIP-CIL config builds and trains, on tiny data in its real format."""
import glob
import json
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest
from _clip_cil_parts import ROOT, TINY_CLIP
from mmengine.config import Config

from cissreg.registry import RUNNERS

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'clip_cil', '*.py')))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('cil_data')
    cifar = root / 'cifar100' / 'cifar-100-python'
    cifar.mkdir(parents=True)
    rng = np.random.RandomState(0)
    with open(cifar / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': [f'thing_{i}'.encode() for i in range(100)]}, f)
    for split, per_class in (('train', 2), ('test', 1)):
        labels = [c for c in range(100) for _ in range(per_class)]
        with open(cifar / split, 'wb') as f:
            pickle.dump({b'fine_labels': labels,
                         b'data': rng.randint(0, 256, (len(labels), 3072)).astype(np.uint8)}, f)
    imr = root / 'imagenet-r'
    for c in range(200):
        (imr / f'n{c:08d}').mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(imr / f'n{c:08d}' / f'{i}.png'),
                        rng.randint(0, 256, (12, 10, 3)).astype(np.uint8))
    (imr / 'classnames.txt').write_text(
        ''.join(f'n{c:08d} object number {c}\n' for c in range(200)))
    return root


def _shrink(cfg: Config, data_root, work_dir: str) -> Config:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for transform in cfg[key].dataset.pipeline:
            if transform.type == 'Resize':
                transform.scale = (32, 32)  # the tiny CLIP's input size
    cfg.model.clip = dict(config=json.loads(json.dumps(TINY_CLIP)), pretrained=None)
    cfg.model.tokenizer = dict(type='CLIPTokenizer', bpe_path=None, context_length=32)
    if cfg.model.get('lora'):
        cfg.model.lora.layers = [1]
    options = {'work_dir': work_dir, 'train_cfg.num_tasks': 2,
               'train_cfg.stages.prompts': dict(max_epochs=1, init_max_epochs=1),
               'train_cfg.stages.head.max_epochs': 1,
               'train_dataloader.num_workers': 0, 'val_dataloader.num_workers': 0,
               'test_dataloader.num_workers': 0}
    dataset = cfg.train_dataloader.dataset
    if dataset.type == 'CIFAR100CILDataset':
        options.update({f'{k}.dataset.data_root': str(data_root / 'cifar100')
                        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')})
    elif dataset.type == 'ImageNetRCILDataset':
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            options[f'{k}.dataset.data_root'] = str(data_root / 'imagenet-r')
            options[f'{k}.dataset.class_names_file'] = str(data_root / 'imagenet-r' /
                                                           'classnames.txt')
    cfg.merge_from_dict(options)
    return cfg


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_config_trains_two_tasks(config, data_root, tmp_path):
    cfg = _shrink(Config.fromfile(config), data_root, str(tmp_path))
    runner = RUNNERS.build(cfg)
    runner.train()
    with open(tmp_path / 'cil_results.json') as f:
        results = json.load(f)
    assert [t['task'] for t in results['tasks']] == [0, 1]
    assert len(results['CILMetric']['acc_matrix']) == 2
    names = runner.train_dataloader.dataset.metainfo['classes']
    if cfg.train_dataloader.dataset.type == 'ImageNetRCILDataset':
        assert all(n.startswith('object number') for n in names)
    if cfg.model.get('lora'):
        model = runner.model
        assert any(('lora_B' in k) and v.abs().sum() > 0 for k, v in model.state_dict().items())
