"""Plot gamma, the loss terms and the GCD accuracy of a pipeline run across its stages.

Usage:
    python benchmarks/plot_gcd_run.py RUN_DIR OUT.png [--label NAME RUN_DIR ...]

Reads ``RUN_DIR/logs/vis_data/scalars.json`` (continued by every stage; a step logged twice
after a resume keeps its last value) and marks the clustering epochs from ``pipeline.json``.
"""
import argparse
import json
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402


def read_scalars(run_dir: str):
    train, val = {}, {}
    with open(osp.join(run_dir, 'logs', 'vis_data', 'scalars.json')) as f:
        for line in f:
            row = json.loads(line)
            if 'gcd/all' in row:
                val[row['step']] = row
            elif 'l_con' in row:
                train[row['step']] = row
    return [train[k] for k in sorted(train)], [val[k] for k in sorted(val)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run_dir')
    parser.add_argument('out')
    parser.add_argument('--compare', nargs=2, metavar=('NAME', 'RUN_DIR'), action='append',
                        default=[], help='another run whose accuracy is drawn dashed')
    args = parser.parse_args()
    train, val = read_scalars(args.run_dir)
    with open(osp.join(args.run_dir, 'pipeline.json')) as f:
        cluster_epochs = sorted(int(e) for e in json.load(f).get('clusters', {}))
    iters_per_epoch = max(r['iter'] for r in train) / max(r['epoch'] for r in train)
    x = [r['iter'] / iters_per_epoch for r in train]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    axes[0].plot(x, [r['gamma'] for r in train], label='gamma')
    axes[0].set_title('pseudo-label weight gamma')
    for key in ('l_con', 'l_sup', 'l_pseudo'):
        axes[1].plot(x, [r[key] for r in train], label=key)
    axes[1].set_title('unweighted loss terms')
    for key in ('all', 'old', 'new'):
        axes[2].plot([r['step'] for r in val], [r[f'gcd/{key}'] for r in val], marker='o',
                     label=key)
    for name, run in args.compare:
        _, other = read_scalars(run)
        axes[2].plot([r['step'] for r in other], [r['gcd/all'] for r in other], '--',
                     marker='x', label=f'all ({name})')
    axes[2].set_title('GCD accuracy (%) on the unlabelled images')
    for ax in axes:
        for epoch in cluster_epochs:
            ax.axvline(epoch, color='grey', linestyle=':')
        ax.set_xlabel('epoch (dotted: SSDDBC clustering)')
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
