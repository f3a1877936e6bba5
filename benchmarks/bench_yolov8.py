"""Time a YOLOv8 train step and batch-1 inference: cissreg against ultralytics, one run.

Both sides run the same network (an ultralytics ``DetectionModel`` randomly initialised,
converted into cissreg with ``tools/model_converters/ultralytics2cissreg.py``), the same
float input, the same GT boxes and the same ``torch.set_num_threads``.

- train step: forward + loss (assigner included) + backward + SGD step, batch ``--batch``
  at ``--imgsz`` px; ultralytics uses ``v8DetectionLoss``, cissreg ``YOLODetector.loss``.
- inference: batch 1, forward + decoding + NMS (score 0.001, IoU 0.7, 300 detections,
  multi-label) in eval mode; ultralytics uses ``ops.non_max_suppression``, cissreg
  ``YOLODetector.predict``.

The two sides run interleaved (median of ``--repeats`` after ``--warmup``) so that a change of
machine load hits both alike. Prints both times and the ratio cissreg / ultralytics.

Usage:
    python benchmarks/bench_yolov8.py [--size n] [--batch 8] [--imgsz 640] [--classes 80]
        [--boxes 10] [--threads N] [--repeats 5] [--warmup 2]
"""
import argparse
import importlib.util
import os.path as osp
import statistics
import time
from types import SimpleNamespace

import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

import cissreg  # noqa: F401
from cissreg.registry import MODELS
from cissreg.structures import DetDataSample

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SIZES = dict(n=(0.33, 0.25, 1024), s=(0.33, 0.5, 1024), m=(0.67, 0.75, 768),
             l=(1.0, 1.0, 512), x=(1.0, 1.25, 512))


def load_converter():
    path = osp.join(REPO, 'tools', 'model_converters', 'ultralytics2cissreg.py')
    spec = importlib.util.spec_from_file_location('ultralytics2cissreg', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.convert


def build_cissreg(size: str, num_classes: int) -> torch.nn.Module:
    deepen, widen, last = SIZES[size]
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'models', 'yolov8_n.py'))
    model = cfg.model
    model.backbone.update(deepen_factor=deepen, widen_factor=widen,
                          last_stage_out_channels=last)
    model.neck.update(deepen_factor=deepen, widen_factor=widen,
                      in_channels=[256, 512, last], out_channels=[256, 512, last])
    model.bbox_head.head_module.update(num_classes=num_classes, widen_factor=widen,
                                       in_channels=[256, 512, last])
    return MODELS.build(model)


def make_targets(batch: int, boxes: int, imgsz: int, num_classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(batch, boxes, 2, generator=g) * imgsz * 0.7
    wh = 8 + torch.rand(batch, boxes, 2, generator=g) * imgsz * 0.3
    xyxy = torch.cat([xy, (xy + wh).clamp(max=imgsz)], -1)
    labels = torch.randint(0, num_classes, (batch, boxes), generator=g)
    return xyxy, labels


def median_times(fns, repeats: int, warmup: int):
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', default='n', choices=sorted(SIZES))
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--imgsz', type=int, default=640)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--boxes', type=int, default=10)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import ops
    from ultralytics.utils.loss import v8DetectionLoss

    ultra = DetectionModel(f'yolov8{args.size}.yaml', nc=args.classes, verbose=False)
    ultra.args = SimpleNamespace(box=7.5, cls=0.5, dfl=1.5)
    ours = build_cissreg(args.size, args.classes)
    ours.init_weights()
    ours.load_state_dict(load_converter()(ultra.state_dict()), strict=True)

    # ---- train step ----
    B, S = args.batch, args.imgsz
    images = torch.rand(B, 3, S, S)
    xyxy, labels = make_targets(B, args.boxes, S, args.classes)
    samples = []
    for i in range(B):
        sample = DetDataSample(metainfo=dict(img_shape=(S, S), ori_shape=(S, S),
                                             batch_input_shape=(S, S)))
        sample.gt_instances = InstanceData(bboxes=xyxy[i], labels=labels[i])
        samples.append(sample)
    cxcywh = torch.cat([(xyxy[..., :2] + xyxy[..., 2:]) / 2, xyxy[..., 2:] - xyxy[..., :2]],
                       -1) / S
    ultra_batch = dict(batch_idx=torch.arange(B).repeat_interleave(args.boxes).float(),
                       cls=labels.reshape(-1, 1).float(), bboxes=cxcywh.reshape(-1, 4))
    ultra.train()
    ours.train()
    ultra_loss = v8DetectionLoss(ultra)
    opt_u = torch.optim.SGD(ultra.parameters(), lr=1e-5, momentum=0.937, nesterov=True)
    opt_c = torch.optim.SGD(ours.parameters(), lr=1e-5, momentum=0.937, nesterov=True)

    def step_ultra():
        loss, _ = ultra_loss(ultra(images), ultra_batch)
        opt_u.zero_grad()
        loss.backward()
        opt_u.step()

    def step_ours():
        losses = ours.loss(images, samples)
        opt_c.zero_grad()
        sum(losses.values()).backward()
        opt_c.step()

    t_u, t_c = median_times([step_ultra, step_ours], args.repeats, args.warmup)
    print(f'train step  (YOLOv8-{args.size}, batch {B}, {S} px, {args.threads} threads): '
          f'ultralytics {t_u * 1e3:8.1f} ms | cissreg {t_c * 1e3:8.1f} ms | '
          f'ratio {t_c / t_u:.3f}x')

    # ---- batch-1 inference ----
    ultra.eval()
    ours.eval()
    image = torch.rand(1, 3, S, S)
    meta = DetDataSample(metainfo=dict(img_shape=(S, S), ori_shape=(S, S),
                                       batch_input_shape=(S, S), scale_factor=(1., 1.),
                                       pad_param=[0., 0., 0., 0.]))

    @torch.no_grad()
    def infer_ultra():
        ops.non_max_suppression(ultra(image), 0.001, 0.7, multi_label=True, max_det=300)

    @torch.no_grad()
    def infer_ours():
        ours.predict(image, [meta.clone()])

    t_u, t_c = median_times([infer_ultra, infer_ours], args.repeats * 4, args.warmup)
    print(f'inference   (YOLOv8-{args.size}, batch 1, {S} px, {args.threads} threads): '
          f'ultralytics {t_u * 1e3:8.1f} ms | cissreg {t_c * 1e3:8.1f} ms | '
          f'ratio {t_c / t_u:.3f}x')


if __name__ == '__main__':
    main()
