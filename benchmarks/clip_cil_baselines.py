"""CLIP CIL on the offline default against its baselines, in one table.

Same config, data, class orders and run length for every row; seeds change the class order
(PyCIL's permutation) and the training randomness. Rows:

* zero-shot: the pretrained tiny CLIP with ``raw_text_template`` prompts, no training;
* NCM: nearest class mean (cosine) of frozen image features of each class's training images;
* w/o replay, w/o hinge: the method with one part removed;
* full method; and, scored on the same trained run after every task: w/o stage 2 (the heads
  left out at inference: CLIP logits only) and additive fusion (the reference recipe's plain
  sum of CLIP and head logits).

Metrics (CILMetric, PyCIL definitions): Last (all-seen-class accuracy after the last task),
Avg (mean over tasks of that accuracy), forgetting. Prints a markdown table (mean and every
seed), the full method's accuracy matrix (accuracy on task j's classes after task t, mean
over seeds), writes ``results.json`` in ``--work-dir`` and plots that matrix (``--plot``).
Each seed's rows are cached in ``--work-dir`` (``--force`` recomputes), so the seeds may run
in parallel (``--seeds 0`` etc.) before one last call prints the table.

    OMP_NUM_THREADS=1 python benchmarks/clip_cil_baselines.py
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F
from clip_cil_scores import ScoreRecorder, evaluate
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch.utils.data import DataLoader

from cissreg.evaluation.metrics.cil_metric import cil_summary
from cissreg.registry import DATASETS, MODELS, RUNNERS
from cissreg.utils.task_split import task_class_ranges

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT = osp.join(ROOT, 'configs', 'clip_cil',
                   'clip_cil_tiny-pretrained-caption-2k_b14-inc2_shapes-240img.py')
VARIANTS = {
    'full method': {},
    'w/o replay': {'default_hooks.replay.samples_per_old_class': 0},
    'w/o hinge': {'model.text_hinge_loss': None},
}
SCORED = {  # rows scored on the full method's run: (fusion rule, alpha or None: the config's)
    'w/o stage 2 (heads unused at inference)': ('additive', 0.0),
    'additive fusion (reference rule)': ('additive', None),
}
PLOT = osp.join(ROOT, 'docs', 'en', 'methods', 'figures', 'clip_cil_task_accuracy.png')


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


def trained_rows(name: str, cfg: Config) -> Dict[str, Dict[str, float]]:
    """The run's row, plus the SCORED rows for the full method."""
    start = time.time()
    runner = RUNNERS.build(cfg)
    recorder = ScoreRecorder()
    if name == 'full method':
        runner.register_hook(recorder)
    runner.train()
    with open(osp.join(cfg.work_dir, cfg.train_cfg.results_file)) as f:
        record = json.load(f)['CILMetric']
    rows = {name: dict(Last=record['Last'], Avg=record['Avg'], forgetting=record['forgetting'],
                       acc_matrix=record['acc_matrix'], seconds=time.time() - start)}
    alpha_cfg = cfg.model.get('second_stage_fusion_weight', 0.3)
    for scored, (rule, alpha) in SCORED.items():
        if recorder.records:
            rows[scored] = evaluate(recorder.records, rule,
                                    alpha_cfg if alpha is None else alpha)
    return rows


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
        rows[name] = dict(cil_summary(task_acc, all_acc), acc_matrix=task_acc,
                          seconds=time.time() - start)
    return rows


def fmt(values: List[float]) -> str:
    if any(v is None for v in values):
        return '-'
    return f'{np.mean(values):.1f} ({" / ".join(f"{v:.1f}" for v in values)})'


def print_margins(table: Dict[str, Dict[int, Dict[str, float]]], seeds: List[int]) -> None:
    """The full method against the better untrained baseline, with the seed spreads."""
    print()
    for key in ('Last', 'Avg'):
        method = [table['full method'][s][key] for s in seeds]
        best = max(('zero-shot CLIP', 'NCM (frozen features)'),
                   key=lambda n: np.mean([table[n][s][key] for s in seeds]))
        base = [table[best][s][key] for s in seeds]
        spread = max(np.ptp(method), np.ptp(base))
        margin = np.mean(method) - np.mean(base)
        print(f'{key}: full method - {best} = {margin:+.1f} points; largest seed spread '
              f'(max - min) of the two rows {spread:.1f}: '
              f'{"beats it by more than the spread" if margin > spread else "NOT beyond it"}')
        paired = np.array(method) - np.array(base)  # same class order and test images
        print(f'    per seed (same class order): {" / ".join(f"{d:+.1f}" for d in paired)}; '
              f'spread of the difference {np.ptp(paired):.1f}: '
              f'{"beyond it" if paired.mean() > np.ptp(paired) else "NOT beyond it"}')
        if key == 'Avg':  # Avg = mean of A[t]; A[0] (task 0 alone) weighs as much as Last
            a0 = {n: [table[n][s]['acc_matrix'][0][0] for s in seeds]
                  for n in ('full method', best)}
            print(f'    A[0] (after task 0): full method {fmt(a0["full method"])}, {best} '
                  f'{fmt(a0[best])}; per seed '
                  + ' / '.join(f'{m - b:+.1f}' for m, b in zip(*a0.values())))


def mean_matrix(matrices: List[List[List[float]]]) -> List[List[float]]:
    """Element-wise mean of lower-triangular accuracy matrices ``a[t][j]``, ``j <= t``."""
    return [[float(np.mean([m[t][j] for m in matrices])) for j in range(len(row))]
            for t, row in enumerate(matrices[0])]


def print_matrix(matrices: List[List[List[float]]], seeds: List[int]) -> None:
    mean = mean_matrix(matrices)
    num = len(mean)
    print(f'\nFull method, accuracy (%) on task j\'s classes after task t, mean over seeds '
          f'{seeds}\n')
    print('| after task | ' + ' | '.join(f'task {j}' for j in range(num)) + ' |')
    print('|---' * (num + 1) + '|')
    for t, row in enumerate(mean):
        cells = [f'{v:.1f}' for v in row] + [''] * (num - len(row))
        print(f'| {t} | ' + ' | '.join(cells) + ' |')


def plot_matrix(matrices: List[List[List[float]]], seeds: List[int], path: str) -> None:
    """One line per task: its accuracy after each task (mean, min-max band over seeds)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    num = len(matrices[0])
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for j in range(num):
        steps = list(range(j, num))
        values = np.array([[m[t][j] for t in steps] for m in matrices])
        line, = ax.plot(steps, values.mean(0), marker='o', label=f'task {j}')
        ax.fill_between(steps, values.min(0), values.max(0), alpha=0.2)
        ax.vlines(steps, values.min(0), values.max(0), color=line.get_color(), alpha=0.5)
    ax.set_xticks(range(num))
    ax.set_xlabel('after training task')
    ax.set_ylabel('accuracy on the task (%)')
    ax.set_ylim(0, 102)
    ax.set_title(f'CLIP CIL default, full method (seeds {", ".join(map(str, seeds))})',
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f'\nwrote {path}')


def seed_rows(config: str, seed: int, work_dir: str, force: bool,
              cached_only: bool = False) -> Dict[str, dict]:
    """Every row of one seed, cached in ``<work_dir>/seed<seed>/rows.json`` (so seeds can run
    in parallel processes and one last call prints the table)."""
    cache = osp.join(work_dir, f'seed{seed}', 'rows.json')
    rows: Dict[str, dict] = {}
    if osp.isfile(cache) and not force:
        with open(cache) as f:
            rows = json.load(f)
    if cached_only:
        return rows
    if 'zero-shot CLIP' not in rows:
        rows.update(untrained_rows(seeded_cfg(config, seed, osp.join(work_dir, f'seed{seed}'))))
    for name, options in VARIANTS.items():
        if name in rows:
            continue
        cfg = seeded_cfg(config, seed, osp.join(work_dir, f'seed{seed}',
                                                name.replace(' ', '_').replace('/', '')))
        cfg.merge_from_dict(options)
        for row_name, row in trained_rows(name, cfg).items():
            rows[row_name] = row
            print(row_name, seed, {k: v for k, v in row.items() if k != 'acc_matrix'},
                  flush=True)
        os.makedirs(osp.dirname(cache), exist_ok=True)
        with open(cache, 'w') as f:  # after every run: an interrupted seed resumes
            json.dump(rows, f, indent=2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT)
    parser.add_argument('--seeds', type=int, nargs='+', default=[1993, 0, 1])
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'clip_cil_baselines'))
    parser.add_argument('--plot', default=PLOT, help='accuracy-per-task figure (PNG)')
    parser.add_argument('--force', action='store_true',
                        help="recompute seeds whose rows are already in the work dir")
    parser.add_argument('--cached-only', action='store_true',
                        help='print the rows already computed, train nothing')
    args = parser.parse_args()
    table: Dict[str, Dict[int, Dict[str, float]]] = {}
    for seed in args.seeds:
        for name, row in seed_rows(args.config, seed, args.work_dir, args.force,
                                   args.cached_only).items():
            table.setdefault(name, {})[seed] = row
    print(f'\nMean (each seed; seeds {args.seeds}), %\n')
    print('| method | Last | Avg | forgetting |')
    print('|---|---|---|---|')
    for name, by_seed in table.items():
        if any(s not in by_seed for s in args.seeds):
            continue
        rows = [by_seed[s] for s in args.seeds]
        print(f'| {name} | {fmt([r["Last"] for r in rows])} | {fmt([r["Avg"] for r in rows])} '
              f'| {fmt([r["forgetting"] for r in rows])} |')
    print_margins(table, args.seeds)
    matrices = [table['full method'][s]['acc_matrix'] for s in args.seeds]
    print_matrix(matrices, args.seeds)
    plot_matrix(matrices, args.seeds, args.plot)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds, config=args.config, table=table), f, indent=2)


if __name__ == '__main__':
    main()
