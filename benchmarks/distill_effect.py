"""Does distillation help the few-shot student? Paired runs over seeds on the shapes default.

Trains the base-class teacher once (``configs/distill/yolov8_n_teacher-first-half_shapes.py``,
or reuses ``--teacher-ckpt``), then for every seed every arm of the student recipe:

* ``no-kd``: ``yolov8_n_no-kd_shapes.py`` (started from the teacher, no distillation);
* ``cwd``: ``cwd_yolov8_n_shapes.py`` (CWD 0.05 on the neck);
* ``cwd-kl``: ``cwd-kl_yolov8_n_shapes.py`` (CWD 0.05, KL 0.001 / 0.001: the default weights);
* ``cwd-kl-x4``: the same with the reference author's second weights (0.2, 0.01, 0.01);
* ``cwd-kl-w1``: ``cwd-kl-w1_yolov8_n_shapes.py``, the same with unit weights (1, 1, 1): at
  the reference weights the three terms are under 1 % of the detection loss, at unit weights
  about a tenth of it (not tuned);
* ``cwd8-klcat`` (not run unless named in ``--arms``): the reference framework's terms.

At one seed every arm starts from the same student weights and sees the same batches (the
runs are paired), so the per-seed difference to ``no-kd`` carries no initialisation noise.
Each run is ``tools/train.py`` in a subprocess; the final validation of each run (200 val
images, COCO AP@[.5:.95] per class) is read from its ``scalars.json``. Results accumulate in
``WORK_DIR/results.json`` (a rerun skips the finished runs). Prints two markdown tables (mAP
per arm: mean and each seed; paired difference to ``no-kd``: mean, sample standard deviation
over seeds and each seed) and, with ``--plot``, draws the paired differences. The share of
the distillation terms in the student's loss is the mean over the run's logged iterations.

Usage:
    python benchmarks/distill_effect.py [--work-dir work_dirs/distill_effect] [--seeds 0 1 2]
        [--arms no-kd cwd cwd-kl cwd-kl-x4 cwd-kl-w1] [--teacher-ckpt PATH] [--threads 1]
        [--teacher-epochs N] [--epochs N] [--plot FILE.png] [--table-only]
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
DISTILL = osp.join(REPO, 'configs', 'distill')
TEACHER_CONFIG = osp.join(DISTILL, 'yolov8_n_teacher-first-half_shapes.py')
OLD = ('circle', 'square', 'triangle')
NEW = ('diamond', 'cross', 'ring')
SECOND_WEIGHTS = ['model.distill_losses.loss_cwd.loss.loss_weight=0.2',
                  'model.distill_losses.loss_kl_cls.loss.loss_weight=0.01',
                  'model.distill_losses.loss_kl_box.loss.loss_weight=0.01']
#: arm -> (config, extra --cfg-options, (w_cwd, w_resp) for the table)
ARMS = {
    'no-kd': ('yolov8_n_no-kd_shapes.py', [], '-'),
    'cwd': ('cwd_yolov8_n_shapes.py', [], '(0.05, -)'),
    'cwd-kl': ('cwd-kl_yolov8_n_shapes.py', [], '(0.05, 0.001)'),
    'cwd-kl-x4': ('cwd-kl_yolov8_n_shapes.py', SECOND_WEIGHTS, '(0.2, 0.01)'),
    'cwd-kl-w1': ('cwd-kl-w1_yolov8_n_shapes.py', [], '(1, 1)'),
    'cwd8-klcat': ('cwd8-klcat_yolov8_n_shapes.py', [], '(0.05, 0.001), 8 maps, one KL'),
}
DEFAULT_ARMS = ['no-kd', 'cwd', 'cwd-kl', 'cwd-kl-x4', 'cwd-kl-w1']


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/distill_effect')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--arms', nargs='+', default=DEFAULT_ARMS, choices=sorted(ARMS))
    parser.add_argument('--teacher-ckpt', help='a trained teacher (.pth or work dir); default: '
                        'train it into WORK_DIR/teacher (seed 0) unless it is there')
    parser.add_argument('--threads', type=int, default=1, help='OMP_NUM_THREADS of each run')
    parser.add_argument('--teacher-epochs', type=int,
                        help='shorter teacher schedule (a quick pilot; default: the config)')
    parser.add_argument('--epochs', type=int, help='shorter student schedule, backbone frozen '
                        'for its first quarter (a quick pilot; default: the config)')
    parser.add_argument('--plot', help='write a plot of the paired differences (png)')
    parser.add_argument('--table-only', action='store_true',
                        help='print the tables of WORK_DIR/results.json, train nothing')
    return parser.parse_args()


def train(config: str, work_dir: str, options: List[str], threads: int) -> float:
    """``tools/train.py config`` in a subprocess; returns its CPU time (user + sys, s)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', work_dir,
           '--cfg-options', *options]
    print('$ ' + ' '.join(cmd), flush=True)
    before = os.times()
    with open(osp.join(work_dir + '.log'), 'w') as log:
        subprocess.run(cmd, check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system
                                                           - before.children_system)


def final_metrics(work_dir: str) -> Dict[str, float]:
    """The last validation record of the run (``coco/...`` keys)."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not paths:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}')
    records = [json.loads(line) for line in open(paths[-1], encoding='utf-8')]
    val = [r for r in records if 'coco/bbox_mAP' in r]
    if not val:
        raise ValueError(f'{paths[-1]} holds no validation record')
    return {k: v for k, v in val[-1].items() if k.startswith('coco/')}


def class_mean(metrics: Dict[str, float], classes) -> float:
    return sum(metrics[f'coco/{c}_AP'] for c in classes) / len(classes)


def summary(metrics: Dict[str, float]) -> Dict[str, float]:
    return dict(old=class_mean(metrics, OLD), new=class_mean(metrics, NEW),
                all=class_mean(metrics, OLD + NEW))


def teacher_ckpt(args, results: dict) -> str:
    if args.teacher_ckpt:
        return args.teacher_ckpt
    work_dir = osp.join(args.work_dir, 'teacher')
    if not osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        os.makedirs(work_dir, exist_ok=True)
        options = ['randomness.seed=0']
        if args.teacher_epochs:
            options += [f'train_cfg.max_epochs={args.teacher_epochs}',
                        f'train_cfg.val_interval={args.teacher_epochs}']
        cpu = train(TEACHER_CONFIG, work_dir, options, args.threads)
        metrics = final_metrics(work_dir)
        results['teacher'] = dict(cpu_s=cpu, old=class_mean(metrics, OLD))
        save(args, results)
    return work_dir


def run_arm(args, arm: str, seed: int, teacher: str) -> dict:
    config, extra, _ = ARMS[arm]
    work_dir = osp.join(args.work_dir, f'seed{seed}', arm)
    os.makedirs(work_dir, exist_ok=True)
    init = 'model.teacher_ckpt' if arm != 'no-kd' else 'model.init_cfg.checkpoint'
    options = [f'randomness.seed={seed}', f'{init}={teacher}',
               'default_hooks.checkpoint.interval=1000'] + extra
    if args.epochs:
        options += [f'train_cfg.max_epochs={args.epochs}', f'train_cfg.val_interval={args.epochs}',
                    f'default_hooks.backbone_freeze.freeze_epochs={args.epochs // 4}']
    start = time.time()
    cpu = train(osp.join(DISTILL, config), work_dir, options, args.threads)
    return dict(summary(final_metrics(work_dir)), cpu_s=cpu, wall_s=time.time() - start)


def save(args, results: dict) -> None:
    """Merge ``results`` into ``WORK_DIR/results.json`` (another invocation running other arms
    in the same folder keeps its runs) and write it atomically."""
    path = osp.join(args.work_dir, 'results.json')
    merged = json.load(open(path, encoding='utf-8')) if osp.isfile(path) else {}
    merged.setdefault('runs', {}).update(results.get('runs', {}))
    merged.update({k: v for k, v in results.items() if k != 'runs'})
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(merged, f, indent=1)
    os.replace(path + '.tmp', path)
    results['runs'] = merged['runs']


def run_result(args, arm: str, seed: int) -> Optional[dict]:
    """The saved result of a finished run (``result.json`` in its folder), else None."""
    path = osp.join(args.work_dir, f'seed{seed}', arm, 'result.json')
    return json.load(open(path, encoding='utf-8')) if osp.isfile(path) else None


def fmt_runs(values: List[float]) -> str:
    return ', '.join(f'{v:.3f}' for v in values)


def spread(values: List[float]) -> Optional[float]:
    return statistics.stdev(values) if len(values) > 1 else None


def distill_share(work_dir: str) -> Optional[float]:
    """Mean over the logged training iterations of (distillation terms) / (total loss)."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not paths:
        return None
    shares = []
    for line in open(paths[-1], encoding='utf-8'):
        row = json.loads(line)
        if 'loss' in row:
            terms = ('loss_cwd', 'loss_kl_cls', 'loss_kl_box', 'loss_kl')
            kd = sum(v for k, v in row.items() if k in terms)
            shares.append(kd / row['loss'])
    return statistics.mean(shares) if shares else None


def tables(results: dict, arms: List[str], seeds: List[int], work_dir: str) -> str:
    runs = results.get('runs', {})
    lines = []
    if 'teacher' in results:
        t = results['teacher']
        lines += [f"Teacher (old classes only, seed 0): mAP old {t['old']:.3f}, "
                  f"{t['cpu_s'] / 60:.1f} CPU-min.", '']
    lines += ['| student | (w_cwd, w_resp) | mAP old | mAP new | mAP all | mAP all per seed '
              '| distillation share of the loss | CPU-min per run |',
              '| --- | --- | --- | --- | --- | --- | --- | --- |']
    done_seeds = {}
    for arm in arms:
        rows = [runs[f'{arm}/seed{s}'] for s in seeds if f'{arm}/seed{s}' in runs]
        done_seeds[arm] = [s for s in seeds if f'{arm}/seed{s}' in runs]
        if not rows:
            continue
        mean = {k: statistics.mean(r[k] for r in rows) for k in ('old', 'new', 'all', 'cpu_s')}
        shares = [distill_share(osp.join(work_dir, f'seed{s}', arm)) for s in done_seeds[arm]]
        share = ('-' if arm == 'no-kd' or None in shares
                 else f'{100 * statistics.mean(shares):.1f} %')
        lines.append(f"| {arm} | {ARMS[arm][2]} | {mean['old']:.3f} | {mean['new']:.3f} | "
                     f"{mean['all']:.3f} | {fmt_runs([r['all'] for r in rows])} | {share} | "
                     f"{mean['cpu_s'] / 60:.1f} |")
    lines += ['', '| vs no-kd, same seed | d mAP old | d mAP new | d mAP all | d mAP all per '
              'seed | d mAP new per seed |', '| --- | --- | --- | --- | --- | --- |']
    for arm in arms:
        if arm == 'no-kd':
            continue
        paired = [s for s in done_seeds.get(arm, []) if f'no-kd/seed{s}' in runs]
        if not paired:
            continue
        diffs = {k: [runs[f'{arm}/seed{s}'][k] - runs[f'no-kd/seed{s}'][k] for s in paired]
                 for k in ('old', 'new', 'all')}
        cells = []
        for k in ('old', 'new', 'all'):
            sd = spread(diffs[k])
            cells.append(f'{statistics.mean(diffs[k]):+.3f}'
                         + (f' ± {sd:.3f}' if sd is not None else ''))
        lines.append(f"| {arm} | {' | '.join(cells)} | "
                     f"{', '.join(f'{d:+.3f}' for d in diffs['all'])} | "
                     f"{', '.join(f'{d:+.3f}' for d in diffs['new'])} |")
    lines += ['', f'Seeds {seeds}; mean ± sample standard deviation of the paired differences '
              'over the seeds.']
    return '\n'.join(lines)


def plot(results: dict, arms: List[str], seeds: List[int], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    runs = results['runs']
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    others = [a for a in arms if a != 'no-kd']
    for ax, key in zip(axes, ('new', 'all')):
        for x, arm in enumerate(others):
            diffs = [runs[f'{arm}/seed{s}'][key] - runs[f'no-kd/seed{s}'][key] for s in seeds
                     if f'{arm}/seed{s}' in runs and f'no-kd/seed{s}' in runs]
            if diffs:
                ax.bar(x, statistics.mean(diffs), color='lightsteelblue')
                ax.plot([x] * len(diffs), diffs, 'ko', markersize=4)
        ax.axhline(0, color='grey', linewidth=0.8)
        ax.set_xticks(range(len(others)), others)
        ax.set_title(f'mAP {key} classes: arm - no-kd, same seed')
    axes[0].set_ylabel('paired difference (mAP)')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f'wrote {path}')


def main() -> None:
    args = parse_args()
    os.makedirs(args.work_dir, exist_ok=True)
    path = osp.join(args.work_dir, 'results.json')
    results = json.load(open(path, encoding='utf-8')) if osp.isfile(path) else {}
    results.setdefault('runs', {})
    for seed in args.seeds:  # runs finished by another invocation in the same folder
        for arm in args.arms:
            found = run_result(args, arm, seed)
            if found is not None:
                results['runs'].setdefault(f'{arm}/seed{seed}', found)
    if not args.table_only:
        teacher = teacher_ckpt(args, results)
        for seed in args.seeds:
            for arm in args.arms:
                key = f'{arm}/seed{seed}'
                if key in results['runs']:
                    continue
                result = run_arm(args, arm, seed, teacher)
                with open(osp.join(args.work_dir, f'seed{seed}', arm, 'result.json'), 'w',
                          encoding='utf-8') as f:
                    json.dump(result, f)
                results['runs'][key] = result
                save(args, results)
                print(key, results['runs'][key], flush=True)
    print(tables(results, args.arms, args.seeds, args.work_dir))
    if args.plot:
        plot(results, args.arms, args.seeds, args.plot)


if __name__ == '__main__':
    main()
