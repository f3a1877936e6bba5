"""Choose the CLIP CIL fusion rule on a validation split carved from the training data.

Each run trains the default config on 75 % of every class's training images (a head for
every task, task 0 included) and, after every task, scores the other 25 % (never the test
split) with the prompted CLIP logits and the heads' logits. The rules below are then
evaluated on the same scores, so they differ only in how the two are combined:

* ``additive, heads from task 1``: ``CLIP + alpha * head`` over all seen classes, head logits
  centred per task, task 0 without a head (the reference recipe's rule);
* ``additive, a head per task``: the same with task 0's head;
* ``within task, heads from task 1`` / ``a head per task``: CLIP's best class picks the task,
  ``CLIP + alpha * head`` the class inside it (``fusion='within_task'``);
* ``CLIP only``: no head (alpha 0).

Prints a markdown table (validation Last / Avg, mean and each seed, and the share of images
predicted into task 0 after the last task) and writes ``fusion_selection.json``.

    OMP_NUM_THREADS=1 python benchmarks/clip_cil_fusion_selection.py
"""
import argparse
import json
import os.path as osp
from typing import Dict, List

import numpy as np
from clip_cil_baselines import DEFAULT, ROOT
from clip_cil_scores import ScoreRecorder, evaluate
from mmengine.config import Config, DictAction

from cissreg.registry import RUNNERS

HOLDOUT = 0.25


RULES = {  # name: (rule, task 0's head used; None: no head at all)
    'additive, heads from task 1': ('additive', False),
    'additive, a head per task': ('additive', True),
    'within task, heads from task 1': ('within_task', False),
    'within task, a head per task': ('within_task', True),
    'CLIP only': ('additive', None),
}


def run(config: str, seed: int, work_dir: str, options: dict = None) -> List[dict]:
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options or {})
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    cfg.model.second_stage_start_task = 0
    train = cfg.train_dataloader.dataset
    train.update(class_order_seed=seed, holdout_fraction=HOLDOUT)
    val = dict(train, holdout=True)
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].dataset = val
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1000,
                                        save_last=False)
    cfg.log_level = 'WARNING'
    runner = RUNNERS.build(cfg)
    recorder = ScoreRecorder()
    runner.register_hook(recorder)
    runner.train()
    return recorder.records


def fmt(values: List[float]) -> str:
    return f'{np.mean(values):.1f} ({" / ".join(f"{v:.1f}" for v in values)})'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT)
    parser.add_argument('--seeds', type=int, nargs='+', default=[1993, 0, 1])
    parser.add_argument('--alphas', type=float, nargs='+', default=[0.3, 1.0])
    parser.add_argument('--work-dir',
                        default=osp.join(ROOT, 'work_dirs', 'clip_cil_fusion_selection'))
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='config overrides (key=value) of every run')
    args = parser.parse_args()
    table: Dict[str, Dict[int, dict]] = {}
    for seed in args.seeds:
        records = run(args.config, seed, osp.join(args.work_dir, f'seed{seed}'),
                      args.cfg_options)
        for name, (rule, task0_head) in RULES.items():
            for alpha in ([0.0] if task0_head is None else args.alphas):
                key = name if task0_head is None else f'{name}, alpha {alpha:g}'
                row = evaluate(records, rule, 0.0 if task0_head is None else alpha, task0_head)
                row['task0_acc'] = row.pop('acc_matrix')[-1][0]
                table.setdefault(key, {})[seed] = row
        print(seed, {k: v[seed] for k, v in table.items()}, flush=True)
    print(f'\nValidation split ({HOLDOUT:.0%} of each class\'s training images), seeds '
          f'{args.seeds}; mean (each seed)\n')
    print('| fusion | Last | Avg | task-0 accuracy after the last task | images predicted '
          'into task 0 (%) |')
    print('|---|---|---|---|---|')
    for name, by_seed in table.items():
        rows = [by_seed[s] for s in args.seeds]
        print(f'| {name} | ' + ' | '.join(fmt([r[k] for r in rows]) for k in
                                          ('Last', 'Avg', 'task0_acc', 'task0_share')) + ' |')
    with open(osp.join(args.work_dir, 'fusion_selection.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds, holdout_fraction=HOLDOUT, config=args.config,
                       table=table), f, indent=2)


if __name__ == '__main__':
    main()
