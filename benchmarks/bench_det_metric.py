"""Time cissreg's COCO bbox evaluation against pycocotools on the same detections.

Both sides get the same synthetic data (``--images`` images with up to ``--max-gts`` GT boxes
over ``--classes`` classes, ``--dets`` detections per image: jittered copies of GT boxes with
a few wrong labels, plus random boxes; 5% crowd GTs; box sizes spanning small / medium /
large). pycocotools is timed from the json-like dicts to the 12 stats (``COCO`` index
creation, ``loadRes``, ``evaluate``, ``accumulate``, ``summarize``; its stdout is
suppressed); cissreg from per-image arrays to the same 12 stats (``coco_bbox_eval``, the COCO
part of ``DetMetric.compute_metrics``). The script checks that the stats are equal and prints
both times and the speed-up, plus the time of the whole ``DetMetric.compute_metrics`` (COCO +
VOC mAP50 + per-class table) on the same data for reference.

Usage:
    python benchmarks/bench_det_metric.py [--images 500] [--dets 100] [--classes 20]
"""
import argparse
import contextlib
import io
import time
from typing import List, Tuple

import numpy as np

from cissreg.evaluation import DetMetric
from cissreg.evaluation.functional import COCO_STAT_NAMES, coco_bbox_eval

ImageData = Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def make_data(num_images: int, num_dets: int, num_classes: int, max_gts: int,
              seed: int) -> List[ImageData]:
    """Per image: (gt_xyxy, gt_labels, gt_crowd, det_xyxy, det_scores, det_labels)."""
    rng = np.random.default_rng(seed)
    data = []
    for _ in range(num_images):
        n = int(rng.integers(1, max_gts + 1))
        wh = np.exp(rng.uniform(np.log(8), np.log(300), (n, 2)))
        xy = rng.uniform(0, 640 - wh)
        gt = np.concatenate([xy, xy + wh], axis=1)
        gt_labels = rng.integers(0, num_classes, n)
        crowd = rng.random(n) < 0.05
        n_near = num_dets * 3 // 5
        src = rng.integers(0, n, n_near)
        size = np.tile(wh[src], 2)
        near = gt[src] + rng.normal(0, 0.12, (n_near, 4)) * size
        near[:, 2:] = np.maximum(near[:, 2:], near[:, :2] + 1)
        near_labels = np.where(rng.random(n_near) < 0.85, gt_labels[src],
                               rng.integers(0, num_classes, n_near))
        n_rand = num_dets - n_near
        rwh = np.exp(rng.uniform(np.log(8), np.log(300), (n_rand, 2)))
        rxy = rng.uniform(0, 640 - rwh)
        dets = np.concatenate([near, np.concatenate([rxy, rxy + rwh], axis=1)])
        labels = np.concatenate([near_labels, rng.integers(0, num_classes, n_rand)])
        scores = np.concatenate([rng.uniform(0.3, 1.0, n_near), rng.uniform(0.0, 0.6, n_rand)])
        data.append((gt, gt_labels, crowd, dets, scores, labels))
    return data


def run_pycocotools(data: List[ImageData], num_classes: int) -> np.ndarray:
    """COCO json dicts -> ``COCOeval`` stats (index creation included)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    images, anns, results = [], [], []
    for img_id, (gt, gt_labels, crowd, dets, scores, labels) in enumerate(data, start=1):
        images.append(dict(id=img_id, width=640, height=640))
        for box, label, c in zip(gt.tolist(), gt_labels.tolist(), crowd.tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append(dict(id=len(anns) + 1, image_id=img_id, category_id=label + 1,
                             bbox=[box[0], box[1], w, h], area=w * h, iscrowd=int(c)))
        for box, score, label in zip(dets.tolist(), scores.tolist(), labels.tolist()):
            results.append(dict(image_id=img_id, category_id=label + 1, score=score,
                                bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]]))
    categories = [dict(id=k + 1, name=f'class{k}') for k in range(num_classes)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dict(images=images, annotations=anns, categories=categories)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        coco_eval = COCOeval(coco_gt, coco_dt, 'bbox')
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return np.asarray(coco_eval.stats)


def run_cissreg(data: List[ImageData], num_classes: int) -> np.ndarray:
    """Per-image arrays -> ``coco_bbox_eval`` stats."""
    gt, gt_labels, crowd, dets, scores, labels = zip(*data)
    return coco_bbox_eval(gt, gt_labels, dets, scores, labels, num_classes,
                          gt_ignore_flags=crowd).stats


def det_metric_results(data: List[ImageData]) -> List[dict]:
    """The per-image dicts that ``DetMetric.process`` stores."""
    return [
        dict(img_id=i, gt_bboxes=gt, gt_labels=gt_labels, gt_ignore_flags=crowd,
             det_bboxes=dets, det_scores=scores, det_labels=labels)
        for i, (gt, gt_labels, crowd, dets, scores, labels) in enumerate(data)
    ]


def best_time(fn, repeat: int) -> Tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeat):
        tic = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - tic)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=500)
    parser.add_argument('--dets', type=int, default=100, help='detections per image')
    parser.add_argument('--classes', type=int, default=20)
    parser.add_argument('--max-gts', type=int, default=15, help='max GT boxes per image')
    parser.add_argument('--repeat', type=int, default=3, help='best of N runs per side')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    data = make_data(args.images, args.dets, args.classes, args.max_gts, args.seed)
    t_ours, ours = best_time(lambda: run_cissreg(data, args.classes), args.repeat)
    t_ref, ref = best_time(lambda: run_pycocotools(data, args.classes), args.repeat)
    metric = DetMetric()
    metric.dataset_meta = dict(classes=tuple(f'class{k}' for k in range(args.classes)))
    results = det_metric_results(data)
    t_metric, _ = best_time(lambda: metric.compute_metrics(results), args.repeat)
    diff = float(np.abs(ours - ref).max())
    print(f'{args.images} images x {args.dets} detections, {args.classes} classes '
          f'(best of {args.repeat})')
    for name, a, b in zip(COCO_STAT_NAMES, ours, ref):
        print(f'  {name:<6} cissreg {a: .6f}  pycocotools {b: .6f}')
    print(f'max |stats difference| = {diff:.3g} ({"equal" if diff < 1e-9 else "DIFFERENT"})')
    print(f'pycocotools: {t_ref:.3f} s   cissreg: {t_ours:.3f} s   '
          f'speed-up: {t_ref / t_ours:.1f}x')
    print(f'DetMetric.compute_metrics (COCO + VOC mAP50 + table): {t_metric:.3f} s')
    if diff >= 1e-9:
        raise SystemExit('stats differ from pycocotools')


if __name__ == '__main__':
    main()
