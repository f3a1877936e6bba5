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
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from torch.utils.data import DataLoader

from cissreg.evaluation.metrics.cil_metric import cil_summary
from cissreg.registry import RUNNERS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT = osp.join(ROOT, 'configs', 'clip_cil', 'clip_cil_tiny-pretrained_b4-inc4_shapes.py')
HOLDOUT = 0.25


class ScoreRecorder(Hook):
    """After every task: CLIP logits [N, n_seen], per-task head logits and labels of the
    validation images of the seen classes."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.records: List[dict] = []

    @torch.no_grad()
    def after_train_task(self, runner, task_id: int) -> None:
        loop = runner.train_loop
        model = loop.model
        was_training = model.training
        model.eval()
        dataset = loop.task_split.eval_subset(runner.val_dataloader.dataset, task_id)
        clip, heads, labels = [], [], []
        for batch in DataLoader(dataset, batch_size=256, collate_fn=pseudo_collate):
            data = model.data_preprocessor(batch, False)
            feats = model.extract_feat(data['inputs'])
            clip.append(model.clip_logits(feats, model.text_features(task_id + 1)))
            heads.append(torch.cat([
                model.head_logits(feats, t) if bool(model.head_ready[t]) else
                feats.new_zeros(len(feats), model.task_sizes[t]) for t in range(task_id + 1)
            ], dim=1))
            labels.append(data['labels'])
        model.train(was_training)
        self.records.append(dict(clip=torch.cat(clip), heads=torch.cat(heads),
                                 labels=torch.cat(labels), starts=model.task_starts[:task_id + 1],
                                 sizes=model.task_sizes[:task_id + 1]))


def predict(rec: dict, rule: str, alpha: float, task0_head: bool) -> torch.Tensor:
    clip, heads = rec['clip'], rec['heads'].clone()
    if not task0_head:
        heads[:, :rec['sizes'][0]] = 0
    fused = clip + alpha * heads
    if rule == 'additive':
        return fused.argmax(1)
    out = []
    for start, size in zip(rec['starts'], rec['sizes']):
        f, c = fused[:, start:start + size], clip[:, start:start + size]
        out.append(f - f.max(1, keepdim=True).values + c.max(1, keepdim=True).values)
    return torch.cat(out, 1).argmax(1)


RULES = {
    'additive, heads from task 1': ('additive', False),
    'additive, a head per task': ('additive', True),
    'within task, heads from task 1': ('within_task', False),
    'within task, a head per task': ('within_task', True),
    'CLIP only': ('additive', None),
}


def evaluate(records: List[dict], rule: str, task0_head, alpha: float) -> Dict[str, float]:
    task_acc, all_acc = [], []
    for rec in records:
        pred = predict(rec, rule, 0.0 if task0_head is None else alpha, bool(task0_head))
        y = rec['labels']
        correct = (pred == y).float()
        all_acc.append(float(correct.mean() * 100))
        task_acc.append([float(correct[(y >= s) & (y < s + n)].mean() * 100)
                         for s, n in zip(rec['starts'], rec['sizes'])])
    last = records[-1]
    pred = predict(last, rule, 0.0 if task0_head is None else alpha, bool(task0_head))
    summary = cil_summary(task_acc, all_acc)
    return dict(Last=summary['Last'], Avg=summary['Avg'],
                task0_share=float((pred < last['sizes'][0]).float().mean() * 100),
                task0_acc=task_acc[-1][0])


def run(config: str, seed: int, work_dir: str) -> List[dict]:
    cfg = Config.fromfile(config)
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
    args = parser.parse_args()
    table: Dict[str, Dict[int, dict]] = {}
    for seed in args.seeds:
        records = run(args.config, seed, osp.join(args.work_dir, f'seed{seed}'))
        for name, (rule, task0_head) in RULES.items():
            for alpha in ([0.0] if task0_head is None else args.alphas):
                key = name if task0_head is None else f'{name}, alpha {alpha:g}'
                table.setdefault(key, {})[seed] = evaluate(records, rule, task0_head, alpha)
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
