"""Cost of the gradient learner and of the CISS split builder, measured here.

1. GradLearnerHook's extra time per iteration as a share of a DKD training iteration
   (forward with the old model, DKD losses, backward, SGD step) of the shapes default model,
   at 512 sampled pixels (target < 10 %).
2. CISSTaskSplit on 10,582 synthetic 500x375 VOC-style masks (the size of VOC train_aug):
   first build (reads every mask) and cached rebuild (reads the json); targets < 60 s and
   < 2 s on 2 cores.

    python benchmarks/bench_grad_learner.py [--iters 20] [--masks 10582] [--threads 2]
"""
import argparse
import os
import os.path as osp
import statistics
import tempfile
import time

import numpy as np
import torch
from PIL import Image

from cissreg.datasets.seg import CISSTaskSplit, VOCSegDataset
from cissreg.engine.hooks.grad_learner_hook import GradLearnerHook
from cissreg.registry import MODELS


def bench_hook(iters: int, size: int, batch: int, samples: int) -> dict:
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='IncrementalSegmentor', task_sizes=[4, 1, 1],
        backbone=dict(type='TorchvisionResNet', depth=18, out_stride=8, num_stages=3),
        decode_head=dict(type='ASPPHead', in_channels=256, channels=128, dilations=(1, 2, 3))))
    model.begin_task(0)
    model.begin_task(1)
    model.train()
    model.cache_train_outputs = True
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3,
                          momentum=0.9)
    hook = GradLearnerHook(samples=samples)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 6, (batch, size, size))
    base, extra = [], []
    for i in range(iters + 2):
        t0 = time.perf_counter()
        loss = sum(model.loss(x, y).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        hook.ensure_classes(5, x.device)
        hook.step(model.train_cache['logits'], model.train_cache['trusted'])
        t2 = time.perf_counter()
        if i >= 2:  # warm-up
            base.append(t1 - t0)
            extra.append(t2 - t1)
    b, e = statistics.median(base), statistics.median(extra)
    return dict(size=size, batch=batch, samples=samples, base_ms=b * 1e3, hook_ms=e * 1e3,
                share=e / b)


def write_masks(root: str, n: int) -> None:
    os.makedirs(osp.join(root, 'SegmentationClassAug'))
    os.makedirs(osp.join(root, 'JPEGImages'))
    os.makedirs(osp.join(root, 'ImageSets', 'Segmentation'))
    rng = np.random.default_rng(0)
    ids = []
    for i in range(n):
        mask = np.zeros((375, 500), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            y0, x0 = rng.integers(0, 300), rng.integers(0, 420)
            mask[y0:y0 + 60, x0:x0 + 80] = rng.integers(1, 21)
        mask[rng.integers(0, 375), :] = 255
        Image.fromarray(mask).save(osp.join(root, 'SegmentationClassAug', f'{i:06d}.png'))
        ids.append(f'{i:06d}')
    with open(osp.join(root, 'ImageSets', 'Segmentation', 'train_aug.txt'), 'w') as f:
        f.write('\n'.join(ids) + '\n')


def bench_split(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_masks(tmp, n)
        t_write = time.perf_counter() - t0
        dataset = VOCSegDataset(data_root=tmp, pipeline=[])
        cache = osp.join(tmp, 'cache')
        t0 = time.perf_counter()
        first = CISSTaskSplit('15-1', cache_dir=cache, progress=False)
        first.lists(dataset)
        t_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = CISSTaskSplit('15-1', cache_dir=cache, progress=False)
        second.lists(dataset)
        t_cached = time.perf_counter() - t0
        assert second.last_from_cache
    return dict(masks=n, write_s=t_write, first_s=t_first, cached_s=t_cached)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--masks', type=int, default=10582)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print('| model input | batch | samples | DKD iteration (ms) | hook (ms) | hook share |')
    print('| --- | --- | --- | --- | --- | --- |')
    for size, batch in ((32, 16), (64, 16)):
        r = bench_hook(args.iters, size, batch, 512)
        print(f'| {size} px | {batch} | {r["samples"]} | {r["base_ms"]:.1f} | '
              f'{r["hook_ms"]:.2f} | {100 * r["share"]:.1f} % |')
    s = bench_split(args.masks)
    print()
    print('| masks (500x375) | writing them | first build (15-1) | cached rebuild |')
    print('| --- | --- | --- | --- |')
    print(f'| {s["masks"]} | {s["write_s"]:.1f} s | {s["first_s"]:.1f} s | '
          f'{s["cached_s"]:.3f} s |')


if __name__ == '__main__':
    main()
