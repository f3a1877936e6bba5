"""DetMetric and the functional COCO / VOC evaluation against pycocotools and a naive VOC."""
import contextlib
import io
import random
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData

from cissreg.evaluation import DetMetric, coco_bbox_eval, voc_map
from cissreg.registry import METRICS
from cissreg.structures import DetDataSample
from cissreg.testing.reference import require

STAT_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l',
             'bbox_AR@1', 'bbox_AR@10', 'bbox_AR@100', 'bbox_AR_s@100', 'bbox_AR_m@100',
             'bbox_AR_l@100')


# ----------------------------------------------------------------------------- data
def random_images(seed: int, num_images: int = 24, num_classes: int = 4, max_gts: int = 10,
                  max_dets: int = 40, crowd_p: float = 0.15, tie_scores: bool = False,
                  grid: bool = False) -> List[Dict[str, np.ndarray]]:
    """Images with overlapping GTs of all sizes, jittered / duplicated / random detections.

    Class ``num_classes - 1`` never has GT (only detections); some images have no GT.
    ``grid`` puts boxes on an 8-px grid with duplicates, so exact IoU ties occur.
    """
    rng = np.random.default_rng(seed)
    sizes = np.array([4, 8, 16, 31, 32, 33, 48, 64, 95, 96, 97, 120, 200], dtype=np.float64)
    images = []
    for i in range(num_images):
        n = 0 if i % 5 == 0 else int(rng.integers(1, max_gts + 1))
        if grid:
            wh = rng.choice(sizes, (n, 2))
            xy = rng.integers(0, 6, (n, 2)) * 8.0
        else:
            wh = np.exp(rng.uniform(np.log(3), np.log(250), (n, 2)))
            xy = rng.uniform(0, 200, (n, 2))
        gt = np.concatenate([xy, xy + wh], axis=1)
        if n > 2:
            gt[1] = gt[0]  # a duplicated GT
        gt_labels = rng.integers(0, num_classes - 1, n)
        crowd = rng.random(n) < crowd_p
        m = int(rng.integers(0, max_dets + 1))
        if n:
            src = rng.integers(0, n, m)
            size = np.tile(gt[src, 2:] - gt[src, :2], 2)
            dets = gt[src] + (0 if grid else rng.normal(0, 0.15, (m, 4)) * size)
            dets[:, 2:] = np.maximum(dets[:, 2:], dets[:, :2] + 0.5)
            labels = np.where(rng.random(m) < 0.8, gt_labels[src],
                              rng.integers(0, num_classes, m))
            n_rand = m // 4
            rxy = rng.uniform(0, 200, (n_rand, 2))
            dets[:n_rand] = np.concatenate([rxy, rxy + rng.choice(sizes, (n_rand, 2))], 1)
        else:
            rxy = rng.uniform(0, 200, (m, 2))
            dets = np.concatenate([rxy, rxy + rng.choice(sizes, (m, 2))], axis=1)
            labels = rng.integers(0, num_classes, m)
        scores = rng.integers(0, 5, m) / 4 if tie_scores else rng.random(m)
        images.append(dict(img_id=i + 1, gt_bboxes=gt, gt_labels=gt_labels,
                           gt_ignore_flags=crowd, det_bboxes=dets, det_scores=scores,
                           det_labels=labels))
    return images


def functional_args(images: List[dict]) -> dict:
    keys = ('gt_bboxes', 'gt_labels', 'gt_ignore_flags', 'det_bboxes', 'det_scores',
            'det_labels')
    return {k: [img[k] for img in images] for k in keys}


# ----------------------------------------------------------------------------- references
def pycocotools_eval(images: List[dict], num_classes: int):
    """COCOeval on a GT json built like mmdet's CocoMetric builds it (area = w * h, or the
    image's ``gt_areas`` where given, as a real COCO json stores segmentation areas)."""
    coco_mod = require('pycocotools.coco')
    cocoeval_mod = require('pycocotools.cocoeval')
    img_infos, anns, results = [], [], []
    for img in images:
        img_infos.append(dict(id=img['img_id'], width=640, height=640))
        areas = img.get('gt_areas', [None] * len(img['gt_bboxes']))
        for box, label, crowd, area in zip(img['gt_bboxes'].tolist(), img['gt_labels'].tolist(),
                                           img['gt_ignore_flags'].tolist(), list(areas)):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append(dict(id=len(anns) + 1, image_id=img['img_id'], category_id=label + 1,
                             bbox=[box[0], box[1], w, h],
                             area=w * h if area is None else float(area), iscrowd=int(crowd)))
        for box, score, label in zip(img['det_bboxes'].tolist(), img['det_scores'].tolist(),
                                     img['det_labels'].tolist()):
            results.append(dict(image_id=img['img_id'], category_id=label + 1, score=score,
                                bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]]))
    dataset = dict(images=img_infos, annotations=anns,
                   categories=[dict(id=k + 1, name=f'c{k}') for k in range(num_classes)])
    with contextlib.redirect_stdout(io.StringIO()):
        gt = coco_mod.COCO()
        gt.dataset = dataset
        gt.createIndex()
        if results:
            dt = gt.loadRes(results)
        else:  # loadRes cannot take an empty list
            dt = coco_mod.COCO()
            dt.dataset = dict(images=img_infos, annotations=[],
                              categories=dataset['categories'])
            dt.createIndex()
        ev = cocoeval_mod.COCOeval(gt, dt, 'bbox')
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def reference_classwise_ap(precision: np.ndarray) -> np.ndarray:
    out = []
    for k in range(precision.shape[2]):
        p = precision[:, :, k, 0, -1]
        out.append(p[p > -1].mean() if (p > -1).any() else -1.0)
    return np.array(out)


def naive_iou(a: List[float], b: List[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def naive_voc_map(images: List[dict], num_classes: int, iou_thr: float = 0.5,
                  mode: str = 'area') -> tuple:
    """Plain-loop float64 VOC mAP (mmdet eval_map semantics, stable score order)."""
    aps = []
    for k in range(num_classes):
        records, n_gt = [], 0  # (score, image position, rank in image, tp, fp)
        for pos, img in enumerate(images):
            gts = [(b, ig) for b, lab, ig in zip(img['gt_bboxes'].tolist(),
                                                 img['gt_labels'].tolist(),
                                                 img['gt_ignore_flags'].tolist()) if lab == k]
            n_gt += sum(1 for _, ig in gts if not ig)
            dets = [(s, b) for b, s, lab in zip(img['det_bboxes'].tolist(),
                                                img['det_scores'].tolist(),
                                                img['det_labels'].tolist()) if lab == k]
            dets = sorted(dets, key=lambda d: -d[0])  # stable
            covered = [False] * len(gts)
            for rank, (score, box) in enumerate(dets):
                best, best_j = -1.0, -1
                for j, (g, _) in enumerate(gts):
                    iou = naive_iou(box, g)
                    if iou > best:
                        best, best_j = iou, j
                tp = fp = 0
                if best >= iou_thr:
                    if not gts[best_j][1]:
                        if covered[best_j]:
                            fp = 1
                        else:
                            covered[best_j] = True
                            tp = 1
                else:
                    fp = 1
                records.append((score, pos, rank, tp, fp))
        if n_gt == 0:
            aps.append(-1.0)
            continue
        records.sort(key=lambda r: (-r[0], r[1], r[2]))
        tp_c = fp_c = 0
        recalls, precisions = [], []
        for _, _, _, tp, fp in records:
            tp_c += tp
            fp_c += fp
            recalls.append(tp_c / n_gt)
            precisions.append(tp_c / max(tp_c + fp_c, np.finfo(np.float32).eps))
        if mode == 'area':
            mrec = [0.0] + recalls + [1.0]
            mpre = [0.0] + precisions + [0.0]
            for i in range(len(mpre) - 2, -1, -1):
                mpre[i] = max(mpre[i], mpre[i + 1])
            ap = sum((mrec[i + 1] - mrec[i]) * mpre[i + 1] for i in range(len(mrec) - 1))
        else:
            ap = 0.0
            for t in [i / 10 for i in range(11)]:
                ps = [p for r, p in zip(recalls, precisions) if r >= t]
                ap += max(ps) if ps else 0.0
            ap /= 11
        aps.append(ap)
    valid = [a for a in aps if a > -1]
    return (sum(valid) / len(valid) if valid else -1.0), np.array(aps)


def assert_matches_pycocotools(images: List[dict], num_classes: int, **kwargs) -> None:
    ours = coco_bbox_eval(num_classes=num_classes, **functional_args(images), **kwargs)
    ref = pycocotools_eval(images, num_classes)
    np.testing.assert_allclose(ours.stats, ref.stats, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.precision, ref.eval['precision'], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.recall, ref.eval['recall'], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.classwise_ap, reference_classwise_ap(ref.eval['precision']),
                               rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- COCO parity
@pytest.mark.parametrize('seed', range(6))
def test_coco_stats_equal_pycocotools(seed):
    images = random_images(seed, tie_scores=seed % 2 == 1, grid=seed >= 4)
    assert_matches_pycocotools(images, num_classes=4)


def with_segmentation_areas(images: List[dict], seed: int) -> List[dict]:
    """A fraction 0.3-1.0 of each box's area, as segmentation areas are: moves GTs across the
    32**2 / 96**2 bucket limits that their box areas lie on the other side of."""
    rng = np.random.default_rng(seed)
    out = []
    for img in images:
        box = img['gt_bboxes']
        area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
        out.append(dict(img, gt_areas=area * rng.uniform(0.3, 1.0, len(box))))
    return out


@pytest.mark.parametrize('seed', range(3))
def test_coco_size_buckets_use_given_gt_areas(seed):
    images = with_segmentation_areas(random_images(20 + seed), seed)
    ours = coco_bbox_eval(num_classes=4, gt_areas=[img['gt_areas'] for img in images],
                          **functional_args(images))
    ref = pycocotools_eval(images, 4)
    np.testing.assert_allclose(ours.stats, ref.stats, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.precision, ref.eval['precision'], rtol=0, atol=1e-12)
    box_areas = coco_bbox_eval(num_classes=4, **functional_args(images))
    assert not np.allclose(box_areas.stats[3:6], ours.stats[3:6])  # the areas matter
    np.testing.assert_allclose(box_areas.stats[:3], ours.stats[:3], rtol=0, atol=1e-12)


def test_coco_more_than_100_detections_per_image():
    images = random_images(10, num_images=6, num_classes=3, max_dets=260, crowd_p=0.0)
    assert max(len(img['det_scores']) for img in images) > 100
    # Make the best-matching detections the lowest-scored: the 100-cut must drop them.
    for img in images:
        img['det_scores'] = img['det_scores'] * 0.5
        img['det_scores'][-5:] = 0.0
    assert_matches_pycocotools(images, num_classes=3)


def test_coco_no_detections_at_all():
    images = random_images(3, num_images=8)
    for img in images:
        img['det_bboxes'] = np.zeros((0, 4))
        img['det_scores'] = np.zeros(0)
        img['det_labels'] = np.zeros(0, dtype=np.int64)
    ours = coco_bbox_eval(num_classes=4, **functional_args(images))
    ref = pycocotools_eval(images, num_classes=4)
    np.testing.assert_allclose(ours.stats, ref.stats, atol=1e-6)
    assert ours.stats[0] == 0.0


def test_coco_no_ground_truth_and_class_without_gt():
    images = random_images(4, num_images=6)
    for img in images:  # keep GT only for class 0; classes 1-3 have detections only
        keep = img['gt_labels'] == 0
        for k in ('gt_bboxes', 'gt_labels', 'gt_ignore_flags'):
            img[k] = img[k][keep]
    assert_matches_pycocotools(images, num_classes=4)
    ours = coco_bbox_eval(num_classes=4, **functional_args(images))
    assert (ours.classwise_ap[1:] == -1).all() and ours.classwise_ap[0] > -1
    for img in images:
        img['gt_bboxes'] = np.zeros((0, 4))
        img['gt_labels'] = img['gt_ignore_flags'] = np.zeros(0, dtype=np.int64)
    ours = coco_bbox_eval(num_classes=4, **functional_args(images))
    ref = pycocotools_eval(images, num_classes=4)
    np.testing.assert_array_equal(ours.stats, -np.ones(12))
    np.testing.assert_array_equal(ref.stats, -np.ones(12))


def test_coco_crowd_region_absorbs_detections():
    crowd = [0.0, 0.0, 100.0, 100.0]
    person = [200.0, 200.0, 260.0, 300.0]
    inside = [[i * 10.0, i * 10.0, i * 10.0 + 30, i * 10.0 + 30] for i in range(6)]
    img = dict(img_id=1,
               gt_bboxes=np.array([crowd, person]), gt_labels=np.array([0, 0]),
               gt_ignore_flags=np.array([True, False]),
               det_bboxes=np.array(inside + [person]),
               det_scores=np.array([0.9] * 6 + [0.5]), det_labels=np.zeros(7, dtype=np.int64))
    ours = coco_bbox_eval(num_classes=1, **functional_args([img]))
    # The six high-scored detections lie inside the crowd box (IoU = inter / det area = 1):
    # they are ignored, not false positives, so the single real GT is found at precision 1.
    assert ours.stats[0] == pytest.approx(1.0)
    assert_matches_pycocotools([img], num_classes=1)
    img['gt_ignore_flags'] = np.array([False, False])  # as a plain GT they become FPs
    assert coco_bbox_eval(num_classes=1, **functional_args([img])).stats[0] < 0.5
    assert_matches_pycocotools([img], num_classes=1)


def iou_tie_image() -> dict:
    """Detection 1 has IoU 0.6 with both GTs; detection 2 is GT 1 exactly (IoU 1/3 to GT 2)."""
    return dict(img_id=1,
                gt_bboxes=np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]]),
                gt_labels=np.array([0, 0]), gt_ignore_flags=np.array([False, False]),
                det_bboxes=np.array([[2.5, 0.0, 12.5, 10.0], [0.0, 0.0, 10.0, 10.0]]),
                det_scores=np.array([0.9, 0.8]), det_labels=np.array([0, 0]))


def test_coco_iou_tie_goes_to_the_last_gt():
    img = iou_tie_image()
    # pycocotools scans GTs with `>=`: detection 1 takes GT 2, so detection 2 still finds GT 1.
    res = coco_bbox_eval(num_classes=1, **functional_args([img]))
    assert res.stats[1] == pytest.approx(1.0)
    assert_matches_pycocotools([img], num_classes=1)


def test_coco_custom_iou_thresholds():
    images = random_images(7, num_images=10)
    full = coco_bbox_eval(num_classes=4, **functional_args(images))
    thrs = full.iou_thrs[[0, 2]]  # 0.5 and 0.6: matching at each threshold is independent
    ours = coco_bbox_eval(num_classes=4, iou_thrs=thrs, **functional_args(images))
    np.testing.assert_array_equal(ours.precision, full.precision[[0, 2]])
    np.testing.assert_array_equal(ours.recall, full.recall[[0, 2]])
    assert ours.stats[2] == -1  # AP75 undefined without the 0.75 threshold
    assert ours.stats[1] == full.stats[1]


def test_functional_input_errors():
    img = random_images(0, num_images=2)
    with pytest.raises(ValueError, match=r'det_labels must lie in \[0, 2\)'):
        coco_bbox_eval(num_classes=2, **functional_args(img))
    args = functional_args(img)
    args['det_scores'] = args['det_scores'][:1]
    with pytest.raises(ValueError, match='one entry per image'):
        coco_bbox_eval(num_classes=4, **args)
    with pytest.raises(ValueError, match='max_dets'):
        coco_bbox_eval(num_classes=4, max_dets=(10, 1, 100), **functional_args(img))
    with pytest.raises(ValueError, match='mode'):
        voc_map(num_classes=4, mode='12points', **functional_args(img))


# ----------------------------------------------------------------------------- VOC
@pytest.mark.parametrize('mode', ['area', '11points'])
@pytest.mark.parametrize('seed', [0, 1, 5])
def test_voc_map_equals_naive_reference(seed, mode):
    images = random_images(seed, tie_scores=seed == 1, grid=seed == 5)
    ours = voc_map(num_classes=4, mode=mode, **functional_args(images))
    ref_map, ref_ap = naive_voc_map(images, 4, mode=mode)
    np.testing.assert_allclose(ours.ap, ref_ap, rtol=0, atol=1e-12)
    assert ours.mean_ap == pytest.approx(ref_map, abs=1e-12)
    assert ours.ap[3] == -1  # detections but no GT: left out of the mean


def test_voc_iou_tie_goes_to_the_first_gt():
    img = iou_tie_image()
    # mmdet's argmax takes GT 1 for detection 1; detection 2's best GT is then covered: FP.
    res = voc_map(num_classes=1, **functional_args([img]))
    ref_map, _ = naive_voc_map([img], 1)
    assert res.mean_ap == pytest.approx(ref_map) == pytest.approx(0.5)


def test_voc_perfect_and_empty():
    images = random_images(2, num_images=5, crowd_p=0.0)
    for img in images:
        img['det_bboxes'], img['det_labels'] = img['gt_bboxes'], img['gt_labels']
        img['det_scores'] = np.linspace(1, 0.5, len(img['gt_labels']))
    assert voc_map(num_classes=4, **functional_args(images)).mean_ap == pytest.approx(1.0)
    for img in images:
        img['det_bboxes'], img['det_scores'] = np.zeros((0, 4)), np.zeros(0)
        img['det_labels'] = np.zeros(0, dtype=np.int64)
    res = voc_map(num_classes=4, **functional_args(images))
    assert res.mean_ap == 0.0 and res.ap[3] == -1


# ----------------------------------------------------------------------------- DetMetric
def to_data_sample(img: dict) -> DetDataSample:
    sample = DetDataSample(metainfo=dict(
        img_id=img['img_id'], img_path=f"{img['img_id']}.jpg", ori_shape=(640, 640),
        instances=[dict(bbox=b, bbox_label=int(lab), ignore_flag=int(ig),
                        **({} if area is None else dict(area=float(area))))
                   for b, lab, ig, area in zip(
                       img['gt_bboxes'].tolist(), img['gt_labels'].tolist(),
                       img['gt_ignore_flags'].tolist(),
                       img.get('gt_areas', [None] * len(img['gt_bboxes'])))]))
    sample.pred_instances = InstanceData(
        bboxes=torch.as_tensor(img['det_bboxes'], dtype=torch.float32),
        scores=torch.as_tensor(img['det_scores'], dtype=torch.float32),
        labels=torch.as_tensor(img['det_labels'], dtype=torch.int64))
    return sample


def as_float32_reference(img: dict) -> dict:
    """What the metric sees: predictions rounded to float32 tensors."""
    out = dict(img)
    for k in ('det_bboxes', 'det_scores'):
        out[k] = img[k].astype(np.float32).astype(np.float64)
    return out


@pytest.mark.parametrize('json_areas', [False, True])
def test_det_metric_through_evaluator_equals_pycocotools(json_areas):
    images = random_images(11, num_images=20)
    if json_areas:  # instances carry `area` as CocoDetDataset's do: the buckets use it
        images = with_segmentation_areas(images, 0)
    classes = ('plane', 'ship', 'tank', 'car')
    evaluator = Evaluator(METRICS.build(dict(type='DetMetric')))
    evaluator.dataset_meta = dict(classes=classes)
    shuffled = images[:]
    random.Random(0).shuffle(shuffled)  # img_id order, not arrival order, counts
    for start in range(0, len(shuffled), 6):
        batch = [to_data_sample(img) for img in shuffled[start:start + 6]]
        evaluator.process(data_samples=batch, data_batch=None)
    metrics = evaluator.evaluate(len(images))

    reference = [as_float32_reference(img) for img in images]
    ref = pycocotools_eval(reference, num_classes=4)
    for key, value in zip(STAT_KEYS, ref.stats):
        assert metrics[f'coco/{key}'] == pytest.approx(value, abs=1e-6), key
    ref_class_ap = reference_classwise_ap(ref.eval['precision'])
    for name, ap in zip(classes, ref_class_ap):
        assert metrics[f'coco/{name}_AP'] == pytest.approx(ap, abs=1e-6)
    assert metrics['coco/car_AP'] == -1  # detections, no GT
    ref_map, _ = naive_voc_map(reference, 4)
    assert metrics['voc/mAP50'] == pytest.approx(ref_map, abs=1e-9)
    assert set(metrics) == ({f'coco/{k}' for k in STAT_KEYS} | {'voc/mAP50'}
                            | {f'coco/{c}_AP' for c in classes})


def test_det_metric_process_dicts_prefix_and_options(capsys):
    images = random_images(12, num_images=8)
    metric = DetMetric(classwise=False, voc_mode='11points', prefix='val')
    metric.dataset_meta = dict(classes=('a', 'b', 'c', 'd'))
    metric.process(None, [to_data_sample(img).to_dict() for img in images])
    metrics = metric.evaluate(len(images))
    assert set(metrics) == {f'val/coco/{k}' for k in STAT_KEYS} | {'val/voc/mAP50'}
    reference = [as_float32_reference(img) for img in images]
    ref_map, _ = naive_voc_map(reference, 4, mode='11points')
    assert metrics['val/voc/mAP50'] == pytest.approx(ref_map, abs=1e-9)
    ref = pycocotools_eval(reference, num_classes=4)  # independent of DetMetric's own COCO code
    for key, value in zip(STAT_KEYS, ref.stats):
        assert metrics[f'val/coco/{key}'] == pytest.approx(value, abs=1e-6), key


def test_det_metric_errors():
    with pytest.raises(ValueError, match='voc_mode'):
        DetMetric(voc_mode='11point')
    img = random_images(0, num_images=1)[0]
    metric = DetMetric()
    metric.process(None, [to_data_sample(img)])
    with pytest.raises(ValueError, match=r"dataset_meta\['classes'\]"):
        metric.compute_metrics(metric.results)
    sample = to_data_sample(img).to_dict()
    del sample['instances']
    with pytest.raises(KeyError, match="'instances' meta key.*image 1"):
        metric.process(None, [sample])
