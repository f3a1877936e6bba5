"""Plot the per-task metrics of incremental runs side by side.

Reads ``<work_dir>/incremental_results.json`` (written by ``IncrementalLoop`` after every task)
of each run and draws one subplot per metric key, the task on the x axis and one line per run,
so a method can be read against its baselines. NaN values (e.g. the new-class mIoU of task 0)
are not drawn; a run with a single task (joint training) is drawn as one marker at the last
task of the longest run, labelled as such.

Example::

    python tools/analysis_tools/plot_incremental_results.py \
        work_dirs/finetune_r18_shapes_4-1 work_dirs/dkd_r18_shapes_4-1 \
        work_dirs/joint_r18_shapes --keys ciss/mIoU_old ciss/mIoU_new ciss/mIoU_all \
        --out ciss_shapes_4-1.png
"""
import argparse
import json
import math
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def load_results(work_dir: str) -> Dict[str, List[float]]:
    """``{metric key: [value per task]}`` of one run.

    Raises:
        SystemExit: The work dir has no readable ``incremental_results.json``.
    """
    path = osp.join(work_dir, 'incremental_results.json')
    try:
        with open(path) as f:
            tasks = sorted(json.load(f)['tasks'], key=lambda t: t['task'])
    except (OSError, ValueError, KeyError) as err:
        raise SystemExit(f'{path}: cannot read the per-task results ({err})')
    keys = sorted({k for t in tasks for k in t['metrics']})
    return {k: [t['metrics'].get(k, math.nan) for t in tasks] for k in keys}


def plot(runs: Dict[str, Dict[str, List[float]]], keys: Sequence[str], out: str) -> None:
    """One subplot per key, one line per run (label = run name)."""
    last = max(len(v) for r in runs.values() for v in r.values()) - 1
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for name, results in runs.items():
            values = results.get(key)
            if values is None:
                continue
            if len(values) == 1:
                ax.plot([last], values, marker='*', markersize=11, linestyle='none',
                        label=f'{name} (one task)')
            else:
                ax.plot(range(len(values)), values, marker='o', label=name)
        ax.set_title(key)
        ax.set_xlabel('task')
        ax.set_xticks(range(last + 1))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('work_dirs', nargs='+', help='work dirs of the runs')
    parser.add_argument('--names', nargs='+', help='legend names (default: folder names)')
    parser.add_argument('--keys', nargs='+', help='metric keys (default: all of the first run)')
    parser.add_argument('--out', default='incremental_results.png', help='PNG file')
    args = parser.parse_args(argv)
    names = args.names or [osp.basename(osp.normpath(w)) for w in args.work_dirs]
    if len(names) != len(args.work_dirs):
        parser.error(f'--names gives {len(names)} names for {len(args.work_dirs)} work dirs')
    runs = {n: load_results(w) for n, w in zip(names, args.work_dirs)}
    keys = args.keys or sorted(next(iter(runs.values())))
    missing = [k for k in keys if not any(k in r for r in runs.values())]
    if missing:
        parser.error(f'no run has the keys {missing}; keys of the first run: '
                     f'{sorted(next(iter(runs.values())))}')
    plot(runs, keys, args.out)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
