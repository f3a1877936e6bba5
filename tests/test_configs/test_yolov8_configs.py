"""Every shipped YOLOv8 config builds and trains / validates one iteration on tiny data in
its own format (procedural shapes, or a MAR20-style VOC folder written here)."""
import glob
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config

import cissreg  # noqa: F401  (safe checkpoint globals)
from cissreg.registry import RUNNERS

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(glob.glob(str(REPO / 'configs' / 'yolov8' / '*.py')))
TINY = 64


def _write_mar20_like(root: Path, classes) -> None:
    """Two images per split in MAR20's VOC layout (1-based inclusive VOC coordinates)."""
    rng = np.random.default_rng(0)
    ann_dir = root / 'Annotations' / 'Horizontal Bounding Boxes'
    for d in (root / 'JPEGImages', ann_dir, root / 'ImageSets' / 'Main'):
        d.mkdir(parents=True, exist_ok=True)
    for split in ('train', 'test'):
        ids = [f'{split}{i}' for i in range(2)]
        (root / 'ImageSets' / 'Main' / f'{split}.txt').write_text('\n'.join(ids) + '\n')
        for k, img_id in enumerate(ids):
            cv2.imwrite(str(root / 'JPEGImages' / f'{img_id}.jpg'),
                        rng.integers(0, 255, (80, 96, 3), dtype=np.uint8))
            objs = ''.join(
                f'<object><name>{classes[(k + j) % len(classes)]}</name><difficult>0'
                f'</difficult><bndbox><xmin>{5 + 30 * j}</xmin><ymin>10</ymin>'
                f'<xmax>{30 + 30 * j}</xmax><ymax>50</ymax></bndbox></object>'
                for j in range(2))
            (ann_dir / f'{img_id}.xml').write_text(
                f'<annotation><filename>{img_id}.jpg</filename><size><width>96</width>'
                f'<height>80</height><depth>3</depth></size>{objs}</annotation>')


def _shrink_pipeline(pipeline) -> None:
    for t in pipeline:
        if 'scale' in t:
            t['scale'] = (TINY, TINY)
        if 'img_scale' in t:
            t['img_scale'] = (TINY, TINY)
        _shrink_pipeline(t.get('pre_transform', []))


@pytest.mark.parametrize('config', CONFIGS, ids=[osp.basename(c) for c in CONFIGS])
def test_config_builds_and_runs_one_iteration(config, tmp_path):
    cfg = Config.fromfile(config)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        ds = loader.dataset
        if ds.type == 'ShapesDetDataset':
            ds.update(data_root=str(tmp_path / 'shapes'), num_train=2, num_val=2,
                      img_size=TINY, object_size=(12, 40), num_objects=(1, 2))
        else:
            root = tmp_path / 'voc'
            if not root.exists():
                _write_mar20_like(root, ds.metainfo['classes'])
            ds.data_root = str(root)
        _shrink_pipeline(ds.pipeline)
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0)]
    cfg.work_dir = str(tmp_path / 'work')
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    runner = RUNNERS.build(cfg)
    runner.train()
    assert runner.iter == 1  # two images, batch 2: exactly one iteration
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))
    metrics = runner.val_loop.run()
    assert 'coco/bbox_mAP_50' in metrics and 'voc/mAP50' in metrics
