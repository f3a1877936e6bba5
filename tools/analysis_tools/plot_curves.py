"""Plot loss and metric curves of a training work dir to PNG files.

Reads mmengine's scalar logs ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON object
per line: training lines carry ``iter`` / ``epoch``, validation lines only ``step``) or, when
there are none, mmcv-style ``*.log.json`` files (lines with ``mode: train|val``). Several
timestamps (an interrupted run and its resumptions) are concatenated in time order; where they
overlap, the later run's points replace the earlier ones.

Writes ``overview.png`` (the run at a glance: training loss vs iteration next to validation
mAP50-95 and mAP50 vs epoch), ``train_curves.png`` (training keys vs iteration: ``loss``
first, then ``loss_*``) and ``val_curves.png`` (metric keys vs epoch, or vs iteration for an
iteration-based run: mAP50-95 and mAP50 first), one subplot per key. Metrics that are n/a
(``-1``, e.g. ``coco/bbox_mAP_l`` when no large object exists) are not drawn: such points are
dropped and a key with only n/a values is skipped.

Example::

    python tools/analysis_tools/plot_curves.py work_dirs/yolov8_n_shapes
    python tools/analysis_tools/plot_curves.py work_dirs/yolov8_n_shapes \
        --keys loss_cls coco/bbox_mAP --out curves/
"""
import argparse
import glob
import json
import math
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# Keys that place a record (x axis), never plotted.
POSITION_KEYS = frozenset(('step', 'epoch', 'iter', 'mode'))
# Keys of validation lines that are bookkeeping, not metrics (plotted only when asked for).
BOOKKEEPING_KEYS = frozenset(('lr', 'time', 'data_time', 'memory', 'eta'))
# Metrics drawn first (and on the overview page), in this order, when present.
HEADLINE_METRICS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'voc/mAP50', 'accuracy')
NOT_AVAILABLE = -1.0

Series = Dict[str, List[Tuple[float, float]]]


def find_log_files(work_dir: str) -> List[str]:
    """Log files of ``work_dir`` in time order.

    Args:
        work_dir (str): A work dir, one run's ``<timestamp>`` dir, or a log file.

    Returns:
        list[str]: ``scalars.json`` files sorted by timestamp folder name, else ``*.log.json``
        files sorted by name.

    Raises:
        FileNotFoundError: No log file found.
    """
    if osp.isfile(work_dir):
        return [work_dir]
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    files += glob.glob(osp.join(work_dir, 'vis_data', 'scalars.json'))
    if not files:
        files = sorted(glob.glob(osp.join(work_dir, '**', '*.log.json'), recursive=True))
    if not files:
        raise FileNotFoundError(
            f'no <timestamp>/vis_data/scalars.json or *.log.json under {work_dir}')
    return files


def _add(series: Series, record: dict, x: float) -> None:
    for key, value in record.items():
        if key in POSITION_KEYS or isinstance(value, bool) or \
                not isinstance(value, (int, float)):
            continue
        series.setdefault(key, []).append((x, float(value)))


def read_log(path: str) -> Tuple[Series, Series, bool]:
    """Read one log file into training and validation series.

    Args:
        path (str): A ``scalars.json`` or mmcv-style ``*.log.json`` file.

    Returns:
        tuple: ``(train, val, by_epoch)``: ``train`` maps each key to ``(iteration, value)``
        points, ``val`` maps each key to ``(step, value)`` points (step = epoch for an
        epoch-based run), ``by_epoch`` tells whether the training lines carried epochs.
    """
    train: Series = {}
    val: Series = {}
    by_epoch = False
    iters_done = 0  # mmcv logs count iterations within the epoch
    epoch_iters: Dict[int, int] = {}
    with open(path) as f:
        for line_no, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}:{line_no} is not a JSON line: {err}') from err
            mode = record.get('mode')
            if mode is None and 'step' not in record:
                continue  # mmcv's env_info / config line
            if mode == 'train':
                by_epoch = True
                epoch, it = int(record['epoch']), int(record['iter'])
                epoch_iters[epoch] = max(epoch_iters.get(epoch, 0), it)
                iters_done = sum(n for e, n in epoch_iters.items() if e < epoch)
                _add(train, record, iters_done + it)
            elif mode == 'val':
                _add(val, record, int(record['epoch']))
            elif mode is None and 'iter' in record:
                by_epoch = by_epoch or 'epoch' in record
                _add(train, record, int(record['iter']))
            elif mode is None:
                _add(val, record, int(record['step']))
    return train, val, by_epoch


def concat_runs(runs: Sequence[Series]) -> Series:
    """Concatenate the series of runs in time order, later runs replacing overlapping points.

    A run that starts at x0 (its smallest x over all keys) drops the earlier runs' points at
    x >= x0: those came after the checkpoint it resumed from.

    Args:
        runs (Sequence[Series]): Series of each run, oldest first.

    Returns:
        Series: Concatenated series, points sorted by x.
    """
    merged: Series = {}
    for run in runs:
        starts = [pts[0][0] for pts in run.values() if pts]
        if not starts:
            continue
        start = min(starts)
        merged = {k: [p for p in pts if p[0] < start] for k, pts in merged.items()}
        for key, pts in run.items():
            merged.setdefault(key, []).extend(pts)
    return {k: sorted(pts) for k, pts in merged.items() if pts}


def drop_not_available(series: Series) -> Series:
    """Drop n/a (``-1``) points; keys left without points are removed."""
    kept = {k: [p for p in pts if p[1] != NOT_AVAILABLE] for k, pts in series.items()}
    return {k: pts for k, pts in kept.items() if pts}


def headline_first(keys: Sequence[str], first: Sequence[str]) -> List[str]:
    """``keys`` with the ones in ``first`` leading in that order, the rest sorted."""
    lead = [k for k in first if k in keys]
    return lead + sorted(k for k in keys if k not in lead)


def plot_overview(train: Series, val: Series, loss_key: Optional[str], metric_keys: List[str],
                  xlabel: str, title: str, out_file: str) -> None:
    """One page: training loss (left) and validation headline metrics (right)."""
    panels = [p for p in (loss_key, metric_keys) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), squeeze=False)
    axes = list(axes.flat)
    if loss_key:
        ax = axes.pop(0)
        xs, ys = zip(*train[loss_key])
        ax.plot(xs, ys)
        ax.set(title=f'train {loss_key}', xlabel='iter')
        ax.grid(alpha=0.3)
    if metric_keys:
        ax = axes.pop(0)
        for key in metric_keys:
            xs, ys = zip(*val[key])
            ax.plot(xs, ys, marker='o' if len(xs) < 30 else None, markersize=3, label=key)
        ax.set(title='validation', xlabel=xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def plot_series(series: Series, keys: Sequence[str], xlabel: str, title: str,
                out_file: str) -> None:
    """Plot each key in its own subplot and save the figure as PNG.

    Args:
        series (Series): ``key -> [(x, y), ...]``.
        keys (Sequence[str]): Keys to plot, in order.
        xlabel (str): Label of the x axis.
        title (str): Figure title.
        out_file (str): PNG path.
    """
    ncols = min(3, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5 * ncols, 3.5 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        xs, ys = zip(*series[key])
        ax.plot(xs, ys, marker='o' if len(xs) < 30 else None, markersize=3)
        ax.set_title(key)
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (3.5 * nrows)))  # room for the title
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Plot loss / metric curves to PNG files')
    parser.add_argument('work_dir', help='work dir, a <timestamp> dir, or a log file')
    parser.add_argument(
        '--keys',
        nargs='+',
        help='keys to plot (default: every loss* key of training and every validation metric)')
    parser.add_argument('--out', help='output folder (default: <work_dir>/curves)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    """Run the tool; returns the PNG files written."""
    args = parse_args(argv)
    files = find_log_files(args.work_dir)
    logs = [read_log(f) for f in files]
    train = drop_not_available(concat_runs([log[0] for log in logs]))
    val = drop_not_available(concat_runs([log[1] for log in logs]))
    by_epoch = any(log[2] for log in logs)

    if args.keys:
        unknown = [k for k in args.keys if k not in train and k not in val]
        if unknown:
            raise KeyError(f'keys {unknown} are not in the logs {files}; available: training '
                           f'{sorted(train)}, validation {sorted(val)}')
        train_keys = [k for k in args.keys if k in train]
        val_keys = [k for k in args.keys if k not in train]
    else:
        train_keys = headline_first([k for k in train if k.startswith('loss')], ['loss'])
        val_keys = headline_first([k for k in val if k not in BOOKKEEPING_KEYS],
                                  HEADLINE_METRICS)

    out_dir = args.out or osp.join(
        args.work_dir if osp.isdir(args.work_dir) else osp.dirname(args.work_dir), 'curves')
    os.makedirs(out_dir, exist_ok=True)
    written = []
    val_xlabel = 'epoch' if by_epoch else 'iter'
    loss_key = 'loss' if 'loss' in train_keys else (train_keys[0] if train_keys else None)
    headline = [k for k in HEADLINE_METRICS if k in val_keys][:2]
    if not args.keys and (loss_key or headline):
        out_file = osp.join(out_dir, 'overview.png')
        plot_overview(train, val, loss_key, headline, val_xlabel, str(args.work_dir), out_file)
        written.append(out_file)
    for keys, series, xlabel, name in (
            (train_keys, train, 'iter', 'train_curves.png'),
            (val_keys, val, val_xlabel, 'val_curves.png')):
        if keys:
            out_file = osp.join(out_dir, name)
            plot_series(series, keys, xlabel, f'{name[:-4]} ({args.work_dir})', out_file)
            written.append(out_file)
    if not written:
        raise ValueError(f'nothing to plot in {files}: no loss* key and no validation metric')
    for out_file in written:
        print(out_file)
    return written


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, KeyError, ValueError) as err:
        sys.exit(f'plot_curves: {err.args[0] if err.args else err}')
