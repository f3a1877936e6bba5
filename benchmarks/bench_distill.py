"""Time a distillation training step against a plain student training step.

Both sides run the full ``train_step`` (data preprocessing, forward, detection loss, backward,
optimizer step) of the same YOLOv8 student on the same batch: the plain ``YOLODetector``, and
``DetectionDistiller`` with the default terms (CWD on the three neck levels, KL on the class
logits and box distributions) and a frozen teacher. The teacher is built from a temporary
config and checkpoint (``--teacher-widen`` > ``--widen`` adds 1x1 connectors). The steps run
interleaved; the script prints the median time of each and the ratio distillation / plain.
With a teacher of the student's size the teacher forward is the only sizeable extra work, so
the target is a ratio <= 1.6; a wider teacher costs its own forward on top.

Usage:
    python benchmarks/bench_distill.py [--images 8] [--imgsz 256] [--classes 6]
        [--teacher-classes 3] [--widen 0.25] [--teacher-widen 0.25] [--threads N]
        [--repeats 10] [--warmup 2] [--clock wall|cpu]
"""
import argparse
import copy
import os.path as osp
import tempfile
import time
from typing import Callable, List, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.structures import InstanceData

from cissreg.models.distillers import DEFAULT_DISTILL_LOSSES
from cissreg.registry import MODELS
from cissreg.structures.det_data_sample import DetDataSample

BASE_MODEL = osp.join(osp.dirname(__file__), '..', 'configs', '_base_', 'models', 'yolov8_n.py')


def median_ms(fns: Sequence[Callable[[], object]], repeats: int, warmup: int,
              clock: Callable[[], float]) -> List[float]:
    """Median time of each ``fn()`` in milliseconds, the functions run interleaved."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, fn_times in zip(fns, times):
            start = clock()
            fn()
            fn_times.append(clock() - start)
    return [sorted(t)[len(t) // 2] * 1e3 for t in times]


def detector_cfg(num_classes: int, widen: float) -> dict:
    """YOLOv8-n config (``configs/_base_/models/yolov8_n.py``) with another width / classes."""
    cfg = copy.deepcopy(Config.fromfile(BASE_MODEL).model.to_dict())
    cfg['bbox_head']['head_module']['num_classes'] = num_classes
    for part in (cfg['backbone'], cfg['neck'], cfg['bbox_head']['head_module']):
        part['widen_factor'] = widen
    return cfg


def make_batch(args: argparse.Namespace) -> dict:
    """``pseudo_collate``-style batch: uint8 BGR images and samples with 1-6 GT boxes."""
    gen = torch.Generator().manual_seed(args.seed)
    inputs, samples = [], []
    size = args.imgsz
    for _ in range(args.images):
        inputs.append(torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=gen))
        num = int(torch.randint(1, 7, (1, ), generator=gen))
        wh = torch.rand(num, 2, generator=gen) * size * 0.4 + 8
        xy = torch.rand(num, 2, generator=gen) * (size - wh)
        sample = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
            pad_param=np.zeros(4, np.float32)))
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, xy + wh], 1),
            labels=torch.randint(0, args.classes, (num, ), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--imgsz', type=int, default=256)
    parser.add_argument('--classes', type=int, default=6)
    parser.add_argument('--teacher-classes', type=int, default=3)
    parser.add_argument('--widen', type=float, default=0.25, help='student widen_factor')
    parser.add_argument('--teacher-widen', type=float, default=0.25)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--repeats', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                        help='wall time, or process CPU time (steadier on a shared machine)')
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == 'wall' else time.process_time
    torch.set_num_threads(args.threads)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'

    with tempfile.TemporaryDirectory() as tmp:
        teacher_cfg = detector_cfg(args.teacher_classes, args.teacher_widen)
        Config(dict(model=teacher_cfg)).dump(osp.join(tmp, 'teacher.py'))
        torch.save({'state_dict': MODELS.build(teacher_cfg).state_dict()},
                   osp.join(tmp, 'teacher.pth'))
        distill_losses = None
        if args.teacher_widen != args.widen:
            distill_losses = copy.deepcopy(DEFAULT_DISTILL_LOSSES)
            distill_losses['loss_cwd']['connector'] = dict(type='ConvConnector')
        torch.manual_seed(args.seed)
        distiller = MODELS.build(dict(
            type='DetectionDistiller', student=detector_cfg(args.classes, args.widen),
            teacher_config=osp.join(tmp, 'teacher.py'),
            teacher_ckpt=osp.join(tmp, 'teacher.pth'), distill_losses=distill_losses))
    torch.manual_seed(args.seed)
    student = MODELS.build(detector_cfg(args.classes, args.widen))
    student.load_state_dict(distiller.student.state_dict())
    models = [student.to(device).train(), distiller.to(device).train()]
    wrappers = [OptimWrapper(torch.optim.SGD(m.parameters(), lr=1e-4, momentum=0.9))
                for m in models]
    batch = make_batch(args)

    def step(i: int) -> Callable[[], dict]:
        def run() -> dict:
            log_vars = models[i].train_step(copy.copy(batch), wrappers[i])
            if device == 'cuda':
                torch.cuda.synchronize()
            return log_vars
        return run

    print(f'YOLOv8 train_step, {args.images} images of {args.imgsz} px on {device}, '
          f'{args.threads} threads; student widen {args.widen} ({args.classes} classes), '
          f'teacher widen {args.teacher_widen} ({args.teacher_classes} classes); '
          f'median {args.clock} time of {args.repeats}')
    print('  distillation terms: ' + ', '.join(t.name for t in distiller.terms))
    t_plain, t_distill = median_ms([step(0), step(1)], args.repeats, args.warmup, clock)
    print(f'  plain student step:   {t_plain:8.1f} ms')
    print(f'  distillation step:    {t_distill:8.1f} ms')
    print(f'  ratio distillation / plain: {t_distill / t_plain:.3f}x '
          '(target <= 1.6x with a teacher of the student\'s size)')


if __name__ == '__main__':
    main()
