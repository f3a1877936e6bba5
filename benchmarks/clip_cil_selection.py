"""Choose the CLIP CIL default's task split and training settings on a validation split.

Every candidate trains on 75 % of each class's training images (``holdout_fraction=0.25`` of
``BaseCILDataset``) and is scored, after every task, on the held-out 25 % (the test split is
never used); zero-shot CLIP and NCM (class means of the frozen features of the same 75 %) are
scored on the same images, so the table answers the question of the default on data the
final table never sees.

A candidate is a named set of config overrides (``CANDIDATES``) applied over ``REFERENCE``:
the recipe's plain settings (old prompts frozen, no image adapter, 10 prompt epochs per
task), so the names keep their meaning whatever the config's own values. ``--splits`` runs
the candidates on several task splits (``INIT:INCREMENT``). For each split it prints a
markdown table (mean and each seed of Last / Avg / forgetting; ``A[0]``, the accuracy after
task 0, which weighs as much in Avg as Last does on two tasks; the accuracy on the last
task right after it is trained; Last and Avg minus the better untrained baseline, with the
larger seed spread (max - min) of the two rows and whether the margin exceeds it) and
writes ``selection.json`` in ``--work-dir``; finished runs are cached there.

``--folds 4`` validates every candidate on the four quarters of each class's training
images in turn (``holdout_fold`` 0..3; every training image validated once, 960 images per
seed instead of 240) and averages the metrics over the folds; without ``--candidates`` it
runs ``FOLD_CANDIDATES``.

    OMP_NUM_THREADS=1 python benchmarks/clip_cil_selection.py --splits 4:4 8:4 12:4
``--positives caption`` runs the table on a tiny CLIP pretrained with caption-level pairs
(``tools/pretrain_tiny_clip.py --positives caption``, into ``data/tiny_clip_shapes_caption``,
pretrained first if missing), baselines included; ``--pretrain-steps N`` pretrains that CLIP
for ``N`` steps instead (``tools/pretrain_tiny_clip.py --steps N``, into
``data/tiny_clip_shapes[_caption]_Nsteps``).

    OMP_NUM_THREADS=1 python benchmarks/clip_cil_selection.py --folds 4
    OMP_NUM_THREADS=1 python benchmarks/clip_cil_selection.py --folds 4 --positives caption
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Optional

import numpy as np
from clip_cil_baselines import ROOT, fmt, seeded_cfg, trained_rows, untrained_rows
from mmengine.config import Config

# The config every candidate starts from (task split, CLIP, images per class: flags)
BASE = osp.join(ROOT, 'configs', 'clip_cil', 'clip_cil_tiny-pretrained_b12-inc4_shapes.py')
HOLDOUT = 0.25
BASELINES = ('zero-shot CLIP', 'NCM (frozen features)')
REFERENCE = {
    'model.prompt_learner.update_old_text_prompts': False,
    'model.use_image_adapter': False,
    'train_cfg.stages.prompts.max_epochs': 10,
    'train_cfg.stages.prompts.init_max_epochs': 10,
    'train_cfg.stages.prompts.optim_wrapper.paramwise_cfg': dict(
        custom_keys={'image_adapter': dict(lr_mult=1.0)}),
}
NO_HINGE = {'model.text_hinge_loss': None}
ADAPTER = {'model.use_image_adapter': True}
JOINT = {'model.prompt_learner.update_old_text_prompts': True}
EPOCHS30 = {'train_cfg.stages.prompts.max_epochs': 30}
REPLAY20 = {'default_hooks.replay.samples_per_old_class': 20}
SHRINK = {'model.replay_sampler.shrinkage': 0.5}


def adapter_lr(mult: float) -> dict:
    """The image adapter's learning rate ``mult`` times the prompts'."""
    return {'train_cfg.stages.prompts.optim_wrapper': dict(
        paramwise_cfg=dict(custom_keys={'image_adapter': dict(lr_mult=mult)}))}


PREVIOUS = 'old prompts keep training, image adapter, 30 epochs, task 0 too'
DEFAULT_SETTINGS = dict(JOINT, **ADAPTER, **EPOCHS30,
                        **{'train_cfg.stages.prompts.init_max_epochs': 30})
DEFAULT_NAME = PREVIOUS + ', adapter lr x10 (the default)'
DEFAULT_OPTIONS = dict(DEFAULT_SETTINGS, **adapter_lr(10.0))


def task0_lr(lr: float) -> dict:
    """Stage ``prompts`` of task 0 at learning rate ``lr`` (the config's ``init_lr``)."""
    return {'train_cfg.stages.prompts.init_lr': lr}


MLP128 = {'model.image_adapter': dict(type='ResidualMLPAdapter', hidden_dim=128)}
CANDIDATES: Dict[str, dict] = {
    'reference settings': {},
    'w/o hinge': NO_HINGE,
    'hinge weight 0.1': {'model.text_hinge_loss.loss_weight': 0.1},
    'hinge threshold 0.8': {'model.text_hinge_loss.hard_pair_threshold': 0.8},
    'image adapter': ADAPTER,
    'image adapter, w/o hinge': dict(ADAPTER, **NO_HINGE),
    'prompts 30 epochs after task 0': EPOCHS30,
    'prompts lr 0.05 after task 0': {
        'train_cfg.stages.prompts.optim_wrapper': dict(optimizer=dict(lr=0.05)),
        'train_cfg.stages.prompts.init_lr': 0.01},
    'old prompts keep training': JOINT,
    'old prompts keep training, w/o hinge': dict(JOINT, **NO_HINGE),
    'old prompts keep training, image adapter': dict(JOINT, **ADAPTER),
    'old prompts keep training, image adapter, w/o hinge': dict(JOINT, **ADAPTER, **NO_HINGE),
    'image adapter, w/o hinge, 30 epochs': dict(ADAPTER, **NO_HINGE, **EPOCHS30),
    'old prompts keep training, w/o hinge, 30 epochs': dict(JOINT, **NO_HINGE, **EPOCHS30),
    'old prompts keep training, image adapter, 30 epochs': dict(JOINT, **ADAPTER, **EPOCHS30),
    'old prompts keep training, image adapter, w/o hinge, 30 epochs': dict(
        JOINT, **ADAPTER, **NO_HINGE, **EPOCHS30),
    'old prompts keep training, image adapter, hinge weight 0.1, 30 epochs': dict(
        JOINT, **ADAPTER, **EPOCHS30, **{'model.text_hinge_loss.loss_weight': 0.1}),
    PREVIOUS: DEFAULT_SETTINGS,
    DEFAULT_NAME: DEFAULT_OPTIONS,
    PREVIOUS + ', adapter lr x30': dict(DEFAULT_SETTINGS, **adapter_lr(30.0)),
    PREVIOUS + ', adapter lr x100': dict(DEFAULT_SETTINGS, **adapter_lr(100.0)),
    PREVIOUS + ', residual MLP adapter (hidden 128)': dict(DEFAULT_SETTINGS, **MLP128),
    PREVIOUS + ', residual MLP adapter (hidden 256)': dict(
        DEFAULT_SETTINGS, **{'model.image_adapter': dict(type='ResidualMLPAdapter',
                                                         hidden_dim=256)}),
    PREVIOUS + ', residual MLP adapter (hidden 128), adapter lr x10': dict(
        DEFAULT_SETTINGS, **MLP128, **adapter_lr(10.0)),
    PREVIOUS + ', LoRA rank 4 on the last vision layer': dict(
        DEFAULT_SETTINGS, **{'model.lora': dict(rank=4, alpha=8, layers=[1])}),
    DEFAULT_NAME + ', task-0 lr 0.003': dict(DEFAULT_OPTIONS, **task0_lr(0.003)),
    DEFAULT_NAME + ', task-0 lr 0.001': dict(DEFAULT_OPTIONS, **task0_lr(0.001)),
    DEFAULT_NAME + ', w/o hinge': dict(DEFAULT_OPTIONS, **NO_HINGE),
    PREVIOUS + ', adapter lr x3': dict(DEFAULT_SETTINGS, **adapter_lr(3.0)),
    DEFAULT_NAME + ', 60 epochs': dict(DEFAULT_OPTIONS, **{
        'train_cfg.stages.prompts.max_epochs': 60, 'train_cfg.stages.prompts.init_max_epochs': 60}),
    'w/o hinge, replay 20 per class': dict(NO_HINGE, **REPLAY20),
    'w/o hinge, Gaussian shrinkage 0.5': dict(NO_HINGE, **SHRINK),
}

# the default and the settings around it, on every validation fold (``--folds 4``)
FOLD_CANDIDATES = [PREVIOUS, DEFAULT_NAME, PREVIOUS + ', adapter lr x3'] + [
    DEFAULT_NAME + suffix for suffix in (', task-0 lr 0.003', ', task-0 lr 0.001', ', w/o hinge',
                                         ', 60 epochs')]


def validation_cfg(config: str, seed: int, work_dir: str, options: dict,
                   common: dict = None, fold: int = 0) -> Config:
    """The seeded config with the common and the candidate's overrides, trained on 75 %
    and evaluated on the held-out 25 % of each class's training images (``fold`` 0: the last
    quarter of every class, 1: the one before it, ...)."""
    cfg = seeded_cfg(config, seed, work_dir)
    cfg.merge_from_dict(REFERENCE)
    cfg.merge_from_dict(common or {})
    cfg.merge_from_dict(options)
    train = cfg.train_dataloader.dataset
    train.update(holdout_fraction=HOLDOUT, holdout_fold=fold)
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].dataset = dict(train, holdout=True)
    return cfg


def seed_table(config: str, names: List[str], seed: int, work_dir: str, common: dict,
               fold: int = 0) -> Dict[str, dict]:
    """Baseline and candidate rows of one seed and validation fold, cached in
    ``<work_dir>/seed<seed>.json`` (fold 0) or ``seed<seed>_fold<fold>.json``."""
    cache = osp.join(work_dir, f'seed{seed}.json' if fold == 0 else f'seed{seed}_fold{fold}.json')
    work_dir = work_dir if fold == 0 else osp.join(work_dir, f'fold{fold}')
    rows: Dict[str, dict] = {}
    if osp.isfile(cache):
        with open(cache) as f:
            rows = json.load(f)
    if BASELINES[0] not in rows:
        base_cfg = validation_cfg(config, seed, osp.join(work_dir, 'base'), {}, common, fold)
        rows.update(untrained_rows(base_cfg))
    for name in names:
        if name in rows:
            continue
        run_dir = osp.join(work_dir, f'seed{seed}', name.replace(' ', '_').replace('/', ''))
        row = trained_rows('candidate', validation_cfg(config, seed, run_dir, CANDIDATES[name],
                                                       common, fold))['candidate']
        rows[name] = row
        print(name, seed, fold, {k: v for k, v in row.items() if k != 'acc_matrix'},
              flush=True)
        os.makedirs(osp.dirname(cache), exist_ok=True)
        with open(cache, 'w') as f:
            json.dump(rows, f, indent=2)
    return rows


def fold_mean(tables: List[Dict[str, dict]], names: List[str]) -> Dict[str, dict]:
    """Rows of one seed averaged over validation folds (equal-size folds: the mean of the
    fold accuracies is the accuracy over every training image)."""
    out = {}
    for name in list(BASELINES) + names:
        rows = [t[name] for t in tables]
        out[name] = {k: float(np.mean([r[k] for r in rows])) for k in ('Last', 'Avg',
                                                                       'forgetting')}
        out[name]['acc_matrix'] = [[float(np.mean([r['acc_matrix'][t][j] for r in rows]))
                                    for j in range(len(row))]
                                   for t, row in enumerate(rows[0]['acc_matrix'])]
    return out


def print_table(by_seed: Dict[int, Dict[str, dict]], names: List[str], seeds: List[int],
                title: str, folds: int = 1) -> None:
    where = (f'validation split ({HOLDOUT:.0%} of each class\'s training images)' if folds == 1
             else f'{folds} validation folds ({HOLDOUT:.0%} of each class\'s training images '
             'each, metrics averaged over the folds)')
    print(f'\n{title}; {where}, mean (each seed {seeds}), %\n')
    print('| setting | Last | Avg | forgetting | A[0] (after task 0) | last task right after '
          'training | Last - best baseline (spread) | Avg - best baseline (spread) |')
    print('|---|---|---|---|---|---|---|---|')
    best = {k: max(BASELINES, key=lambda n: np.mean([by_seed[s][n][k] for s in seeds]))
            for k in ('Last', 'Avg')}
    for name in list(BASELINES) + names:
        rows = [by_seed[s][name] for s in seeds]
        cells = [fmt([r[k] for r in rows]) for k in ('Last', 'Avg', 'forgetting')]
        cells.append(fmt([r['acc_matrix'][0][0] for r in rows]))
        cells.append(fmt([r['acc_matrix'][-1][-1] for r in rows]))
        for k in ('Last', 'Avg'):
            values = [r[k] for r in rows]
            base = [by_seed[s][best[k]][k] for s in seeds]
            margin = np.mean(values) - np.mean(base)
            spread = max(np.ptp(values), np.ptp(base))
            cells.append(f'{margin:+.1f} ({spread:.1f}{", beyond" if margin > spread else ""})')
        print(f'| {name} | ' + ' | '.join(cells) + ' |')


def pretrained_clip(positives: str, steps: Optional[int] = None) -> str:
    """The tiny CLIP folder pretrained with ``--positives positives`` and ``--steps steps``
    (the config's own for ``'class'`` and the tool's default steps);
    ``tools/pretrain_tiny_clip.py`` runs once if the folder is missing."""
    folder = osp.join(ROOT, 'data', 'tiny_clip_shapes' + ('' if positives == 'class' else
                                                          f'_{positives}')
                      + ('' if steps is None else f'_{steps}steps'))
    if not osp.isfile(osp.join(folder, 'model.safetensors')):
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'pretrain_tiny_clip.py'),
                        '--positives', positives, '--out', folder]
                       + ([] if steps is None else ['--steps', str(steps)]), check=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=BASE)
    parser.add_argument('--seeds', type=int, nargs='+', default=[1993, 0, 1])
    parser.add_argument('--splits', nargs='+', default=['12:4'],
                        help='task splits INIT:INCREMENT (classes of task 0 : of each later task)')
    parser.add_argument('--candidates', nargs='+', choices=list(CANDIDATES),
                        help='default: every candidate with one fold, FOLD_CANDIDATES with more')
    parser.add_argument('--folds', type=int, default=1, choices=range(1, int(1 / HOLDOUT) + 1),
                        help='validation folds per seed (1: the last quarter of every class; '
                        '4: every training image validated once)')
    parser.add_argument('--positives', default='class', choices=('class', 'caption'),
                        help="the tiny CLIP's pretraining pairs (tools/pretrain_tiny_clip.py "
                        "--positives; baselines and candidates all use that CLIP)")
    parser.add_argument('--pretrain-steps', type=int,
                        help="the tiny CLIP's pretraining steps (tools/pretrain_tiny_clip.py "
                        '--steps; default: the tool\'s)')
    parser.add_argument('--num-train', type=int,
                        help="training images per class of the dataset (default: the config's; "
                        'a quarter of them validates)')
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'clip_cil_selection'))
    args = parser.parse_args()
    if args.candidates is None:
        args.candidates = list(CANDIDATES) if args.folds == 1 else FOLD_CANDIDATES
    results = {}
    for split in args.splits:
        init, increment = (int(v) for v in split.split(':'))
        common = {'model.init_class': init, 'model.increment': increment}
        work_dir = osp.join(args.work_dir, f'b{init}-inc{increment}')
        title = f'B{init}-inc{increment}'
        if args.positives != 'class' or args.pretrain_steps is not None:
            common['model.clip.pretrained'] = pretrained_clip(args.positives, args.pretrain_steps)
            work_dir += f'-{args.positives}-positives'
            title += f', tiny CLIP pretrained with {args.positives} positives'
        if args.pretrain_steps is not None:
            work_dir += f'-{args.pretrain_steps}steps'
            title += f' for {args.pretrain_steps} steps'
        if args.num_train is not None:
            common['train_dataloader.dataset.num_train'] = args.num_train
            work_dir += f'-{args.num_train}img'
            title += f', {args.num_train} training images per class'
        by_seed = {s: fold_mean([seed_table(args.config, args.candidates, s, work_dir, common, f)
                                 for f in range(args.folds)], args.candidates)
                   for s in args.seeds}
        print_table(by_seed, args.candidates, args.seeds, title, args.folds)
        results[split] = by_seed
    with open(osp.join(args.work_dir, 'selection.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds, holdout_fraction=HOLDOUT, folds=args.folds,
                       positives=args.positives, pretrain_steps=args.pretrain_steps,
                       num_train=args.num_train,
                       config=args.config,
                       reference=REFERENCE, candidates={n: CANDIDATES[n] for n in args.candidates},
                       results=results), f, indent=2)


if __name__ == '__main__':
    main()
