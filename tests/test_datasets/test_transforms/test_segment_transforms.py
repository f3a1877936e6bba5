"""Instance segments through the detection transforms: ultralytics parity (resampling, the
affine's segment boxes, copy-paste), boxes = segment extents after every transform, errors."""
import random

import cv2
import numpy as np
import pytest

from cissreg.datasets.transforms import (CopyPaste, LetterResize, LoadDetAnnotations, MixUp, Mosaic,
                                         RandomAffine, RandomFlip, resample_polygon)
from cissreg.testing.reference import require


def regular_polygon(cx, cy, r, k, phase=0.0):
    t = phase + np.arange(k) * 2 * np.pi / k
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)


def polygon_sample(h=120, w=160, seed=0, n=4, points=200):
    """An image with ``n`` filled polygons (ellipses and triangles), boxes = their extents."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    segments, boxes = [], []
    for i in range(n):
        cx, cy = rng.uniform(15, w - 15), rng.uniform(15, h - 15)
        poly = regular_polygon(cx, cy, rng.uniform(6, 14), 3 if i % 2 else 40, rng.uniform(0, 7))
        cv2.fillPoly(img, [poly.round().astype(np.int32)], (255, 255, 255))
        seg = resample_polygon(poly, points)
        segments.append(seg)
        boxes.append([seg[:, 0].min(), seg[:, 1].min(), seg[:, 0].max(), seg[:, 1].max()])
    return dict(img=img, img_shape=(h, w), gt_bboxes=np.array(boxes, np.float32),
                gt_bboxes_labels=np.arange(n, dtype=np.int64),
                gt_ignore_flags=np.zeros(n, bool), gt_segments=np.stack(segments))


def assert_boxes_are_segment_extents(results, atol=1e-3):
    seg, boxes = results['gt_segments'], results['gt_bboxes']
    assert len(seg) == len(boxes) == len(results['gt_bboxes_labels']) == \
        len(results['gt_ignore_flags'])
    extent = np.stack([seg[..., 0].min(1), seg[..., 1].min(1), seg[..., 0].max(1),
                       seg[..., 1].max(1)], 1)
    np.testing.assert_allclose(boxes, extent, atol=atol)


def test_resample_polygon_equals_ultralytics():
    ops = require('ultralytics.utils.ops')
    rng = np.random.default_rng(0)
    polygons = [rng.uniform(0, 100, (k, 2)).astype(np.float32) for k in (3, 4, 17, 250)]
    ref = ops.resample_segments([p.copy() for p in polygons], n=1000)
    for poly, expected in zip(polygons, ref):
        np.testing.assert_allclose(resample_polygon(poly, 1000), expected, rtol=0, atol=1e-5)


def test_load_annotations_with_segments_maps_polygons_like_boxes():
    instances = [
        dict(bbox=[10, 10, 30, 20], bbox_label=1, ignore_flag=0,
             segmentation=[[10, 10, 30, 10, 30, 20, 10, 20]]),
        dict(bbox=[0, 0, 8, 8], bbox_label=0, ignore_flag=1),  # no polygon: box corners
        dict(bbox=[40, 40, 60, 60], bbox_label=2, ignore_flag=0,  # two polygons
             segmentation=[[40, 40, 50, 40, 50, 50], [55, 55, 60, 55, 60, 60]])]
    results = LoadDetAnnotations(with_segments=True, num_segment_points=61)(dict(
        instances=instances, scale_factor=(2.0, 0.5), pad_param=np.array([3, 3, 7, 7.])))
    seg = results['gt_segments']
    assert seg.shape == (3, 61, 2) and seg.dtype == np.float32  # 61: every vertex is a point
    assert_boxes_are_segment_extents(results)
    np.testing.assert_allclose(results['gt_bboxes'][1], [7, 3, 23, 7])  # 2x, 0.5y, +(7, 3)
    without = LoadDetAnnotations()(dict(instances=instances))
    assert 'gt_segments' not in without
    with pytest.raises(ValueError, match='instance 0 of image bad.jpg has a `segmentation`'):
        LoadDetAnnotations(with_segments=True)(dict(img_path='bad.jpg', instances=[
            dict(bbox=[0, 0, 1, 1], bbox_label=0, segmentation=[[1, 2, 3]])]))


def ultralytics_instances(results):
    instance_mod = require('ultralytics.utils.instance')
    return instance_mod.Instances(results['gt_bboxes'].copy(), results['gt_segments'].copy(),
                                  bbox_format='xyxy', normalized=False)


@pytest.mark.parametrize('seed', range(4))
def test_random_affine_with_segments_equals_ultralytics(seed, monkeypatch):
    """The same matrix on both sides: equal boxes (from segments), segments and kept set."""
    augment = require('ultralytics.data.augment')
    results = polygon_sample(seed=seed, n=6)
    ours = RandomAffine(max_rotate_degree=40, max_shear_degree=10, max_translate_ratio=0.3,
                        scaling_ratio_range=(0.3, 1.6))
    np.random.seed(seed)
    matrix, scale = ours._matrix(160, 120, 160, 120)
    monkeypatch.setattr(ours, '_matrix', lambda *a: (matrix, scale))
    out = ours(dict(results, gt_segments=results['gt_segments'].copy(),
                    gt_bboxes=results['gt_bboxes'].copy()))

    ref_t = augment.RandomPerspective()
    warped = cv2.warpAffine(results['img'], matrix[:2], dsize=(160, 120),
                            borderValue=(114, 114, 114))
    monkeypatch.setattr(ref_t, 'affine_transform', lambda img, border: (warped, matrix, scale))
    ref = ref_t(dict(img=results['img'].copy(), cls=results['gt_bboxes_labels'][:, None],
                     instances=ultralytics_instances(results)))
    np.testing.assert_array_equal(out['img'], ref['img'])
    np.testing.assert_array_equal(out['gt_bboxes_labels'], ref['cls'][:, 0])
    np.testing.assert_allclose(out['gt_bboxes'], ref['instances'].bboxes, atol=1e-3)
    np.testing.assert_allclose(out['gt_segments'], ref['instances'].segments, atol=1e-3)
    assert len(out['gt_bboxes']) > 0


def test_rotated_polygon_gives_a_tighter_box_than_the_rotated_box():
    """The behaviour segments exist for: a disc rotated by 45 degrees keeps its box size."""
    disc = resample_polygon(regular_polygon(80, 60, 20, 64), 1000)
    base = dict(img=np.zeros((120, 160, 3), np.uint8), gt_bboxes=np.array(
        [[60, 40, 100, 80]], np.float32), gt_bboxes_labels=np.zeros(1, np.int64),
        gt_ignore_flags=np.zeros(1, bool))
    affine = RandomAffine(max_rotate_degree=0, scaling_ratio_range=(1, 1),
                          max_translate_ratio=0)
    affine._matrix = lambda *a: (np.array([[np.cos(np.pi / 4), -np.sin(np.pi / 4), 80],
                                           [np.sin(np.pi / 4), np.cos(np.pi / 4), 60],
                                           [0, 0, 1]], np.float32) @ np.array(
        [[1, 0, -80], [0, 1, -60], [0, 0, 1]], np.float32), 1.0)
    with_seg = affine(dict(base, gt_segments=disc[None].copy()))
    box_only = affine(dict(base, gt_bboxes=base['gt_bboxes'].copy()))
    w_seg = with_seg['gt_bboxes'][0, 2] - with_seg['gt_bboxes'][0, 0]
    w_box = box_only['gt_bboxes'][0, 2] - box_only['gt_bboxes'][0, 0]
    assert w_seg == pytest.approx(40, abs=0.1)
    assert w_box == pytest.approx(40 * np.sqrt(2), abs=0.1)


def test_copy_paste_equals_ultralytics_flip_mode():
    augment = require('ultralytics.data.augment')
    for seed in range(5):
        results = polygon_sample(seed=seed, n=5)
        for prob in (0.5, 1.0):
            out = CopyPaste(prob=prob)({k: (v.copy() if isinstance(v, np.ndarray) else v)
                                        for k, v in results.items()})
            ref = augment.CopyPaste(p=prob, mode='flip')(dict(
                img=results['img'].copy(), cls=results['gt_bboxes_labels'][:, None].copy(),
                instances=ultralytics_instances(results)))
            np.testing.assert_array_equal(out['img'], ref['img'])
            np.testing.assert_array_equal(out['gt_bboxes_labels'], ref['cls'][:, 0])
            np.testing.assert_allclose(out['gt_bboxes'], ref['instances'].bboxes, atol=1e-4)
            np.testing.assert_allclose(out['gt_segments'], ref['instances'].segments,
                                       atol=1e-4)
            assert len(out['gt_ignore_flags']) == len(out['gt_bboxes'])


def test_copy_paste_pastes_mirrored_instances_onto_their_pixels():
    results = polygon_sample(h=80, w=200, seed=3, n=1)
    results['gt_segments'][..., 0] -= results['gt_bboxes'][0, 0] - 10  # left edge at x = 10
    results['gt_bboxes'][:, 0::2] -= results['gt_bboxes'][0, 0] - 10
    results['img'][:] = 0
    cv2.fillPoly(results['img'], [results['gt_segments'][0].round().astype(np.int32)],
                 (255, 255, 255))
    out = CopyPaste(prob=1.0)(dict(results, img=results['img'].copy()))
    assert len(out['gt_bboxes']) == 2 and out['gt_bboxes_labels'].tolist() == [0, 0]
    x1, y1, x2, y2 = out['gt_bboxes'][1]
    np.testing.assert_allclose([x1, x2], 200 - results['gt_bboxes'][0, [2, 0]], atol=1e-4)
    core = out['img'][int(y1) + 3:int(y2) - 3, int((x1 + x2) / 2) - 1:int((x1 + x2) / 2) + 1]
    assert core.min() == 255  # the pasted copy's centre column is the object's pixels
    unchanged = CopyPaste(prob=1.0)({k: v for k, v in results.items() if k != 'gt_segments'})
    assert len(unchanged['gt_bboxes']) == 1  # no segments: a no-op, as in ultralytics
    with pytest.raises(ValueError, match=r'prob must lie in \[0, 1\]'):
        CopyPaste(prob=1.5)


class PolygonDataset:
    def __len__(self):
        return 5

    def get_data_info(self, idx):
        return polygon_sample(seed=10 + idx, n=3)


def test_segments_follow_every_geometric_transform():
    """Boxes stay the extents of their segments through mosaic, copy-paste, affine, mixup
    and flip (clipping included), and every GT array stays aligned."""
    dataset = PolygonDataset()
    affine = dict(type='RandomAffine', max_rotate_degree=30, max_shear_degree=5,
                  scaling_ratio_range=(0.5, 1.5))
    mosaic = Mosaic(img_scale=(96, 96), buffer_size=4)
    pipeline = [mosaic, CopyPaste(prob=0.5), RandomAffine(**{k: v for k, v in affine.items()
                                                             if k != 'type'}),
                MixUp(prob=1.0, pre_transform=[dict(type='Mosaic', img_scale=(96, 96)),
                                               affine]),
                RandomFlip(prob=1.0), LetterResize(scale=(64, 64))]
    random.seed(0)
    np.random.seed(0)
    for i in range(8):
        results = dict(dataset.get_data_info(i % 5), dataset=dataset)
        for t in pipeline:
            results = t(results)
        assert results['img'].shape == (64, 64, 3)
        assert_boxes_are_segment_extents(results, atol=1e-2)
        seg = results['gt_segments']
        assert (seg >= -1e-3).all() and (seg <= 64 + 1e-3).all()


def test_mixing_images_with_and_without_segments_is_a_clear_error():
    dataset = PolygonDataset()
    plain = {k: v for k, v in polygon_sample(seed=1).items() if k != 'gt_segments'}
    with pytest.raises(ValueError, match='MixUp: some mixed images have gt_segments'):
        MixUp(prob=1.0, pre_transform=[dict(type='LetterResize', scale=(160, 120))])(
            dict(plain, dataset=dataset))
