"""Images per second of the YOLOv8 mosaic + mixup training pipeline: cissreg vs ultralytics.

A VOC-layout set of ``--num-images`` 800 x 600 JPEGs (textured backgrounds, 3-8 boxes each) is
written once under ``--data-root`` with YOLO txt labels next to it, so both read the same
files: cissreg through ``VOCDetDataset`` and the 640 px pipeline of the box-only VOC-layout
base ``configs/_base_/datasets/mar20_detection.py`` (the COCO pipeline without segments: mosaic
from a buffer of recent images, random affine, mixup, HSV, flip, packing), ultralytics through
its ``YOLODataset`` with its ``v8_transforms`` (``imgsz=640``, ``mosaic=1.0``, the same
``mixup``), each in a ``torch.utils.data.DataLoader`` with ``--workers`` workers and batch 16 (each
its own collate function: the configs' ``stack_det_collate``, ultralytics' ``collate_fn``). The two
loaders run alternately, ``--rounds`` times each; every round starts the workers, takes ``2 *
workers`` batches (the prefetch queue filling up) and times the next ``--batches``. Prints images/s
of each (median over rounds) and the ratio cissreg / ultralytics (target >= 1.0).

Usage:
    python benchmarks/bench_dataloader.py [--workers 2] [--num-images 256] [--batches 8]
        [--rounds 3] [--mixup 0.15] [--data-root work_dirs/bench_dataloader]
"""
import argparse
import os
import os.path as osp
import statistics
import time

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import cissreg  # noqa: F401
from cissreg.registry import DATASETS, FUNCTIONS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSES = ('a', 'b', 'c', 'd')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--num-images', type=int, default=256)
    parser.add_argument('--batches', type=int, default=8)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--mixup', type=float, default=0.15)
    parser.add_argument('--data-root', default=osp.join(REPO, 'work_dirs', 'bench_dataloader'))
    return parser.parse_args()


def write_dataset(root: str, num: int) -> None:
    """JPEGs in images/ (VOC JPEGImages is a link to it), VOC xml and YOLO txt labels."""
    if osp.isfile(osp.join(root, 'ImageSets', 'Main', 'train.txt')):
        return
    rng = np.random.default_rng(0)
    for sub in ('images', 'labels', 'Annotations', 'ImageSets/Main'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    if not osp.exists(osp.join(root, 'JPEGImages')):
        os.symlink('images', osp.join(root, 'JPEGImages'))
    w, h = 800, 600
    ids = []
    for i in range(num):
        img_id = f'img{i:05d}'
        ids.append(img_id)
        base = cv2.resize(rng.integers(0, 255, (h // 20, w // 20, 3), dtype=np.uint8), (w, h))
        img = (base * 0.6 + rng.integers(0, 100, (h, w, 3))).astype(np.uint8)
        objs, lines = [], []
        for _ in range(int(rng.integers(3, 9))):
            bw, bh = (int(v) for v in rng.integers(30, 250, 2))
            x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            cls = int(rng.integers(0, len(CLASSES)))
            colour = tuple(int(c) for c in rng.integers(0, 255, 3))
            cv2.rectangle(img, (x1, y1), (x1 + bw, y1 + bh), colour, -1)
            objs.append(f'<object><name>{CLASSES[cls]}</name><difficult>0</difficult><bndbox>'
                        f'<xmin>{x1 + 1}</xmin><ymin>{y1 + 1}</ymin><xmax>{x1 + bw}</xmax>'
                        f'<ymax>{y1 + bh}</ymax></bndbox></object>')
            lines.append(f'{cls} {(x1 + bw / 2) / w:.6f} {(y1 + bh / 2) / h:.6f} {bw / w:.6f} '
                         f'{bh / h:.6f}')
        cv2.imwrite(osp.join(root, 'images', f'{img_id}.jpg'), img,
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
        with open(osp.join(root, 'Annotations', f'{img_id}.xml'), 'w') as f:
            f.write(f'<annotation><filename>{img_id}.jpg</filename><size><width>{w}</width>'
                    f'<height>{h}</height><depth>3</depth></size>{"".join(objs)}</annotation>')
        with open(osp.join(root, 'labels', f'{img_id}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    with open(osp.join(root, 'ImageSets', 'Main', 'train.txt'), 'w') as f:
        f.write('\n'.join(ids) + '\n')


def cissreg_loader(args) -> torch.utils.data.DataLoader:
    # the VOC-layout (box-only) base: the COCO pipelines of coco_detection.py without segments
    base = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', 'mar20_detection.py'))
    pipeline = base.train_pipelines['l']
    for t in pipeline:
        if t['type'] == 'MixUp':
            t['prob'] = args.mixup
    dataset = DATASETS.build(dict(
        type='VOCDetDataset', data_root=args.data_root, ann_file='ImageSets/Main/train.txt',
        data_prefix=dict(img_path='JPEGImages', ann_path='Annotations'),
        metainfo=dict(classes=CLASSES), pipeline=pipeline))
    collate = FUNCTIONS.get(base.train_dataloader.collate_fn.type)  # the configs' collate
    return torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True,
                                       num_workers=args.workers, collate_fn=collate)


def ultralytics_loader(args) -> torch.utils.data.DataLoader:
    from ultralytics.cfg import get_cfg
    from ultralytics.data.build import build_yolo_dataset
    from ultralytics.data.dataset import YOLODataset
    cfg = get_cfg(overrides=dict(imgsz=640, mixup=args.mixup, mosaic=1.0, plots=False))
    dataset = build_yolo_dataset(cfg, osp.join(args.data_root, 'images'), 16,
                                 dict(names={i: c for i, c in enumerate(CLASSES)}, nc=4,
                                      channels=3))
    return torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True,
                                       num_workers=args.workers,
                                       collate_fn=YOLODataset.collate_fn)


def images_per_second(loader, workers: int, batches: int) -> float:
    iterator = iter(loader)
    for _ in range(max(2 * workers, 1)):  # workers started, prefetch queue full
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    del iterator
    return 16 * batches / seconds


def main() -> None:
    args = parse_args()
    write_dataset(args.data_root, args.num_images)
    init_default_scope('cissreg')
    torch.set_num_threads(1)
    loaders = dict(cissreg=cissreg_loader(args), ultralytics=ultralytics_loader(args))
    speeds = {k: [] for k in loaders}
    need = 2 * args.workers + args.batches
    for k, v in loaders.items():
        if len(v) < need:
            raise SystemExit(f'{args.num_images} images give {len(v)} batches per epoch; need '
                             f'{need}: raise --num-images')
    for _ in range(args.rounds):
        for name in loaders:
            speeds[name].append(images_per_second(loaders[name], args.workers, args.batches))
    ours, ref = statistics.median(speeds['cissreg']), statistics.median(speeds['ultralytics'])
    print(f'mosaic + mixup ({args.mixup}) pipeline at 640 px, 800x600 JPEGs, {args.workers} '
          f'workers, batch 16, {args.rounds} rounds x {args.batches} batches')
    for name, label in (('ultralytics', 'ultralytics YOLODataset'),
                        ('cissreg', 'cissreg VOCDetDataset  ')):
        runs = [round(v, 1) for v in speeds[name]]
        print(f'  {label}: {statistics.median(speeds[name]):7.1f} images/s  (rounds: {runs})')
    print(f'  ratio cissreg / ultralytics: {ours / ref:.3f}x')


if __name__ == '__main__':
    main()
