"""CLIP CIL on the offline default against its baselines, in one table.

Same config, data, class orders and run length for every row; seeds change the class order
(PyCIL's permutation) and the training randomness. Rows:

* zero-shot: the pretrained tiny CLIP with ``raw_text_template`` prompts, no training;
* NCM: nearest class mean (cosine) of frozen image features of each class's training images;
* sequential prompts: the method without replay, hinge and stage 2 (fine-tuning the prompts);
* w/o replay, w/o hinge, w/o stage 2: the method with one part removed;
* full method.

Metrics (CILMetric, PyCIL definitions): Last (all-seen-class accuracy after the last task),
Avg (mean over tasks of that accuracy), forgetting. Prints a markdown table (mean and every
seed) and writes ``results.json`` in ``--work-dir``.

    OMP_NUM_THREADS=1 python benchmarks/clip_cil_baselines.py
"""
import argparse
import json
import os.path as osp
import time
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from cissreg.evaluation.metrics.cil_metric import cil_summary
from cissreg.registry import DATASETS, MODELS, RUNNERS
from cissreg.utils.task_split import task_class_ranges

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT = osp.join(ROOT, 'configs', 'clip_cil', 'clip_cil_tiny-pretrained_b4-inc4_shapes.py')
VARIANTS = {
    'sequential prompts': {'default_hooks.replay.samples_per_old_class': 0,
                           'model.text_hinge_loss': None, 'model.second_stage_start_task': 99},
    'w/o replay': {'default_hooks.replay.samples_per_old_class': 0},
    'w/o hinge': {'model.text_hinge_loss': None},
    'w/o stage 2': {'model.second_stage_start_task': 99},
    'full method': {},
}


def seeded_cfg(config: str, seed: int, work_dir: str) -> Config:
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.class_order_seed = seed
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1000,
                                        save_last=False)
    cfg.log_level = 'WARNING'
    return cfg


def trained_row(cfg: Config) -> Dict[str, float]:
    start = time.time()
    runner = RUNNERS.build(cfg)
    runner.train()
    with open(osp.join(cfg.work_dir, cfg.train_cfg.results_file)) as f:
        record = json.load(f)['CILMetric']
    return dict(Last=record['Last'], Avg=record['Avg'], forgetting=record['forgetting'],
                seconds=time.time() - start)


@torch.no_grad()
def _features(model, dataset_cfg: dict):
    dataset = DATASETS.build(dataset_cfg)
    feats, labels = [], []
    for batch in DataLoader(dataset, batch_size=256, collate_fn=pseudo_collate):
        data = model.data_preprocessor(batch, False)
        feats.append(F.normalize(model.extract_feat(data['inputs']), dim=-1))
        labels.append(data['labels'])
    return torch.cat(feats), torch.cat(labels), list(dataset.metainfo['classes'])


def untrained_rows(cfg: Config) -> Dict[str, Dict[str, float]]:
    """Zero-shot and NCM, evaluated after every task like the trained rows."""
    start = time.time()
    init_default_scope('cissreg')
    model = MODELS.build(cfg.model).eval()
    train_f, train_y, names = _features(model, cfg.train_dataloader.dataset)
    test_f, test_y, _ = _features(model, cfg.val_dataloader.dataset)
    split = cfg.model  # the config states its task split in the model
    ranges = task_class_ranges(len(names), split.init_class, split.increment)
    model.class_names = names
    with torch.no_grad():
        text = model.raw_text_features(torch.arange(len(names)))
    means = F.normalize(torch.stack([train_f[train_y == c].mean(0) for c in range(len(names))]),
                        dim=-1)
    rows = {}
    for name, prototypes in (('zero-shot CLIP', text), ('NCM (frozen features)', means)):
        task_acc, all_acc = [], []
        for t, (_, end) in enumerate(ranges):
            keep = test_y < end
            pred = (test_f[keep] @ prototypes[:end].t()).argmax(1)
            correct = (pred == test_y[keep]).float()
            y = test_y[keep]
            all_acc.append(float(correct.mean() * 100))
            task_acc.append([float(correct[(y >= s) & (y < e)].mean() * 100)
                             for s, e in ranges[:t + 1]])
        rows[name] = dict(cil_summary(task_acc, all_acc), seconds=time.time() - start)
    return rows


def fmt(values: List[float]) -> str:
    if any(v is None for v in values):
        return '-'
    return f'{np.mean(values):.1f} ({" / ".join(f"{v:.1f}" for v in values)})'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT)
    parser.add_argument('--seeds', type=int, nargs='+', default=[1993, 0, 1])
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'clip_cil_baselines'))
    args = parser.parse_args()
    table: Dict[str, Dict[int, Dict[str, float]]] = {}
    for seed in args.seeds:
        base = seeded_cfg(args.config, seed, osp.join(args.work_dir, f'seed{seed}'))
        for name, row in untrained_rows(base).items():
            table.setdefault(name, {})[seed] = row
        for name, options in VARIANTS.items():
            cfg = seeded_cfg(args.config, seed, osp.join(args.work_dir, f'seed{seed}',
                                                         name.replace(' ', '_').replace('/', '')))
            cfg.merge_from_dict(options)
            table.setdefault(name, {})[seed] = trained_row(cfg)
            print(name, seed, table[name][seed], flush=True)
    print(f'\n| method | Last | Avg | forgetting | s / run |  (seeds {args.seeds})')
    print('|---|---|---|---|---|')
    for name, by_seed in table.items():
        rows = [by_seed[s] for s in args.seeds]
        print(f'| {name} | {fmt([r["Last"] for r in rows])} | {fmt([r["Avg"] for r in rows])} '
              f'| {fmt([r["forgetting"] for r in rows])} | '
              f'{np.mean([r["seconds"] for r in rows]):.0f} |')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds, config=args.config, table=table), f, indent=2)


if __name__ == '__main__':
    main()
