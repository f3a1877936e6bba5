"""Train YOLOv8-n with cissreg's ultralytics recipe and with ultralytics itself, one run.

Both train on the shapes default (1000 + 200 images at 256 px, written once by
``ShapesDetDataset``; ultralytics reads the same image files through a YOLO-layout copy of the
labels), from scratch, with the same hyper-parameters (ultralytics' defaults with
``optimizer='auto'``: AdamW lr 0.001, nominal batch 64, 3 warm-up epochs, linear decay to
lrf 0.01, mosaic, close-mosaic for the last ``--close-mosaic`` epochs, EMA), epochs, image
size, batch, dataloader workers and torch threads, one after the other, each validating after
every epoch. ultralytics' trainer sets ``workers=0`` on CPU (``trainer.py``: "faster CPU
training as time dominated by inference"), so on a machine without CUDA both sides load data
in the main process; the workers each side really used are printed. cissreg runs
``configs/yolov8/yolov8_n_ultralytics-recipe_shapes.py``.

Printed per epoch: wall time since the start of each training call, CPU time (user +
system of the process and its worker processes, running or finished; the fairer clock on
a shared machine) and mAP50-95. ultralytics'
own validator and cissreg's ``DetMetric`` (equal to pycocotools) are different metric
implementations, so the ultralytics EMA checkpoint of every epoch is also converted
(``tools/model_converters/ultralytics2cissreg.py``) and evaluated with cissreg's pipeline and
``DetMetric``: that column compares like with like. Targets: cissreg reaches ultralytics'
final mAP50-95 minus 0.01 no later in wall time, and its whole run takes <= 1.0x ultralytics'.

ultralytics 8.3.40 calls ``np.trapz``, removed in numpy 2.4: this process aliases it to
``np.trapezoid``. Nothing is downloaded (model from ``yolov8n.yaml``, ``plots=False``, AMP off
on CPU).

Run-to-run noise of one 8-epoch run is several points of mAP50-95 in the middle epochs and
about 0.02 at the end, on both sides; ``--seeds 0 1 2`` runs the pair once per seed (the seed
of both trainings) and judges the targets on the per-epoch means.

Usage:
    python benchmarks/bench_recipe_parity.py [--seeds 0] [--epochs 8] [--close-mosaic 2]
        [--threads 2] [--workers 2] [--work-dir work_dirs/bench_recipe_parity] [--plot FILE.png]
        [--num-train N --num-val M]  (a smaller shapes set, for a quick check)
"""
import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import re
import shutil
import time

import numpy as np
import psutil
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.hooks import Hook
from mmengine.runner import Runner

import cissreg  # noqa: F401
from cissreg.registry import DATASETS, MODELS, RUNNERS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'yolov8', 'yolov8_n_ultralytics-recipe_shapes.py')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0],
                        help='one cissreg + ultralytics pair per seed; targets on the means')
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--close-mosaic', type=int, default=2)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--workers', type=int, default=2,
                        help='dataloader workers on GPU; on CPU both sides use 0 (ultralytics)')
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'bench_recipe_parity'))
    parser.add_argument('--plot', default=None, help='write the two curves to this PNG')
    parser.add_argument('--num-train', type=int, default=None,
                        help='smaller shapes set (own data root under --work-dir)')
    parser.add_argument('--num-val', type=int, default=None)
    parser.add_argument('--reuse', action='store_true',
                        help='keep the seeds already in WORK_DIR/curves.json (from a run with '
                             'the same other options) and train only the missing ones')
    return parser.parse_args()


def recipe_cfg(args, seed: int = 0) -> Config:
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = osp.join(args.work_dir, f'cissreg_seed{seed}')
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.train_cfg.max_epochs = args.epochs
    cfg.default_hooks.pipeline_switch.close_epochs = args.close_mosaic
    cfg.default_hooks.checkpoint.update(interval=args.epochs, save_best=None)
    cfg.default_hooks.logger.interval = 50
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.num_workers = args.workers
        loader.persistent_workers = loader.persistent_workers and args.workers > 0
        if args.num_train or args.num_val:
            loader.dataset.update(data_root=osp.join(args.work_dir, 'shapes_small'))
            loader.dataset.num_train = args.num_train or loader.dataset.num_train
            loader.dataset.num_val = args.num_val or loader.dataset.num_val
    return cfg


def write_yolo_layout(cfg: Config, root: str) -> str:
    """Labels of the shapes splits as YOLO txt next to symlinks of the same image files."""
    root = osp.abspath(root)  # ultralytics resolves a relative `path` under its datasets dir
    if osp.isdir(root):
        shutil.rmtree(root)  # links and labels of another data set must not survive
    names = None
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        dataset = DATASETS.build(dict(loader.dataset, pipeline=[], test_mode=True))
        names = dataset.metainfo['classes']
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'labels', split), exist_ok=True)
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            stem = osp.splitext(osp.basename(info['img_path']))[0]
            link = osp.join(root, 'images', split, osp.basename(info['img_path']))
            if not osp.exists(link):
                os.symlink(osp.abspath(info['img_path']), link)
            w, h = info['width'], info['height']
            lines = [f"{inst['bbox_label']} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                     f'{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}'
                     for inst in info['instances'] for x1, y1, x2, y2 in [inst['bbox']]]
            with open(osp.join(root, 'labels', split, stem + '.txt'), 'w') as f:
                f.write('\n'.join(lines) + ('\n' if lines else ''))
    yaml_path = osp.join(root, 'shapes.yaml')
    with open(yaml_path, 'w') as f:
        f.write(f'path: {root}\ntrain: images/train\nval: images/val\nnames:\n')
        f.writelines(f'  {k}: {n}\n' for k, n in enumerate(names))
    return yaml_path


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, its finished and its running children."""
    proc = psutil.Process()
    t = proc.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in proc.children(recursive=True):
        try:
            c = child.cpu_times()
            total += c.user + c.system
        except psutil.NoSuchProcess:
            pass
    return total


class _Curve(Hook):
    """Wall time since ``start`` and mAP50-95 after every validation."""
    priority = 'LOWEST'

    def __init__(self, start: float, cpu_start: float) -> None:
        self.start, self.cpu_start, self.rows = start, cpu_start, []

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.rows.append(dict(epoch=runner.epoch, wall=time.time() - self.start,
                              cpu=cpu_seconds() - self.cpu_start,
                              map=metrics['coco/bbox_mAP'], map50=metrics['coco/bbox_mAP_50']))


def train_cissreg(args, seed: int):
    torch.set_num_threads(args.threads)
    start, cpu_start = time.time(), cpu_seconds()
    runner = RUNNERS.build(recipe_cfg(args, seed))
    curve = _Curve(start, cpu_start)
    runner.register_hook(curve)
    runner.train()
    return curve.rows, time.time() - start, (torch.get_num_threads(),
                                             runner.train_dataloader.num_workers)


def train_ultralytics(args, yaml_path, seed: int):
    if not hasattr(np, 'trapz'):
        np.trapz = np.trapezoid  # ultralytics 8.3.40 on numpy >= 2.4
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS, torch_utils
    SETTINGS.update(dict(sync=False))  # no analytics / telemetry calls
    # select_device() sets cpu_count() - 1 torch threads on CPU (1 on a 2-core machine):
    # give ultralytics the same number of threads as cissreg instead.
    torch_utils.NUM_THREADS = args.threads
    threads, workers = [], []
    rows, start, cpu_start = [], time.time(), cpu_seconds()
    model = YOLO('yolov8n.yaml')

    def on_fit_epoch_end(trainer):
        if rows and rows[-1]['epoch'] == trainer.epoch + 1:
            return  # ultralytics' final validation of best.pt calls this hook once more
        threads.append(torch.get_num_threads())
        workers.append(trainer.train_loader.num_workers)
        rows.append(dict(epoch=trainer.epoch + 1, wall=time.time() - start,
                         cpu=cpu_seconds() - cpu_start,
                         map=float(trainer.metrics['metrics/mAP50-95(B)']),
                         map50=float(trainer.metrics['metrics/mAP50(B)'])))

    model.add_callback('on_fit_epoch_end', on_fit_epoch_end)
    model.train(data=yaml_path, epochs=args.epochs, imgsz=256, batch=16, workers=args.workers,
                device='cpu', optimizer='auto', close_mosaic=args.close_mosaic, seed=seed,
                deterministic=False, plots=False, amp=False, pretrained=False, save_period=1,
                project=args.work_dir, name=f'ultralytics_seed{seed}', exist_ok=True, verbose=False)
    return rows, time.time() - start, (max(threads), max(workers))


def evaluate_ultralytics_checkpoints(args, seed: int) -> list:
    """mAP50-95 of every saved ultralytics EMA with cissreg's val pipeline and DetMetric."""
    spec = importlib.util.spec_from_file_location(
        'ultralytics2cissreg', osp.join(REPO, 'tools', 'model_converters',
                                        'ultralytics2cissreg.py'))
    converter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(converter)
    cfg = recipe_cfg(args)
    loader = Runner.build_dataloader(cfg.val_dataloader)
    model = MODELS.build(cfg.model).eval()
    paths = glob.glob(osp.join(args.work_dir, f'ultralytics_seed{seed}', 'weights', 'epoch*.pt'))
    paths.sort(key=lambda p: int(re.findall(r'epoch(\d+)', p)[-1]))
    maps = []
    for path in paths:
        ckpt = torch.load(path, map_location='cpu', weights_only=False)  # our own file
        state = converter.convert(ckpt['ema'].float().state_dict())
        model.load_state_dict(state, strict=True)
        evaluator = Evaluator(cfg.val_evaluator)
        evaluator.dataset_meta = loader.dataset.metainfo
        with torch.no_grad():
            for batch in loader:
                evaluator.process(model.val_step(batch), batch)
        maps.append(evaluator.evaluate(len(loader.dataset))['coco/bbox_mAP'])
    return maps


def first_reaching(rows, target):
    return next((r['wall'] for r in rows if r['map'] >= target), None)


def plot(ours: list, ref: list, ref_same_metric: list, path: str) -> None:
    """Both mAP50-95 curves against wall time, to a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r['wall'] for r in ours], [r['map'] for r in ours], 'o-', label='cissreg')
    ax.plot([r['wall'] for r in ref], [r['map'] for r in ref], 's--',
            label='ultralytics (own validator)')
    if ref_same_metric:
        ax.plot([r['wall'] for r in ref], ref_same_metric, 's-', label='ultralytics (DetMetric)')
    ax.set_xlabel('wall time since start of training (s)')
    ax.set_ylabel('val mAP50-95')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def print_table(ours: list, ref: list, ref_same_metric: list, epochs: int) -> None:
    print('| epoch | cissreg wall s (CPU s) | cissreg mAP50-95 | ultralytics wall s (CPU s) | '
          'ultralytics mAP50-95 (own validator) | ultralytics mAP50-95 (DetMetric) |')
    print('| --- | --- | --- | --- | --- | --- |')
    for i in range(epochs):
        o, r = ours[i], ref[i]
        same = f'{ref_same_metric[i]:.3f}' if i < len(ref_same_metric) else 'n/a'
        print(f"| {i + 1} | {o['wall']:.0f} ({o['cpu']:.0f}) | {o['map']:.3f} | "
              f"{r['wall']:.0f} ({r['cpu']:.0f}) | {r['map']:.3f} | {same} |")


def mean_rows(runs: list) -> list:
    """Per-epoch mean of wall, CPU and mAP over the runs of several seeds."""
    return [{k: float(np.mean([run[i][k] for run in runs])) for k in ('wall', 'cpu', 'map')}
            for i in range(min(len(run) for run in runs))]


def main() -> None:
    args = parse_args()
    if not torch.cuda.is_available():
        args.workers = 0  # what ultralytics' trainer uses on CPU whatever it is given
    os.makedirs(args.work_dir, exist_ok=True)
    yaml_path = write_yolo_layout(recipe_cfg(args), osp.join(args.work_dir, 'yolo_layout'))
    results, curves = {}, osp.join(args.work_dir, 'curves.json')
    if args.reuse and osp.exists(curves):
        with open(curves) as f:
            results = {int(seed): run for seed, run in json.load(f).items()
                       if int(seed) in args.seeds}
        print(f'reusing seeds {sorted(results)} from {curves}')
    for seed in args.seeds:
        if seed in results:
            continue
        ours, ours_wall, ours_threads = train_cissreg(args, seed)
        ref, ref_wall, ref_threads = train_ultralytics(args, yaml_path, seed)
        ref_same = evaluate_ultralytics_checkpoints(args, seed)
        results[seed] = dict(cissreg=ours, ultralytics=ref, ultralytics_detmetric=ref_same,
                             cissreg_wall=ours_wall, ultralytics_wall=ref_wall)
        print(f'\nseed {seed}; threads, workers: cissreg {ours_threads}, ultralytics '
              f'{ref_threads}; {args.epochs} epochs, close_mosaic {args.close_mosaic}')
        print_table(ours, ref, ref_same, args.epochs)
        with open(curves, 'w') as f:
            json.dump(results, f, indent=1)

    ours = mean_rows([r['cissreg'] for r in results.values()])
    ref = mean_rows([r['ultralytics'] for r in results.values()])
    ref_same = list(np.mean([r['ultralytics_detmetric'] for r in results.values()], 0))
    if len(results) > 1:
        print(f'\nmean over seeds {args.seeds}:')
        print_table(ours, ref, ref_same, args.epochs)
    final = ref_same[-1]
    ref_rows = [dict(r, map=m) for r, m in zip(ref, ref_same)]
    t_ours, t_ref = first_reaching(ours, final - 0.01), first_reaching(ref_rows, final - 0.01)
    ours_wall = float(np.mean([r['cissreg_wall'] for r in results.values()]))
    ref_wall = float(np.mean([r['ultralytics_wall'] for r in results.values()]))
    print(f'\nultralytics final mAP50-95 (DetMetric) {final:.3f}; cissreg {ours[-1]["map"]:.3f}; '
          f'reaching {final - 0.01:.3f}: cissreg at '
          f'{t_ours if t_ours is None else round(t_ours)} s, ultralytics at '
          f'{t_ref if t_ref is None else round(t_ref)} s')
    print(f'whole run: cissreg {ours_wall:.0f} s, ultralytics {ref_wall:.0f} s, ratio '
          f'{ours_wall / ref_wall:.3f}x; CPU time cissreg {ours[-1]["cpu"]:.0f} s, ultralytics '
          f'{ref[-1]["cpu"]:.0f} s, ratio {ours[-1]["cpu"] / ref[-1]["cpu"]:.3f}x')
    if args.plot:
        plot(ours, ref, ref_same, args.plot)


if __name__ == '__main__':
    main()
