"""The CISS results on the embedded shapes default: every row trained here, tables printed.

Three experiments, each over seeds (default 0 1 2), printed as markdown (mean and each seed):

* ``table``: fine-tuning, DKD, DKD-M, DKD + gradient learner and joint training; mIoU old /
  new / all / hIoU after every step; with ``--plot`` the per-step plot of the first seed.
* ``learner``: DKD + learner (its main model is DKD's) without phase replay, with logit replay
  and with image replay; + pseudo-gradient alignment (on image replay) with beta 0.1 and 1;
  controls at both betas: alignment with an untrained learner (Adam lr 0) and with the old
  model's argmax pseudo gradient. A run that stops on a non-finite loss is shown as diverged
  from that step on (and listed under the table). Per step: old / new mIoU, the old-class mIoU
  on validation images that also hold a new class, and on the old-class pixels of the
  validation and of the training images the cross entropy before and after the learner's
  simulated step (``CE(z)`` -> ``CE(z')``, ``z' = z - eta * alpha * tau * h_w(z) /
  ||h_w(z)||``; lower after = the learner's predicted gradient helps there) and the share of
  pixels whose newest-class logit the step raises (100 % = the learner has collapsed to the
  newest class).
* ``select``: the measurement that chose the default's step budget and learning rate: DKD
  with each candidate (run with ``--seeds 0``), evaluated on a selection set (shapes drawn with
  generator seed 1, disjoint from the validation images the other two experiments report).

A run whose ``incremental_results.json`` already holds every step is reused, so the two
experiments share their DKD runs and an interrupted sweep continues::

    python benchmarks/ciss_shapes_experiments.py table --plot docs/en/methods/ciss_shapes_4-1.png
    python benchmarks/ciss_shapes_experiments.py learner
    python benchmarks/ciss_shapes_experiments.py table --seeds 0 --methods fine-tuning DKD

Runs are sequential subprocesses of ``tools/train.py`` with ``OMP_NUM_THREADS`` set to
``--threads``; each prints its user + sys CPU time.
"""
import argparse
import json
import math
import os
import os.path as osp
import re
import resource
import subprocess
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = 'configs/ciss/'
ALIGN = CFG + 'dkd_r18_shapes_4-1_grad_align.py'
BETA_01, BETA_1 = 'model.loss_align.loss_weight=0.1', 'model.loss_align.loss_weight=1.0'
UNTRAINED = 'default_hooks.grad_learner.lr=0.0'  # h_w keeps its initial weights
ARGMAX = 'model.loss_align.target=pseudo_label'  # the old model's argmax instead of h_w
TABLE_RUNS = {
    'fine-tuning': (CFG + 'finetune_r18_shapes_4-1.py', []),
    'DKD': (CFG + 'dkd_r18_shapes_4-1.py', []),
    'DKD-M': (CFG + 'dkd-m_r18_shapes_4-1.py', []),
    'DKD + learner': (CFG + 'dkd_r18_shapes_4-1_grad.py', []),
    'joint': (CFG + 'joint_r18_shapes.py', []),
}
# DKD's own row is 'DKD + learner': without alignment the learner leaves the main model
# bit-identical (tests/test_engine/test_hooks/test_grad_learner_hook.py).
LEARNER_RUNS = {
    'DKD + learner': (CFG + 'dkd_r18_shapes_4-1_grad.py', []),
    'DKD + learner + logit replay': (CFG + 'dkd_r18_shapes_4-1_grad_replay.py', []),
    'DKD + learner + image replay': (CFG + 'dkd_r18_shapes_4-1_grad_replay-img.py', []),
    '+ align beta 0.1': (ALIGN, [BETA_01]),
    '+ align beta 1': (ALIGN, [BETA_1]),
    'control: untrained h_w, beta 0.1': (ALIGN, [BETA_01, UNTRAINED]),
    'control: old-model argmax, beta 0.1': (ALIGN, [BETA_01, ARGMAX]),
    'control: untrained h_w, beta 1': (ALIGN, [BETA_1, UNTRAINED]),
    'control: old-model argmax, beta 1': (ALIGN, [BETA_1, ARGMAX]),
}
# Candidates for the default's step budget and learning rate (DKD, seed 0), each evaluated on
# a selection set: shapes drawn with another generator seed, disjoint from the validation
# images of the tables. The default is the candidate with the best hIoU after the last step.
SELECT_SET = ['val_dataloader.dataset.data_root=data/shapes_seg_select',
              'val_dataloader.dataset.seed=1']
SELECT_RUNS = {
    f'DKD, {name}': (CFG + 'dkd_r18_shapes_4-1.py',
                     [f'train_cfg.stages.step.max_epochs={epochs}',
                      f'train_cfg.stages.step.init_max_epochs={init_epochs}',
                      f'optim_wrapper.paramwise_cfg.incremental_lr={lr}', *SELECT_SET])
    for name, epochs, init_epochs, lr in (
        ('steps 1-2: 300 epochs at lr 1e-3', 300, 30, 1e-3),
        ('steps 1-2: 300 epochs at lr 2e-3', 300, 30, 2e-3),
        ('steps 1-2: 300 epochs at lr 1e-3, step 0: 60 epochs', 300, 60, 1e-3),
        ('steps 1-2: 450 epochs at lr 1e-3 (the default)', 450, 30, 1e-3))
}
NUM_OLD = 4  # foreground classes of step 0 in the 4-1 setting


def work_dir(root: str, name: str, seed: int) -> str:
    slug = ''.join(c if c.isalnum() else '_' for c in name.lower()).strip('_')
    return osp.join(root, slug, f'seed{seed}')


def train(config: str, options: List[str], wdir: str, seed: int,
          threads: int) -> Tuple[dict, Optional[dict]]:
    """Run ``tools/train.py`` unless ``wdir`` holds a finished run.

    Returns:
        tuple: The results json (the finished steps) and, when the run stopped on a
        non-finite loss, ``dict(step=, iteration=)`` (kept in ``wdir/diverged.json``);
        otherwise None. Any other failure raises with the run's stderr tail.
    """
    path, diverged = osp.join(wdir, 'incremental_results.json'), osp.join(wdir, 'diverged.json')
    if not _finished(path) and not osp.exists(diverged):
        os.makedirs(wdir, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
                   PYTHONPATH=ROOT)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        cmd = [sys.executable, 'tools/train.py', config, '--work-dir', wdir, '--cfg-options',
               f'randomness.seed={seed}', *options]
        print('$', ' '.join(cmd), flush=True)
        with open(osp.join(wdir, 'train_stderr.log'), 'w') as err:
            code = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=err).returncode
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f'  {wdir}: {cpu:.0f} s CPU (user + sys)', flush=True)
        if code:
            _record_divergence(wdir, diverged, path)
    with open(path) as f:
        res = json.load(f)
    if osp.exists(diverged):
        with open(diverged) as f:
            return res, json.load(f)
    return res, None


def _record_divergence(wdir: str, path: str, results: str) -> None:
    """Write ``path`` when the failed run in ``wdir`` stopped on a non-finite loss (its step:
    the number of steps in the ``results`` json); raise otherwise."""
    with open(osp.join(wdir, 'train_stderr.log')) as f:
        stderr = f.read()
    found = re.search(r'NonFiniteLossError: non-finite loss at iteration (\d+)', stderr)
    if found is None:
        raise SystemExit(f'{wdir}: tools/train.py failed:\n{stderr[-3000:]}')
    with open(results) as f:
        step = len(json.load(f)['tasks'])
    with open(path, 'w') as f:
        json.dump(dict(step=step, iteration=int(found.group(1))), f)


def _finished(path: str) -> bool:
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        return False
    return len(res['tasks']) == res['num_tasks']


def step_rows(res: dict) -> List[Dict[str, float]]:
    """``[{old, new, all, hIoU}]`` per step; a one-step (joint) run is split into the
    4-1 groups (background + classes 1-4 old, 5-6 new) from its per-class IoU."""
    steps = res['CISSMetric']['steps']
    if len(steps) > 1 or len(steps[0]['class_iou']) <= NUM_OLD + 1:
        return [dict(old=s['mIoU_old'], new=s['mIoU_new'], all=s['mIoU_all'],
                     hIoU=s['hIoU']) for s in steps]
    iou = steps[-1]['class_iou']
    old, new = _mean(iou[:NUM_OLD + 1]), _mean(iou[NUM_OLD + 1:])
    return [dict(old=old, new=new, all=_mean(iou), hIoU=2 * old * new / (old + new))]


def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else float('nan')


def fmt(values: Sequence[Optional[float]], digits: int = 2) -> str:
    """``mean (a / b / c)``; ``-`` when every value is NaN; a seed whose run diverged before
    this step (None) is ``div.`` and left out of the mean."""
    if all(v is None for v in values):
        return 'diverged'
    if all(v is None or math.isnan(v) for v in values):
        return '-'
    each = ' / '.join('div.' if v is None else f'{v:.{digits}f}' for v in values)
    mean = _mean([v for v in values if v is not None])
    return f'{mean:.{digits}f}' + (f' ({each})' if len(values) > 1 else '')


def run_table(args) -> None:
    results = {}
    runs = SELECT_RUNS if args.experiment == 'select' else TABLE_RUNS
    for name, (config, options) in _selected(runs, args.methods):
        results[name] = [step_rows(train(config, options, work_dir(args.work_root, name, s),
                                         s, args.threads)[0]) for s in args.seeds]
    print(f'\nmIoU (%) after each step, mean over seeds {args.seeds} (each seed in brackets)\n')
    print('| method | step | old | new | all | hIoU |')
    print('| --- | --- | --- | --- | --- | --- |')
    for name, runs in results.items():
        for step in range(len(runs[0])):
            label = 'final' if len(runs[0]) == 1 else str(step)
            cells = [fmt([r[step][k] for r in runs]) for k in ('old', 'new', 'all', 'hIoU')]
            print(f'| {name if step == 0 else ""} | {label} | ' + ' | '.join(cells) + ' |')
    if args.plot:
        names = [n for n in results if n != 'joint']
        cmd = [sys.executable, 'tools/analysis_tools/plot_incremental_results.py',
               *[work_dir(args.work_root, n, args.seeds[0]) for n in names], '--names',
               *names, '--keys', 'ciss/mIoU_old', 'ciss/mIoU_new', 'ciss/mIoU_all', '--out',
               args.plot]
        subprocess.run(cmd, cwd=ROOT, check=True)


def _selected(runs: dict, methods: Optional[List[str]]) -> list:
    """The runs named in ``methods`` (all when None), in the table's order."""
    unknown = set(methods or []) - set(runs)
    if unknown:
        raise SystemExit(f'--methods: unknown {sorted(unknown)}; choose from {list(runs)}')
    return [(k, v) for k, v in runs.items() if methods is None or k in methods]


# ---------------------------------------------------------------------- learner experiment
def _load(config: str, options: List[str], wdir: str, task: int):
    """The model after step ``task``, the learner (or None) and the config."""
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope

    import cissreg  # noqa: F401  (registries)
    from cissreg.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, config))
    init_default_scope(cfg.get('default_scope', 'cissreg'))
    parsed = argparse.ArgumentParser()
    parsed.add_argument('--o', nargs='*', action=DictAction, default={})
    cfg.merge_from_dict(parsed.parse_args(['--o', *options]).o if options else {})
    model = MODELS.build(cfg.model)
    for t in range(task + 1):
        model.begin_task(t)
    ckpt = torch.load(osp.join(wdir, f'task_{task}.pth'), map_location='cpu',
                      weights_only=False)
    model.load_state_dict(ckpt['state_dict'])
    model.eval()
    learner, hook_cfg = None, cfg.default_hooks.get('grad_learner')
    state = ckpt.get('grad_learner')
    if state is not None and state.get('num_classes'):
        learner = MODELS.build(dict(hook_cfg.get('learner') or dict(type='GradLearner'),
                                    num_classes=state['num_classes']))
        learner.load_state_dict(state['learner'])
    return model, learner, hook_cfg, cfg


@torch.no_grad()
def learner_metrics(config: str, options: List[str], wdir: str, task: int) -> dict:
    """Old-class mIoU on validation images with a new class; on the old-class pixels of the
    validation and of the training images (no augmentation): the cross entropy before / after
    the learner's simulated step and the share of pixels whose newest-class logit it raises."""
    from cissreg.registry import DATASETS
    model, learner, hook_cfg, cfg = _load(config, options, wdir, task)
    num_seen = model.num_seen
    conf = torch.zeros(num_seen + 1, num_seen + 1, dtype=torch.long)
    out = {}
    splits = [('val', 'val')] + ([('train_aug', 'train')] if learner is not None else [])
    for split, name in splits:
        dataset = DATASETS.build(dict(cfg.val_dataloader.dataset, split=split))
        ce_before = ce_after = newest_up = count = 0.0
        for i in range(len(dataset)):
            item = dataset[i]
            data = model.data_preprocessor(dict(inputs=[item['inputs']],
                                                data_samples=[item['data_samples']]), False)
            gt = data['labels'][0].clone()
            gt[(gt > num_seen) & (gt != 255)] = 0
            logits = model.seg_logits(data['inputs'])[1]
            if name == 'val' and task > 0 and bool(((gt > NUM_OLD) & (gt <= num_seen)).any()):
                pred = model.predict(data['inputs'])[0].pred_sem_seg
                keep = gt != 255
                conf += torch.bincount(gt[keep] * (num_seen + 1) + pred[keep],
                                       minlength=(num_seen + 1) ** 2).view_as(conf)
            old_px = (gt >= 1) & (gt <= NUM_OLD)
            if learner is not None and bool(old_px.any()):
                z = logits[0, 1:].permute(1, 2, 0)[old_px]
                y = gt[old_px] - 1
                z_new = learner.simulated_logits(z, y, hook_cfg.get('alpha', 0.5),
                                                 hook_cfg.get('eta', 1.0))
                ce_before += float(torch.nn.functional.cross_entropy(z, y, reduction='sum'))
                ce_after += float(torch.nn.functional.cross_entropy(z_new, y, reduction='sum'))
                newest_up += float((z_new[:, -1] > z[:, -1]).sum())
                count += y.numel()
        out.update({f'ce_before_{name}': ce_before / count if count else float('nan'),
                    f'ce_after_{name}': ce_after / count if count else float('nan'),
                    f'newest_up_{name}': (100 * newest_up / count if count and task > 0
                                          else float('nan'))})
    iou = conf.diag().float() / (conf.sum(0) + conf.sum(1) - conf.diag()).float()
    out['old_on_new_images'] = float(iou[:NUM_OLD + 1].nanmean() * 100) if task > 0 \
        else float('nan')
    return out


def _cached_metrics(config: str, options: List[str], wdir: str, task: int) -> dict:
    """:func:`learner_metrics`, kept in ``wdir`` next to the run's checkpoints."""
    path = osp.join(wdir, f'learner_metrics_task{task}.json')
    if osp.exists(path) and osp.getmtime(path) >= osp.getmtime(
            osp.join(wdir, f'task_{task}.pth')):
        with open(path) as f:
            return json.load(f)
    metrics = learner_metrics(config, options, wdir, task)
    with open(path + '.tmp', 'w') as f:
        json.dump(metrics, f)
    os.replace(path + '.tmp', path)
    return metrics


LEARNER_COLUMNS = {
    'old': 'old',
    'new': 'new',
    'old_on_new_images': 'old, images with a new class',
    'ce_before_val': 'CE(z), val old px',
    'ce_after_val': "CE(z'), val old px",
    'newest_up_val': 'newest class up, val old px (%)',
    'ce_before_train': 'CE(z), train old px',
    'ce_after_train': "CE(z'), train old px",
    'newest_up_train': 'newest class up, train old px (%)',
}


def run_learner(args) -> None:
    rows, notes = {}, []
    for name, (config, options) in _selected(LEARNER_RUNS, args.methods):
        per_seed = []
        for s in args.seeds:
            wdir = work_dir(args.work_root, name, s)
            res, diverged = train(config, options, wdir, s, args.threads)
            steps = step_rows(res) if res['tasks'] else []
            for t, row in enumerate(steps):
                row.update(_cached_metrics(config, options, wdir, t))
            if diverged is not None:
                notes.append(f'`{name}`, seed {s}: the loss became non-finite in step '
                             f'{diverged["step"]} (iteration {diverged["iteration"]}); the run '
                             'stopped there.')
            per_seed.append(steps + [None] * (res['num_tasks'] - len(steps)))
        rows[name] = per_seed
    print(f'\nmIoU (%) after each step and the learner on old-class pixels (classes 1-{NUM_OLD}) '
          f'of the validation and training images, mean over seeds {args.seeds} (each seed in '
          'brackets; div.: the run diverged before this step)\n')
    print('| method | step | ' + ' | '.join(LEARNER_COLUMNS.values()) + ' |')
    print('| --- ' * (len(LEARNER_COLUMNS) + 2) + '|')
    for name, runs in rows.items():
        for step in range(len(runs[0])):
            cells = [fmt([None if r[step] is None else r[step].get(k, math.nan) for r in runs],
                         3 if k.startswith('ce_') else 2) for k in LEARNER_COLUMNS]
            print(f'| {name if step == 0 else ""} | {step} | ' + ' | '.join(cells) + ' |')
    if notes:
        print('\n' + '\n'.join(f'* {n}' for n in notes))


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('experiment', choices=['table', 'learner', 'select'])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-root', default='work_dirs/ciss_shapes_experiments')
    parser.add_argument('--threads', type=int, default=1, help='OMP threads per run')
    parser.add_argument('--plot', help='table: write the per-step plot (first seed) here')
    parser.add_argument('--methods', nargs='+', help='only these rows (names as printed)')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    run_learner(args) if args.experiment == 'learner' else run_table(args)


if __name__ == '__main__':
    main()
