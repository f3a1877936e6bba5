"""configs/ciss: two steps of one iteration each on tiny VOC / ADE20K / shapes trees.

Data: a 6-image VOC tree and a 6-image ADE20K tree whose masks hold base and first-step
classes of every shipped setting (15-1, 15-5, 100-50), and a 24-image shapes tree. The model
keeps its component types but shrinks (ResNet-18 with 3 stages, 16-channel head), so a
ResNet-101 config costs what the shapes one does.
"""
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ._shared import datasets, dicts, shared_data, shrink_loaders

VOC_CONTENT = [[1, 16], [2, 17], [3, 18, 255], [16, 20], [5, 19], [14]]
ADE_CONTENT = [[1, 101], [2, 120], [50, 150], [0, 101], [99, 130], [7]]


def _write_tree(root: Path, content, layout: str) -> None:
    rng = np.random.default_rng(0)
    if layout == 'voc':
        dirs = dict(img=root / 'JPEGImages', seg=root / 'SegmentationClassAug')
    else:
        dirs = dict(img=root / 'images', seg=root / 'annotations')
    for i, labels in enumerate(content):
        mask = np.zeros((24, 28), np.uint8)
        for k, lab in enumerate(labels):
            mask[4 * k:4 * k + 4, :] = lab
        img = rng.integers(0, 255, (24, 28, 3), dtype=np.uint8)
        if layout == 'voc':
            (dirs['img']).mkdir(parents=True, exist_ok=True)
            (dirs['seg']).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(dirs['img'] / f'{i:03d}.jpg')
            Image.fromarray(mask).save(dirs['seg'] / f'{i:03d}.png')
        else:
            for split in ('training', 'validation'):
                (dirs['img'] / split).mkdir(parents=True, exist_ok=True)
                (dirs['seg'] / split).mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(dirs['img'] / split / f'{i:03d}.jpg')
                Image.fromarray(mask).save(dirs['seg'] / split / f'{i:03d}.png')
    if layout == 'voc':
        sets = root / 'ImageSets' / 'Segmentation'
        sets.mkdir(parents=True)
        ids = '\n'.join(f'{i:03d}' for i in range(len(content))) + '\n'
        (sets / 'train_aug.txt').write_text(ids)
        (sets / 'val.txt').write_text(ids)


def make_tiny(cfg, tmp_path):
    voc = shared_data('ciss_voc', lambda d: _write_tree(d, VOC_CONTENT, 'voc'))
    ade = shared_data('ciss_ade', lambda d: _write_tree(d, ADE_CONTENT, 'ade'))
    for ds in datasets(cfg):
        if ds['type'] == 'VOCSegDataset':
            ds['data_root'] = str(voc)
        elif ds['type'] == 'ADE20KSegDataset':
            ds['data_root'] = str(ade)
        elif ds['type'] == 'ShapesSegDataset':
            ds.update(data_root=str(tmp_path / 'shapes'), num_train=24, num_val=4, img_size=32)
    for node in dicts([cfg[key] for key in cfg]):
        if node.get('type') in ('SegRandomResizedCrop', 'SegResizeCenterCrop'):
            node['size'] = 32
    shrink_loaders(cfg, batch_size=2)
    model = cfg.model
    model.backbone.update(depth=18, num_stages=3, out_stride=8, init_cfg=None)
    model.decode_head.update(in_channels=256, channels=16, dilations=(1, 2, 3))
    train_cfg = cfg.train_cfg
    train_cfg.num_tasks = 2
    train_cfg.task_split.cache_dir = str(tmp_path / 'splits')
    stages = train_cfg.stages
    for stage in (stages.values() if isinstance(stages, dict) else stages):
        stage.update(max_epochs=1, init_max_epochs=1)
    hooks = cfg.default_hooks
    if 'memory' in hooks:
        hooks.memory.mem_size = 2
    hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    os.makedirs(cfg.work_dir, exist_ok=True)
    return cfg


def check(runner, cfg):
    work = Path(cfg.work_dir)
    num = runner.train_loop.num_tasks  # 2, or 1 for joint training
    assert all((work / f'task_{t}.pth').is_file() for t in range(num))
    results = json.loads((work / 'incremental_results.json').read_text())
    steps = results['CISSMetric']['steps']
    assert [s['step'] for s in steps] == list(range(num))
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    assert model.step == num - 1 and len(model.classifiers) == num + 1
    hook = [h for h in runner.hooks if type(h).__name__ == 'GradLearnerHook']
    if hook:
        assert hook[0].steps + hook[0].skipped > 0
