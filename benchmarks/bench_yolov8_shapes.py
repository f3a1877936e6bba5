"""README command 1 once per random seed: the per-epoch validation table, mean and each seed.

For every seed, one after the other, runs exactly the README's training command with the
run's random seed set::

    python tools/train.py configs/yolov8/yolov8_n_shapes.py --work-dir WORK_DIR/seed{S} \\
        --cfg-options randomness.seed=S [extra --cfg-options]

(default torch threads and dataloader workers, as the README runs it), measures its wall time
and CPU time (user + system of the training process and its dataloader workers), reads the
validation metrics the run logged (``vis_data/scalars.json``: ``DetMetric`` on the EMA weights)
and prints one markdown table: per validated epoch, the mean over the seeds and each seed's
value in brackets. The shapes images themselves are the same for every seed (their generator
has its own fixed seed, ``shapes_cfg['seed']``).

Usage:
    python benchmarks/bench_yolov8_shapes.py [--seeds 0 1 2] [--reuse]
        [--work-dir work_dirs/bench_yolov8_shapes] [--cfg-options KEY=VALUE ...]

``--reuse`` keeps the finished seeds of an earlier call (their metrics and times are read back
from the work dir) and trains only the missing ones.
"""
import argparse
import glob
import json
import os.path as osp
import resource
import subprocess
import sys
import time
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/yolov8/yolov8_n_shapes.py'
#: (column title, logged key)
METRICS = (('mAP50', 'coco/bbox_mAP_50'), ('mAP@[.5:.95]', 'coco/bbox_mAP'),
           ('mAP75', 'coco/bbox_mAP_75'), ('VOC mAP50', 'voc/mAP50'))
TIMES_FILE = 'bench_times.json'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'bench_yolov8_shapes'))
    parser.add_argument('--reuse', action='store_true',
                        help='keep the finished seeds of an earlier call in --work-dir')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides for every run (e.g. a quick check)')
    return parser.parse_args()


def read_val_metrics(work_dir: str) -> Dict[int, Dict[str, float]]:
    """``{epoch: {key: value}}`` of the validation lines of the newest run in ``work_dir``.

    Raises:
        FileNotFoundError: no ``*/vis_data/scalars.json`` under ``work_dir``.
        ValueError: the file holds no validation line.
    """
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}: did the run start?')
    metrics = {}
    with open(files[-1]) as f:
        for line in f:
            row = json.loads(line)
            if METRICS[0][1] in row:
                metrics[int(row['step'])] = {key: float(row[key]) for _, key in METRICS}
    if not metrics:
        raise ValueError(f'{files[-1]} holds no validation metrics ({METRICS[0][1]})')
    return metrics


def train(seed: int, work_dir: str, cfg_options: List[str]) -> Dict[str, float]:
    """Run the README command for ``seed``; return its wall and CPU seconds."""
    cmd = [sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir,
           '--cfg-options', f'randomness.seed={seed}', *cfg_options]
    print('$', ' '.join(cmd), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    times = dict(wall_s=wall, cpu_s=cpu)
    with open(osp.join(work_dir, TIMES_FILE), 'w') as f:
        json.dump(times, f)
    return times


def cell(values: List[float], digits: int = 3) -> str:
    """``'mean (v0 / v1 / ...)'``; a single value alone."""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} (' + ' / '.join(f'{v:.{digits}f}' for v in values) + ')'


def markdown_table(seeds: List[int], metrics: Dict[int, Dict[int, Dict[str, float]]],
                   times: Dict[int, Dict[str, float]]) -> str:
    """The per-epoch table (epochs every seed validated) and the time line."""
    epochs = sorted(set.intersection(*(set(metrics[s]) for s in seeds)))
    lines = ['| epoch | ' + ' | '.join(title for title, _ in METRICS) + ' |',
             '| --- |' + ' --- |' * len(METRICS)]
    for epoch in epochs:
        lines.append(f'| {epoch} | ' + ' | '.join(
            cell([metrics[s][epoch][key] for s in seeds]) for _, key in METRICS) + ' |')
    seed_names = ' / '.join(str(s) for s in seeds)
    lines.append('')
    lines.append(f'Seeds {seed_names}. Wall time per run (training + validations): '
                 + cell([times[s]['wall_s'] / 60 for s in seeds], 1) + ' min; CPU time: '
                 + cell([times[s]['cpu_s'] / 60 for s in seeds], 1) + ' min.')
    return '\n'.join(lines)


def main() -> None:
    args = parse_args()
    metrics, times = {}, {}
    for seed in args.seeds:
        work_dir = osp.join(args.work_dir, f'seed{seed}')
        times_file = osp.join(work_dir, TIMES_FILE)
        if args.reuse and osp.exists(times_file):
            with open(times_file) as f:
                times[seed] = json.load(f)
            print(f'seed {seed}: reusing {work_dir}')
        else:
            times[seed] = train(seed, work_dir, args.cfg_options)
        metrics[seed] = read_val_metrics(work_dir)
    print()
    print(markdown_table(args.seeds, metrics, times))


if __name__ == '__main__':
    main()
