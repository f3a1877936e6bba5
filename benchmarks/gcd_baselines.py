"""The GCD baselines table on MNIST-5k: every row run for each seed, mean and each seed.

Usage:
    python benchmarks/gcd_baselines.py [--config CONFIG] [--seeds 0 1 2] [--work-dir DIR]
                                       [--plot OUT.png] [--rows ...]

Rows (all / old / new accuracy (%) on the unlabelled training images, k-means with the true
number of classes on L2-normalised features, one Hungarian matching):

* ``kmeans_pixels``: k-means on the raw (normalised) pixels;
* ``kmeans_untrained``: k-means on the randomly initialised backbone's features;
* ``gamma0``: the whole pipeline with ``pseudo_weight_max=0`` (no pseudo-label term);
* ``full``: the whole pipeline (SSDDBC pseudo labels of the core points);
* ``weighted``: the whole pipeline with ``pseudo_label_mode='weighted'``;
* ``jump``: the whole pipeline with gamma ramped over the whole run
  (``PseudoLabelWeightHook(start_epoch=None)``), so it jumps from 0 when pseudo labels
  first exist, instead of the default ramp that starts there.

Each pipeline row runs ``tools/pseudo_label_pipeline.py`` with ``randomness.seed=SEED`` in
``WORK_DIR/<row>_s<SEED>`` (an existing finished run is reused) and reads the last validation
of ``logs/vis_data/scalars.json``. Prints the markdown table, then for the rows with pseudo
labels what SSDDBC gave at each clustering epoch (clusters found, share of the unlabelled
images that get a pseudo label, accuracy of those labels under one Hungarian matching, and
the model's own k-means accuracy at that epoch); ``--plot`` draws the accuracy per epoch of
the pipeline rows (mean over the seeds) with the k-means rows as lines.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
from typing import Dict, List

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

PIPELINE_ROWS = {'gamma0': ['pseudo_weight_max=0.0'], 'full': [],
                 'weighted': ['pseudo_label_mode=weighted'],
                 'jump': ['default_hooks.pseudo_weight.start_epoch=None']}
ROWS = ('kmeans_pixels', 'kmeans_untrained', 'gamma0', 'full', 'weighted', 'jump')
NAMES = dict(kmeans_pixels='k-means on pixels',
             kmeans_untrained='k-means on untrained backbone',
             gamma0='model, gamma = 0 (no pseudo labels)',
             full='full method (SSDDBC pseudo labels)',
             weighted='weighted mode (core 1, border by density)',
             jump='full method, gamma over the whole run (jumps at the first clustering)')


def val_curve(run_dir: str) -> List[Dict]:
    """Validation rows of a run (``gcd/all``, ``gcd/old``, ``gcd/new``, ``step`` = epoch),
    a step logged twice after a resume keeping its last value."""
    rows = {}
    with open(osp.join(run_dir, 'logs', 'vis_data', 'scalars.json')) as f:
        for line in f:
            row = json.loads(line)
            if 'gcd/all' in row:
                rows[row['step']] = row
    return [rows[k] for k in sorted(rows)]


def run_pipeline(config: str, run_dir: str, seed: int, options: List[str]) -> List[Dict]:
    """Run (or reuse) one pipeline and return its validation curve."""
    state = osp.join(run_dir, 'pipeline.json')
    finished = False
    if osp.isfile(state):
        with open(state) as f:
            s = json.load(f)
        finished = len(s['done']) == len(s['stages'])
    if not finished:
        cmd = [sys.executable, osp.join(REPO, 'tools', 'pseudo_label_pipeline.py'), config]
        cmd += (['--resume-run-dir', run_dir] if osp.isfile(state) else
                ['--run-dir', run_dir, '--cfg-options', f'randomness.seed={seed}', *options])
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return val_curve(run_dir)


def kmeans_rows(config: str, seed: int) -> Dict[str, Dict[str, float]]:
    from gcd_kmeans_baseline import kmeans_baselines

    from cissreg.utils.config_loading import load_config
    cfg = load_config(config, {'randomness.seed': seed})
    out = kmeans_baselines(cfg)
    return dict(kmeans_pixels=out['raw pixels'], kmeans_untrained=out['backbone features'])


def pseudo_label_quality(config: str, run_dir: str, mode: str) -> List[Dict]:
    """Per clustering epoch of a run: clusters, coverage (%) and accuracy (%) of the pseudo
    labels the training set uses (``mode``) on the unlabelled images."""
    from cissreg.evaluation import gcd_cluster_accuracy
    from cissreg.registry import DATASETS
    from cissreg.utils import register_all_modules
    from cissreg.utils.config_loading import load_config
    register_all_modules()
    with open(osp.join(run_dir, 'pipeline.json')) as f:
        clusters = json.load(f)['clusters']
    dataset_cfg = load_config(config).train_dataloader.dataset
    out = []
    for epoch in sorted(clusters, key=int):
        path = osp.join(run_dir, 'pseudo_labels', f'epoch_{int(epoch):03d}.npz')
        data = DATASETS.build(dict(dataset_cfg, pseudo_labels=path, pseudo_label_mode=mode))
        unlabelled = ~data.labelled
        covered = unlabelled & (data.pseudo >= 0)
        acc = gcd_cluster_accuracy(data.labels[covered], data.pseudo[covered],
                                   range(data.num_old_classes))
        out.append(dict(epoch=int(epoch), clusters=clusters[epoch]['num_clusters'],
                        coverage=100 * covered.sum() / unlabelled.sum(), acc=100 * acc['all']))
    return out


def quality_markdown(quality: Dict[str, Dict[int, List[Dict]]],
                     curves: Dict[str, Dict[int, List[Dict]]], seeds: List[int]) -> str:
    lines = ['| row | clustering epoch | clusters (each seed) | unlabelled images with a '
             'pseudo label (%) | pseudo-label accuracy (%) | model k-means All at that epoch '
             '(%) |', '| --- | --- | --- | --- | --- | --- |']
    for row, per_seed in quality.items():
        for i, epoch in enumerate(r['epoch'] for r in per_seed[seeds[0]]):
            cells = [per_seed[s][i] for s in seeds]
            model = [next(r['gcd/all'] for r in curves[row][s] if r['step'] == epoch)
                     for s in seeds]
            lines.append(
                f'| {NAMES[row]} | {epoch} | {" / ".join(str(c["clusters"]) for c in cells)} | '
                f'{np.mean([c["coverage"] for c in cells]):.1f} | '
                f'{np.mean([c["acc"] for c in cells]):.1f} | {np.mean(model):.1f} |')
    return '\n'.join(lines)


def markdown(results: Dict[str, Dict[int, Dict[str, float]]], seeds: List[int]) -> str:
    lines = ['| method | All (mean) | Old (mean) | New (mean) | '
             + ' | '.join(f'seed {s} All / Old / New' for s in seeds) + ' |',
             '| --- | --- | --- | --- | ' + ' | '.join('---' for _ in seeds) + ' |']
    for row in ROWS:
        if row not in results:
            continue
        per = results[row]
        mean = {k: np.mean([per[s][k] for s in seeds]) for k in ('all', 'old', 'new')}
        spread = np.std([per[s]['all'] for s in seeds])
        lines.append(f'| {NAMES[row]} | {mean["all"]:.1f} ± {spread:.1f} | {mean["old"]:.1f} | '
                     f'{mean["new"]:.1f} | ' + ' | '.join(
                         f'{per[s]["all"]:.1f} / {per[s]["old"]:.1f} / {per[s]["new"]:.1f}'
                         for s in seeds) + ' |')
    return '\n'.join(lines)


def plot(curves: Dict[str, Dict[int, List[Dict]]], flat: Dict[str, float], out: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for row, per_seed in curves.items():
        epochs = [r['step'] for r in next(iter(per_seed.values()))]
        acc = np.mean([[r['gcd/all'] for r in c] for c in per_seed.values()], axis=0)
        ax.plot(epochs, acc, marker='o', label=NAMES[row])
    for row, value in flat.items():
        ax.axhline(value, linestyle='--', color='grey' if 'pixels' in row else 'black',
                   label=NAMES[row])
    ax.set_xlabel('epoch')
    ax.set_ylabel('All accuracy (%), mean over seeds')
    ax.set_title('GCD on MNIST-5k: unlabelled training images')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=osp.join(REPO, 'configs/gcd/gcd_convnet_mnist5k.py'))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/gcd_baselines')
    parser.add_argument('--rows', nargs='+', choices=ROWS, default=list(ROWS))
    parser.add_argument('--plot', help='accuracy-per-epoch figure to write')
    args = parser.parse_args()
    results, curves, quality = {}, {}, {}
    for seed in args.seeds:
        if {'kmeans_pixels', 'kmeans_untrained'} & set(args.rows):
            for row, acc in kmeans_rows(args.config, seed).items():
                if row in args.rows:
                    results.setdefault(row, {})[seed] = acc
        for row in (r for r in args.rows if r in PIPELINE_ROWS):
            curve = run_pipeline(args.config, osp.abspath(osp.join(args.work_dir,
                                                                   f'{row}_s{seed}')),
                                 seed, PIPELINE_ROWS[row])
            curves.setdefault(row, {})[seed] = curve
            last = curve[-1]
            results.setdefault(row, {})[seed] = {k: last[f'gcd/{k}'] for k in ('all', 'old',
                                                                               'new')}
            if row in ('full', 'weighted', 'jump'):
                quality.setdefault(row, {})[seed] = pseudo_label_quality(
                    args.config, osp.abspath(osp.join(args.work_dir, f'{row}_s{seed}')),
                    'weighted' if row == 'weighted' else 'core')
    print(markdown(results, args.seeds))
    if quality:
        print()
        print(quality_markdown(quality, curves, args.seeds))
    if args.plot:
        flat = {row: np.mean([results[row][s]['all'] for s in args.seeds])
                for row in ('kmeans_pixels', 'kmeans_untrained') if row in results}
        plot(curves, flat, args.plot)


if __name__ == '__main__':
    main()
