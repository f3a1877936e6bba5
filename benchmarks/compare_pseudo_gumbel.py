"""Pseudo-Gumbel vs its ablations on the procedural referring task, over seeds.

Rows (each seed shares one warm-up; the stage-2 rows resume from its last checkpoint):

* ``warm-up only``: the supervised warm-up (captions + masks from ground-truth captions);
* ``Pseudo-Gumbel``: then the six Pseudo-Gumbel steps;
* ``hard ids``: then the teacher's captions fed as hard ids (the Gumbel path cut);
* ``supervised captions``: then more warm-up epochs with the ground-truth captions (upper
  bound of what stage 2 could learn from perfect captions).

Columns: test mIoU (the config's test split: scenes that chose no setting) with the true,
shuffled and attribute-swapped captions (mean and each seed), the text gap (true -
shuffled), the agreement of the ids sampled in step 4 with the teacher's ids (non-pad
positions, over stage 2), and the Gumbel path's share of the gradient norm of the MLLM's
trainable parameters (measured on training batches after stage 2). Prints a markdown table
and writes a plot of val mIoU per epoch per row::

    python benchmarks/compare_pseudo_gumbel.py --seeds 0 1 2 \\
        --work-dir work_dirs/compare_pseudo_gumbel --plot docs/en/_static/pseudo_gumbel_val_miou.png

``--warmup-epochs`` / ``--stage2-epochs`` / ``--num-train-pairs`` shorten the default config's
schedule for a quick look.
"""
import argparse
import copy
import os.path as osp
import shutil
from typing import Dict, List

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from cissreg.engine.hooks import caption_mode_miou
from cissreg.registry import RUNNERS

CONFIG = 'configs/pseudo_gumbel/tiny_shapes.py'
ROWS = ('warm-up only', 'Pseudo-Gumbel', 'hard ids', 'supervised captions')
STAGE2_MODE = {'Pseudo-Gumbel': 'pseudo_gumbel', 'hard ids': 'hard_ids',
               'supervised captions': 'supervised'}


class _RecordVal(Hook):
    """Keep (epoch, val mIoU) of every validation."""

    priority = 'LOW'

    def __init__(self, store: List) -> None:
        self.store = store

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.store.append((runner.epoch, metrics['ris/mIoU']))


class _AgreementSpy:
    """Count positions where the ids sampled in step 4 equal the teacher's ids."""

    def __init__(self, model) -> None:
        self.same = self.total = 0
        self.tokens = None
        captions, gumbel = model.pseudo_captions, model.gumbel.forward
        pad = model.mllm.pad_id

        def captions_spy(*args, **kwargs):
            self.tokens = captions(*args, **kwargs)
            return self.tokens

        def gumbel_spy(*args, **kwargs):
            out, ids = gumbel(*args, return_ids=True, **kwargs)
            valid = self.tokens != pad
            self.same += int((ids == self.tokens)[valid].sum())
            self.total += int(valid.sum())
            return out

        model.pseudo_captions, model.gumbel.forward = captions_spy, gumbel_spy

    @property
    def rate(self) -> float:
        return self.same / max(self.total, 1)


def gumbel_gradient_share(model, batches: List[dict]) -> float:
    """||grad through the Gumbel text embeddings|| / ||total grad|| over the MLLM's
    trainable parameters, summed over ``batches`` (Pseudo-Gumbel mode)."""
    params = [p for p in model.mllm.parameters() if p.requires_grad]
    seen = {}
    gumbel = model.gumbel.forward

    def spy(*args, **kwargs):
        seen['text'] = gumbel(*args, **kwargs)
        return seen['text']

    model.gumbel.forward = spy
    path_sq = total_sq = 0.0
    model.train()
    for batch in batches:
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        g_text, = torch.autograd.grad(loss, seen['text'], retain_graph=True)
        path = torch.autograd.grad(seen['text'], params, g_text, retain_graph=True,
                                   allow_unused=True)
        total = torch.autograd.grad(loss, params, allow_unused=True)
        path_sq += sum(float(g.pow(2).sum()) for g in path if g is not None)
        total_sq += sum(float(g.pow(2).sum()) for g in total if g is not None)
    model.gumbel.forward = gumbel
    return (path_sq / max(total_sq, 1e-30)) ** 0.5


def _cfg(args, seed: int, work_dir: str) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    cfg.default_hooks.checkpoint.update(max_keep_ckpts=1)
    cfg.custom_hooks = []  # text sensitivity measured once per row below
    if args.num_train_pairs:
        cfg.train_dataloader.dataset.num_pairs = args.num_train_pairs
        cfg.train_dataloader.dataset.data_root = cfg.data_root + f'_{args.num_train_pairs}'
    hooks = cfg.default_hooks
    hooks.train_mode.switch_epoch = args.warmup_epochs
    hooks.ema_teacher.begin_epoch = args.warmup_epochs
    for scheduler in cfg.param_scheduler:  # the stage-2 lr drop follows the switch
        if scheduler.type == 'MultiStepLR':
            scheduler.milestones = [args.warmup_epochs]
            scheduler.end = args.warmup_epochs + args.stage2_epochs
    return cfg


def run_seed(args, seed: int) -> Dict[str, dict]:
    """The four rows of one seed: metrics and the per-epoch val mIoU."""
    results = {}
    root = osp.join(args.work_dir, f'seed{seed}')
    cfg = _cfg(args, seed, osp.join(root, 'warmup'))
    cfg.train_cfg.max_epochs = args.warmup_epochs
    curve: List = []
    runner = RUNNERS.build(cfg)
    runner.register_hook(_RecordVal(curve))
    runner.train()
    test_cfg = runner.cfg.test_dataloader
    results['warm-up only'] = dict(curve=list(curve), **caption_mode_miou(runner.model, test_cfg))
    warm_ckpt = osp.join(root, 'warmup', f'epoch_{args.warmup_epochs}.pth')
    for row, mode in STAGE2_MODE.items():
        wd = osp.join(root, mode)
        shutil.rmtree(wd, ignore_errors=True)
        cfg = _cfg(args, seed, wd)
        cfg.train_cfg.max_epochs = args.warmup_epochs + args.stage2_epochs
        cfg.default_hooks.train_mode.after = mode
        cfg.load_from, cfg.resume = warm_ckpt, True
        row_curve = list(curve)
        runner = RUNNERS.build(cfg)
        runner.register_hook(_RecordVal(row_curve))
        spy = _AgreementSpy(runner.model) if mode == 'pseudo_gumbel' else None
        runner.train()
        model = runner.model
        res = dict(curve=row_curve, **caption_mode_miou(model, test_cfg))
        if spy is not None:
            res['agreement'] = spy.rate
            batches = [b for _, b in zip(range(args.share_batches), runner.train_dataloader)]
            res['grad_share'] = gumbel_gradient_share(model, batches)
        results[row] = res
    return results


def _fmt(values: List[float]) -> str:
    each = ' / '.join(f'{v:.3f}' for v in values)
    return f'**{np.mean(values):.3f}** ({each})'


def table(per_seed: List[Dict[str, dict]], seeds: List[int]) -> str:
    """Markdown: one row per method, mean (each seed) per column."""
    cols = [('mIoU true', 'mIoU_true'), ('mIoU shuffled', 'mIoU_shuffled'),
            ('mIoU swapped', 'mIoU_swapped'), ('text gap', None),
            ('id agreement', 'agreement'), ('Gumbel grad share', 'grad_share')]
    lines = ['| row (seeds ' + ', '.join(map(str, seeds)) + ') | '
             + ' | '.join(c for c, _ in cols) + ' |', '|---' * (len(cols) + 1) + '|']
    for row in ROWS:
        cells = []
        for _, key in cols:
            if key is None:
                vals = [r[row]['mIoU_true'] - r[row]['mIoU_shuffled'] for r in per_seed]
            else:
                vals = [r[row].get(key) for r in per_seed]
            cells.append('-' if any(v is None for v in vals) else _fmt(vals))
        lines.append(f'| {row} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot(per_seed: List[Dict[str, dict]], path: str) -> None:
    """Val mIoU per epoch, one line per row (mean over seeds)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in ROWS:
        curves = [dict(r[row]['curve']) for r in per_seed]
        epochs = sorted(set.intersection(*(set(c) for c in curves)))
        ax.plot(epochs, [np.mean([c[e] for c in curves]) for e in epochs], marker='o',
                label=row, linestyle='--' if row == 'warm-up only' else '-')
    ax.set_xlabel('epoch')
    ax.set_ylabel('val mIoU (true captions)')
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/compare_pseudo_gumbel')
    parser.add_argument('--warmup-epochs', type=int, default=None,
                        help="default: the config's warmup_epochs")
    parser.add_argument('--stage2-epochs', type=int, default=None,
                        help="default: the config's pseudo_gumbel_epochs")
    parser.add_argument('--num-train-pairs', type=int, default=None)
    parser.add_argument('--share-batches', type=int, default=4)
    parser.add_argument('--plot', default=None, help='where to write the val mIoU plot')
    args = parser.parse_args()
    base = Config.fromfile(args.config)
    args.warmup_epochs = args.warmup_epochs or base.warmup_epochs
    args.stage2_epochs = args.stage2_epochs or base.pseudo_gumbel_epochs
    torch.set_num_threads(1)
    per_seed = [run_seed(copy.copy(args), seed) for seed in args.seeds]
    print(f'\n{args.config}: {args.warmup_epochs} warm-up + {args.stage2_epochs} stage-2 epochs, '
          'test mIoU **mean** (each seed)\n')
    print(table(per_seed, args.seeds))
    if args.plot:
        plot(per_seed, args.plot)
        print(f'\nplot: {args.plot}')


if __name__ == '__main__':
    main()
