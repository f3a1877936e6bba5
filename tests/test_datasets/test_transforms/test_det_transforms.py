"""Detection transforms: box math by hand, ultralytics parity, packing, loading errors."""
import os
import random
from collections import OrderedDict

import cv2
import numpy as np
import pytest
import torch

from cissreg.datasets.transforms import (HSVRandomAug, KeepRatioResize, LetterResize,
                                         LoadDetAnnotations, LoadImageFromFile, MixUp, Mosaic,
                                         PackDetInputs, RandomAffine, RandomFlip)
from cissreg.structures import DetDataSample
from cissreg.testing.reference import require


def sample(h=50, w=100, boxes=((10, 5, 60, 45), (0, 0, 100, 50)), labels=(2, 0),
           ignore=(False, True)):
    rng = np.random.default_rng(0)
    return dict(img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), img_shape=(h, w),
                ori_shape=(h, w), gt_bboxes=np.array(boxes, np.float32).reshape(-1, 4),
                gt_bboxes_labels=np.array(labels, np.int64),
                gt_ignore_flags=np.array(ignore, bool))


def to_original(results):
    """The contract's inverse mapping: (input - [l, t, l, t]) / [sx, sy, sx, sy]."""
    top, _, left, _ = results['pad_param']
    sx, sy = results['scale_factor']
    return (results['gt_bboxes'].astype(np.float64) - [left, top, left, top]) / [sx, sy, sx, sy]


def test_letter_resize_box_math_by_hand_and_inverse():
    res = LetterResize(scale=(64, 64))(sample())
    # r = min(64/50, 64/100) = 0.64 -> 64 x 32, dh = 32 -> 16 top / 16 bottom
    assert res['img'].shape == (64, 64, 3) and res['img_shape'] == (64, 64)
    np.testing.assert_array_equal(res['pad_param'], [16, 16, 0, 0])
    assert res['pad_param'].dtype == np.float32
    assert res['scale_factor'] == (0.64, 0.64)
    np.testing.assert_allclose(res['gt_bboxes'], [[6.4, 19.2, 38.4, 44.8], [0, 16, 64, 48]],
                               rtol=1e-6)
    assert (res['img'][:16] == 114).all() and (res['img'][48:] == 114).all()
    np.testing.assert_allclose(to_original(res), sample()['gt_bboxes'], atol=1e-4)
    assert res['gt_bboxes'].dtype == np.float32


def test_letter_resize_odd_padding_and_no_scale_up():
    res = LetterResize(scale=(40, 40))(sample(h=20, w=30, boxes=((3, 4, 30, 20), )))
    # r = 4/3 -> 40 x 27 (round 26.67); dh = 13 -> top round(6.4) = 6, bottom round(6.6) = 7
    np.testing.assert_array_equal(res['pad_param'], [6, 7, 0, 0])
    np.testing.assert_allclose(res['scale_factor'], (40 / 30, 27 / 20))
    np.testing.assert_allclose(to_original(res), [[3, 4, 30, 20]], atol=1e-4)
    small = LetterResize(scale=(40, 40), allow_scale_up=False)(sample(h=20, w=30))
    np.testing.assert_array_equal(small['pad_param'], [10, 10, 5, 5])
    assert small['scale_factor'] == (1.0, 1.0)
    np.testing.assert_array_equal(small['img'][10:30, 5:35], sample(h=20, w=30)['img'])


def test_letter_resize_matches_ultralytics_letterbox():
    augment = require('ultralytics.data.augment')
    for h, w, scale in [(37, 91, (64, 64)), (120, 50, (64, 48)), (30, 30, (64, 64))]:
        img = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
        ref = augment.LetterBox(new_shape=(scale[1], scale[0]), auto=False)(image=img.copy())
        ours = LetterResize(scale=scale)(dict(img=img.copy()))['img']
        np.testing.assert_array_equal(ours, ref)


def test_keep_ratio_resize_then_letter_resize_inverse():
    res = KeepRatioResize(scale=60)(sample(h=50, w=100))
    assert res['img'].shape[:2] == (30, 60)
    res = LetterResize(scale=(64, 64))(res)
    assert res['img'].shape[:2] == (64, 64)
    np.testing.assert_allclose(to_original(res), sample()['gt_bboxes'], atol=1e-4)


def test_load_annotations_after_resize_maps_into_the_input_image():
    instances = [dict(bbox=[10, 5, 60, 45], bbox_label=1, ignore_flag=0),
                 dict(bbox=[0, 0, 4, 4], bbox_label=3, ignore_flag=1)]
    before = LoadDetAnnotations()(dict(instances=instances))
    assert before['gt_bboxes'].dtype == np.float32 and before['gt_bboxes'].shape == (2, 4)
    assert before['gt_bboxes_labels'].dtype == np.int64
    np.testing.assert_array_equal(before['gt_ignore_flags'], [False, True])
    img = np.zeros((50, 100, 3), np.uint8)
    early = LetterResize(scale=64)(dict(before, img=img))
    late = LoadDetAnnotations()(LetterResize(scale=64)(dict(img=img, instances=instances)))
    np.testing.assert_allclose(late['gt_bboxes'], early['gt_bboxes'], rtol=1e-6)
    empty = LoadDetAnnotations()(dict(instances=[]))
    assert empty['gt_bboxes'].shape == (0, 4) and empty['gt_bboxes_labels'].shape == (0, )


@pytest.mark.parametrize('direction', ['horizontal', 'vertical'])
def test_flip_math_and_twice_is_identity(direction):
    flip = RandomFlip(prob=1.0, direction=direction)
    once = flip(sample())
    assert once['flip'] and once['flip_direction'] == direction
    if direction == 'horizontal':
        np.testing.assert_array_equal(once['gt_bboxes'][0], [100 - 60, 5, 100 - 10, 45])
        np.testing.assert_array_equal(once['img'], sample()['img'][:, ::-1])
    else:
        np.testing.assert_array_equal(once['gt_bboxes'][0], [10, 50 - 45, 60, 50 - 5])
    twice = flip(once)
    np.testing.assert_array_equal(twice['img'], sample()['img'])
    np.testing.assert_array_equal(twice['gt_bboxes'], sample()['gt_bboxes'])
    never = RandomFlip(prob=0.0)(sample())
    assert never['flip'] is False and never['flip_direction'] is None


def test_hsv_keeps_shape_dtype_and_matches_ultralytics():
    out = HSVRandomAug()(sample())
    assert out['img'].shape == (50, 100, 3) and out['img'].dtype == np.uint8
    augment = require('ultralytics.data.augment')
    img = sample()['img']
    np.random.seed(7)
    ref = augment.RandomHSV(hgain=0.015, sgain=0.7, vgain=0.4)(dict(img=img.copy()))['img']
    np.random.seed(7)
    ours = HSVRandomAug(0.015, 0.7, 0.4)(dict(img=img.copy()))['img']
    np.testing.assert_array_equal(ours, ref)


class BoxPaintedDataset:
    """Images whose boxes are painted white on black: a mosaic box must cover white pixels."""

    def __init__(self):
        rng = np.random.default_rng(1)
        self.items = []
        for _ in range(6):
            h, w = (int(v) for v in rng.integers(40, 120, 2))
            boxes = []
            for _ in range(3):
                x1, y1 = rng.integers(0, w - 12), rng.integers(0, h - 12)
                boxes.append([x1, y1, x1 + rng.integers(8, w - x1 + 1),
                              y1 + rng.integers(8, h - y1 + 1)])
            self.items.append((h, w, np.array(boxes, np.float32)))

    def __len__(self):
        return len(self.items)

    def get_data_info(self, idx):
        h, w, boxes = self.items[idx]
        img = np.zeros((h, w, 3), np.uint8)
        for x1, y1, x2, y2 in boxes.astype(int):
            img[y1:y2, x1:x2] = 255
        return dict(img=img, gt_bboxes=boxes.copy(), gt_bboxes_labels=np.arange(3),
                    gt_ignore_flags=np.array([False, True, False]))


@pytest.mark.parametrize('use_buffer', [True, False])
def test_mosaic_boxes_inside_canvas_and_on_their_pixels(use_buffer):
    dataset = BoxPaintedDataset()
    mosaic = Mosaic(img_scale=(64, 48), min_bbox_size=2, use_buffer=use_buffer, buffer_size=4)
    np.random.seed(0)
    for i in range(10):
        results = dict(dataset.get_data_info(i % len(dataset)), dataset=dataset)
        out = mosaic(results)
        assert out['img'].shape == (96, 128, 3)
        boxes = out['gt_bboxes']
        assert boxes.dtype == np.float32 and len(boxes) == len(out['gt_bboxes_labels']) == \
            len(out['gt_ignore_flags'])
        assert (boxes[:, [0, 2]] >= 0).all() and (boxes[:, [0, 2]] <= 128).all()
        assert (boxes[:, [1, 3]] >= 0).all() and (boxes[:, [1, 3]] <= 96).all()
        assert ((boxes[:, 2:] - boxes[:, :2]) > 2).all()
        gray = out['img'][..., 0]
        for x1, y1, x2, y2 in boxes:  # interior (1 px margin for resize blur) is white
            core = gray[int(np.ceil(y1)) + 1:int(y2) - 1, int(np.ceil(x1)) + 1:int(x2) - 1]
            assert core.size == 0 or core.min() > 200
        assert out['mosaic_border'] == (-32, -24)
        cropped = RandomAffine(scaling_ratio_range=(1, 1), max_translate_ratio=0)(out)
        assert cropped['img'].shape == (48, 64, 3) and 'mosaic_border' not in cropped


def test_mosaic_without_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="Mosaic needs results\\['dataset'\\]"):
        Mosaic(img_scale=64, use_buffer=False)(sample())


class _CountingDataset(BoxPaintedDataset):
    def __init__(self):
        super().__init__()
        self.loads = 0

    def get_data_info(self, idx):
        self.loads += 1
        return super().get_data_info(idx)


def test_mosaic_partners_come_from_the_buffer_of_recent_images():
    """ultralytics: partners are recently decoded images (no extra decode), buffer bounded."""
    dataset = _CountingDataset()
    mosaic = Mosaic(img_scale=(64, 48), buffer_size=3)
    random.seed(0)
    np.random.seed(0)
    for i in range(6):
        mosaic(dict(dataset.get_data_info(i), dataset=dataset))
        assert len(mosaic.buffer) == min(i + 1, 3)
    assert dataset.loads == 6  # only the images the sampler asked for were decoded
    first = mosaic(dict(dataset.get_data_info(0), dataset=dataset))
    buffered = {t['img'].shape for t in mosaic.buffer}
    assert len(first['gt_bboxes']) > 0 and len(buffered) >= 1
    # the first mosaic of a worker has only itself in the buffer: four copies of one image
    solo = Mosaic(img_scale=(64, 48), center_ratio_range=(1, 1))
    before = dataset.loads
    out = solo(dict(dataset.get_data_info(2), dataset=dataset))
    assert dataset.loads == before + 1 and len(solo.buffer) == 1
    assert set(out['gt_bboxes_labels']) <= set(dataset.get_data_info(2)['gt_bboxes_labels'])
    assert len(out['gt_bboxes_labels']) > 3  # the image's 3 boxes appear in several tiles


def test_mixup_partner_mosaic_shares_the_main_mosaic_buffer():
    """ultralytics keeps one buffer per dataset: the MixUp partner's loads feed it too."""
    dataset, other = BoxPaintedDataset(), BoxPaintedDataset()
    crop = dict(type='RandomAffine', scaling_ratio_range=(1, 1), max_translate_ratio=0)
    main = Mosaic(img_scale=(64, 48), buffer_size=5)
    mixup = MixUp(prob=1.0, pre_transform=[dict(type='Mosaic', img_scale=(64, 48),
                                                buffer_size=5), crop])
    random.seed(0)
    np.random.seed(0)
    for i in range(3):
        results = main(dict(dataset.get_data_info(i), dataset=dataset))
    out = mixup(RandomAffine(**{k: v for k, v in crop.items() if k != 'type'})(results))
    inner = mixup.pre_transform.transforms[0]
    assert out['img'].shape == (48, 64, 3)
    assert inner.buffer is main.buffer and len(main.buffer) == 4  # 3 + the partner's image
    alone = Mosaic(img_scale=(64, 48), buffer_size=5)
    alone(dict(other.get_data_info(0), dataset=other))
    assert alone.buffer is not main.buffer and len(alone.buffer) == 1  # one per dataset


def test_mixup_blends_with_beta_ratio_and_concatenates_boxes():
    dataset = BoxPaintedDataset()
    first = dict(img=np.full((20, 30, 3), 200, np.uint8), gt_bboxes=np.array(
        [[1, 1, 5, 5]], np.float32), gt_bboxes_labels=np.array([4]),
        gt_ignore_flags=np.array([False]), dataset=dataset)
    pre = [dict(type='LetterResize', scale=(30, 20))]
    random.seed(3)
    np.random.seed(3)
    out = MixUp(prob=1.0, pre_transform=pre)(dict(first))
    random.seed(3)
    np.random.seed(3)
    random.uniform(0, 1)
    idx = random.randint(0, len(dataset) - 1)
    other = LetterResize(scale=(30, 20))(dataset.get_data_info(idx))
    r = np.random.beta(32.0, 32.0)
    expected = (first['img'] * r + other['img'] * (1 - r)).astype(np.uint8)
    np.testing.assert_array_equal(out['img'], expected)
    assert len(out['gt_bboxes']) == 1 + len(other['gt_bboxes'])
    np.testing.assert_array_equal(out['gt_bboxes_labels'],
                                  np.concatenate([[4], other['gt_bboxes_labels']]))
    assert out['gt_bboxes'].dtype == np.float32 and out['gt_ignore_flags'].dtype == bool
    assert MixUp(prob=0.0, pre_transform=pre)(dict(first))['img'] is first['img']
    with pytest.raises(ValueError, match='image sizes differ'):
        MixUp(prob=1.0, pre_transform=[dict(type='LetterResize', scale=(16, 16))])(dict(first))


def test_random_affine_scale_only_matches_formula():
    s = 0.75
    out = RandomAffine(scaling_ratio_range=(s, s), max_translate_ratio=0.0, border=(8, 4),
                       min_area_ratio=0.0)(sample())
    assert out['img'].shape == (50 + 8, 100 + 16, 3)
    # x' = s * (x - W/2) + W_out/2
    ref = sample()['gt_bboxes'].astype(np.float64)
    ref[:, 0::2] = s * (ref[:, 0::2] - 50) + 58
    ref[:, 1::2] = s * (ref[:, 1::2] - 25) + 29
    np.testing.assert_allclose(out['gt_bboxes'], ref, atol=1e-4)
    np.testing.assert_array_equal(out['gt_ignore_flags'], [False, True])


def test_random_affine_rotation_keeps_boxes_inside_and_drops_lost_ones():
    np.random.seed(3)
    for _ in range(10):
        out = RandomAffine(max_rotate_degree=30, max_shear_degree=5)(sample())
        boxes = out['gt_bboxes']
        assert (boxes[:, [0, 2]] >= 0).all() and (boxes[:, [0, 2]] <= 100).all()
        assert (boxes[:, [1, 3]] >= 0).all() and (boxes[:, [1, 3]] <= 50).all()
        assert len(boxes) == len(out['gt_bboxes_labels']) == len(out['gt_ignore_flags'])
    gone = RandomAffine(scaling_ratio_range=(1, 1), max_translate_ratio=0, border=(-45, 0))(
        sample(boxes=((0, 0, 5, 5), ), labels=(1, ), ignore=(False, )))  # keeps x in [45, 55]
    assert gone['gt_bboxes'].shape == (0, 4) and gone['gt_bboxes_labels'].shape == (0, )


def test_pack_types_shapes_and_ignored_boxes_excluded():
    results = LetterResize(scale=64)(sample())
    results.update(img_id=3, img_path='x.jpg',
                   instances=[dict(bbox=[10, 5, 60, 45], bbox_label=2, ignore_flag=0)])
    packed = PackDetInputs()(results)
    inputs, data_sample = packed['inputs'], packed['data_samples']
    assert isinstance(data_sample, DetDataSample)
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 64, 64)
    assert inputs.is_contiguous()
    assert torch.equal(inputs, torch.from_numpy(results['img']).permute(2, 0, 1))
    gt = data_sample.gt_instances
    assert gt.bboxes.dtype == torch.float32 and gt.labels.dtype == torch.int64
    np.testing.assert_allclose(gt.bboxes.numpy(), [[6.4, 19.2, 38.4, 44.8]], rtol=1e-6)
    assert gt.labels.tolist() == [2]
    meta = data_sample.metainfo
    assert meta['img_id'] == 3 and meta['ori_shape'] == (50, 100) and meta['img_shape'] == (64, 64)
    assert meta['flip'] is False and meta['flip_direction'] is None
    assert meta['instances'][0]['bbox'] == [10, 5, 60, 45]
    bare = PackDetInputs()(dict(img=np.zeros((8, 6, 3), np.uint8), img_id=0))['data_samples']
    np.testing.assert_array_equal(bare.pad_param, np.zeros(4))
    assert bare.scale_factor == (1.0, 1.0) and 'gt_instances' not in bare


def test_load_image_errors_name_the_file(tmp_path):
    good = tmp_path / 'good.png'
    cv2.imwrite(str(good), np.full((5, 7, 3), 9, np.uint8))
    out = LoadImageFromFile()(dict(img_path=str(good)))
    assert out['img'].shape == (5, 7, 3) and out['ori_shape'] == (5, 7)
    missing = str(tmp_path / 'missing.jpg')
    with pytest.raises(FileNotFoundError, match=f"image file '{missing}' not found"):
        LoadImageFromFile()(dict(img_path=missing, img_id=4))
    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8 this is not a jpeg')
    with pytest.raises(ValueError, match=f"cannot decode image '{corrupt}'"):
        LoadImageFromFile()(dict(img_path=str(corrupt), img_id=5))
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=f"cannot decode image '{empty}'.*0 bytes"):
        LoadImageFromFile()(dict(img_path=str(empty)))
    assert os.path.exists(empty)


def test_load_image_ram_cache_skips_decoding_and_evicts_least_recent(tmp_path, monkeypatch):
    monkeypatch.setattr(LoadImageFromFile, '_cache', OrderedDict())
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f'{i}.png'))
        cv2.imwrite(paths[-1], np.full((4, 5, 3), i * 50, np.uint8))
    load = LoadImageFromFile(cache_size=2)
    decoded = []
    real = cv2.imdecode
    monkeypatch.setattr(cv2, 'imdecode', lambda *a: decoded.append(1) or real(*a))
    first = load(dict(img_path=paths[0]))['img']
    first[:] = 255  # the pipeline may write into its copy
    again = load(dict(img_path=paths[0]))['img']
    assert len(decoded) == 1 and (again == 0).all()
    load(dict(img_path=paths[1]))
    load(dict(img_path=paths[2]))  # evicts paths[0] (least recently used)
    load(dict(img_path=paths[1]))
    assert len(decoded) == 3
    load(dict(img_path=paths[0]))
    assert len(decoded) == 4 and len(LoadImageFromFile._cache) == 2
    uncached = LoadImageFromFile()
    uncached(dict(img_path=paths[2]))
    uncached(dict(img_path=paths[2]))
    assert len(decoded) == 6
    # one cache per process: another loader (a MixUp partner's) hits what the first decoded
    partner = LoadImageFromFile(cache_size=2)
    partner(dict(img_path=paths[0]))
    assert len(decoded) == 6
    # a file rewritten in place is decoded again, not served stale
    cv2.imwrite(paths[0], np.full((6, 5, 3), 7, np.uint8))
    os.utime(paths[0], ns=(1, 1))
    assert (partner(dict(img_path=paths[0]))['img'] == 7).all() and len(decoded) == 7
