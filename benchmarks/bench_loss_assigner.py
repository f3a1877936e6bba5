"""Time cissreg's YOLOv8 loss (task-aligned assigner included) against ultralytics.

Both sides get the same raw per-level head outputs of a YOLOv8-n at ``--imgsz`` (levels of
strides 8 / 16 / 32, ``4 * 16 + --classes`` channels) and the same ``--images`` x ``--boxes``
GT boxes (log-uniform sizes 8-300 px). ultralytics is timed on ``v8DetectionLoss.__call__``
(target packing, anchors, decoding, assigner, the three terms), cissreg on
``YOLOv8Head.loss_by_feat``. The script checks that the loss items agree, then prints the
median time of each (after warm-up) and the ratio cissreg / ultralytics; ``--backward`` times
forward + backward instead. A second block times the two assigners alone on identical inputs.
Both sides run interleaved; ``--clock cpu`` reports process CPU time instead of wall time.

Usage:
    python benchmarks/bench_loss_assigner.py [--images 8] [--boxes 50] [--classes 80]
        [--imgsz 640] [--threads N] [--repeats 20] [--warmup 3] [--backward]
        [--clock wall|cpu]
"""
import argparse
import time
from types import SimpleNamespace
from typing import Callable, List, Sequence

import torch
from mmengine.structures import InstanceData

from cissreg.models.heads import YOLOv8Head


def median_ms(fns: Sequence[Callable[[], object]], repeats: int, warmup: int,
              clock: Callable[[], float]) -> List[float]:
    """Median time of each ``fn()`` in milliseconds; the functions run interleaved, so a
    change of machine load affects both sides alike."""
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


def make_inputs(args: argparse.Namespace):
    """Per-level raw outputs [B, 64 + C, H, W] and an ultralytics batch dict."""
    gen = torch.Generator().manual_seed(args.seed)
    sizes = [args.imgsz // s for s in (8, 16, 32)]
    feats = [torch.randn(args.images, 64 + args.classes, s, s, generator=gen) for s in sizes]
    num = args.images * args.boxes
    wh = torch.exp(torch.empty(num, 2).uniform_(8 ** 0.5, 300 ** 0.5, generator=gen).log() * 2)
    xy = torch.rand(num, 2, generator=gen) * (args.imgsz - wh) + wh / 2
    batch = dict(batch_idx=torch.arange(args.images).repeat_interleave(args.boxes).float(),
                 cls=torch.randint(0, args.classes, (num, ), generator=gen).float(),
                 bboxes=torch.cat([xy, wh], 1) / args.imgsz)
    return feats, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--boxes', type=int, default=50)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--imgsz', type=int, default=640)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--backward', action='store_true', help='time forward + backward')
    parser.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                        help='wall time, or process CPU time (steadier on a shared machine)')
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == 'wall' else time.process_time

    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils.loss import v8DetectionLoss
    from ultralytics.utils.ops import xywh2xyxy
    from ultralytics.utils.tal import TaskAlignedAssigner as UltralyticsAssigner

    torch.set_num_threads(args.threads)
    model = DetectionModel('yolov8n.yaml', nc=args.classes, verbose=False)
    model.args = SimpleNamespace(box=7.5, cls=0.5, dfl=1.5)
    criterion = v8DetectionLoss(model)
    head = YOLOv8Head(head_module=dict(type='YOLOv8HeadModule', num_classes=args.classes,
                                       in_channels=[256, 512, 1024], widen_factor=0.25))

    feats, batch = make_inputs(args)
    pixels = xywh2xyxy(batch['bboxes'] * args.imgsz)
    img_idx = batch['batch_idx'].long()
    gts = [InstanceData(bboxes=pixels[img_idx == i], labels=batch['cls'][img_idx == i].long())
           for i in range(args.images)]
    metas = [dict(batch_input_shape=(args.imgsz, args.imgsz))] * args.images

    def leaves() -> List[torch.Tensor]:
        return [f.detach().requires_grad_(args.backward) for f in feats]

    def run_ultralytics() -> torch.Tensor:
        inputs = leaves()
        loss, items = criterion(inputs, batch)
        if args.backward:
            loss.backward()
        return items

    def run_cissreg() -> torch.Tensor:
        inputs = leaves()
        losses = head.loss_by_feat([f[:, 64:] for f in inputs], [f[:, :64] for f in inputs],
                                   gts, metas)
        if args.backward:
            sum(losses.values()).backward()
        return torch.stack([losses['loss_bbox'], losses['loss_cls'],
                            losses['loss_dfl']]).detach() / args.images

    ref, ours = run_ultralytics(), run_cissreg()
    if not torch.allclose(ref, ours, rtol=1e-4, atol=1e-6):
        raise SystemExit(f'loss items differ: ultralytics {ref.tolist()} cissreg {ours.tolist()}')

    what = 'forward + backward' if args.backward else 'forward'
    print(f'YOLOv8-n loss ({what}), {args.images} images x {args.boxes} boxes, '
          f'{args.classes} classes, {args.imgsz} px, {args.threads} threads, '
          f'median {args.clock} time of {args.repeats}')
    print(f'  loss items (box, cls, dfl): {[round(v, 5) for v in ours.tolist()]} (equal)')
    t_ref, t_ours = median_ms([run_ultralytics, run_cissreg], args.repeats, args.warmup, clock)
    print(f'  ultralytics v8DetectionLoss: {t_ref:8.2f} ms')
    print(f'  cissreg YOLOv8Head.loss_by_feat: {t_ours:8.2f} ms')
    print(f'  ratio cissreg / ultralytics: {t_ours / t_ref:.3f}x')

    # the assigners alone, on the inputs v8DetectionLoss gives its assigner
    flat_cls, flat_dist, (grid, strides, points) = head._flatten(
        [f[:, 64:] for f in feats], [f[:, :64] for f in feats])
    scores = flat_cls.sigmoid()
    bboxes = head.decode_bboxes(flat_dist, grid) * strides
    labels, gt_bboxes, mask = head._pad_gts(gts, scores.device)
    assigner_args = (scores, bboxes, points, labels.float(), gt_bboxes, mask.float())
    theirs = UltralyticsAssigner(topk=10, num_classes=args.classes, alpha=0.5, beta=6.0)
    t_ref, t_ours = median_ms([lambda: theirs(*assigner_args),
                               lambda: head.assigner(*assigner_args)],
                              args.repeats, args.warmup, clock)
    print('Task-aligned assigner alone')
    print(f'  ultralytics: {t_ref:8.2f} ms')
    print(f'  cissreg:     {t_ours:8.2f} ms')
    print(f'  ratio cissreg / ultralytics: {t_ours / t_ref:.3f}x')


if __name__ == '__main__':
    main()
