"""Choose the CLIP CIL default's training settings on a validation split, never the test split.

Every candidate trains on 75 % of each class's training images (``holdout_fraction=0.25`` of
``BaseCILDataset``) and is scored, after every task, on the held-out 25 %; zero-shot CLIP and
NCM (class means of the frozen features of the same 75 %) are scored on the same images, so
the table answers the question of the default on data the final table never sees.

Candidates are named sets of config overrides (``CANDIDATES``); ``--candidates`` picks some.
Prints a markdown table (mean and each seed of Last / Avg / forgetting, the accuracy on the
last task right after it is trained, and the margin of Last and Avg over the better untrained
baseline) and writes ``selection.json`` in ``--work-dir``; finished runs are cached there.

    OMP_NUM_THREADS=1 python benchmarks/clip_cil_selection.py --seeds 1993
"""
import argparse
import json
import os
import os.path as osp
from typing import Dict, List

import numpy as np
from clip_cil_baselines import DEFAULT, ROOT, fmt, seeded_cfg, trained_rows, untrained_rows
from mmengine.config import Config, DictAction

HOLDOUT = 0.25
BASELINES = ('zero-shot CLIP', 'NCM (frozen features)')
NO_HINGE = {'model.text_hinge_loss': None}
ADAPTER = {'model.use_image_adapter': True}
JOINT = {'model.prompt_learner.update_old_text_prompts': True}
EPOCHS30 = {'train_cfg.stages.prompts.max_epochs': 30}
REPLAY20 = {'default_hooks.replay.samples_per_old_class': 20}
SHRINK = {'model.replay_sampler.shrinkage': 0.5}
CANDIDATES: Dict[str, dict] = {
    'default': {},
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
    'old prompts keep training, image adapter, 30 epochs, task 0 too': dict(
        JOINT, **ADAPTER, **EPOCHS30, **{'train_cfg.stages.prompts.init_max_epochs': 30}),
    'w/o hinge, replay 20 per class': dict(NO_HINGE, **REPLAY20),
    'w/o hinge, Gaussian shrinkage 0.5': dict(NO_HINGE, **SHRINK),
}


def validation_cfg(config: str, seed: int, work_dir: str, options: dict,
                   common: dict = None) -> Config:
    """The seeded config with the common and the candidate's overrides, trained on the 75 %
    and evaluated on the held-out 25 % of each class's training images."""
    cfg = seeded_cfg(config, seed, work_dir)
    cfg.merge_from_dict(common or {})
    cfg.merge_from_dict(options)
    train = cfg.train_dataloader.dataset
    train.update(holdout_fraction=HOLDOUT)
    for key in ('val_dataloader', 'test_dataloader'):
        cfg[key].dataset = dict(train, holdout=True)
    return cfg


def seed_table(config: str, names: List[str], seed: int, work_dir: str,
               common: dict) -> Dict[str, dict]:
    """Baseline and candidate rows of one seed, cached in ``<work_dir>/seed<seed>.json``."""
    cache = osp.join(work_dir, f'seed{seed}.json')
    rows: Dict[str, dict] = {}
    if osp.isfile(cache):
        with open(cache) as f:
            rows = json.load(f)
    if BASELINES[0] not in rows:
        rows.update(untrained_rows(validation_cfg(config, seed, osp.join(work_dir, 'base'), {},
                                                     common)))
    for name in names:
        if name in rows:
            continue
        run_dir = osp.join(work_dir, f'seed{seed}', name.replace(' ', '_').replace('/', ''))
        row = trained_rows('candidate', validation_cfg(config, seed, run_dir,
                                                       CANDIDATES[name], common))['candidate']
        rows[name] = row
        print(name, seed, {k: v for k, v in row.items() if k != 'acc_matrix'}, flush=True)
        os.makedirs(work_dir, exist_ok=True)
        with open(cache, 'w') as f:
            json.dump(rows, f, indent=2)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=DEFAULT)
    parser.add_argument('--seeds', type=int, nargs='+', default=[1993])
    parser.add_argument('--candidates', nargs='+', default=list(CANDIDATES),
                        choices=list(CANDIDATES))
    parser.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'clip_cil_selection'))
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of every row, baselines included (e.g. the task split)')
    args = parser.parse_args()
    by_seed = {s: seed_table(args.config, args.candidates, s, args.work_dir, args.cfg_options)
               for s in args.seeds}
    print(f'\nValidation split ({HOLDOUT:.0%} of each class\'s training images), seeds '
          f'{args.seeds}; mean (each seed), %\n')
    print('| setting | Last | Avg | forgetting | last task right after training | '
          'Last - best baseline | Avg - best baseline |')
    print('|---|---|---|---|---|---|---|')
    best = {k: max(BASELINES, key=lambda n: np.mean([by_seed[s][n][k] for s in args.seeds]))
            for k in ('Last', 'Avg')}
    for name in list(BASELINES) + args.candidates:
        rows = [by_seed[s][name] for s in args.seeds]
        cells = [fmt([r[k] for r in rows]) for k in ('Last', 'Avg', 'forgetting')]
        cells.append(fmt([r['acc_matrix'][-1][-1] for r in rows]))
        for k in ('Last', 'Avg'):
            cells.append(f'{np.mean([r[k] for r in rows]) - np.mean([by_seed[s][best[k]][k] for s in args.seeds]):+.1f}')  # noqa: E501
        print(f'| {name} | ' + ' | '.join(cells) + ' |')
    with open(osp.join(args.work_dir, 'selection.json'), 'w') as f:
        json.dump(dict(seeds=args.seeds, holdout_fraction=HOLDOUT, config=args.config,
                       candidates={n: CANDIDATES[n] for n in args.candidates},
                       table=by_seed), f, indent=2)


if __name__ == '__main__':
    main()
