"""CocoDetDataset on a tiny COCO json, checked against pycocotools."""
import os
import re

import pytest

from cissreg.datasets import CocoDetDataset
from cissreg.testing.det_files import write_coco
from cissreg.testing.reference import require


def build(root, **kwargs):
    kwargs.setdefault('serialize_data', False)  # mmengine's serialisation runs a slow gc.collect
    return CocoDetDataset(data_root=root, ann_file='ann.json', data_prefix=dict(img_path='imgs'),
                          **kwargs)


def test_matches_pycocotools(tmp_path):
    coco_mod = require('pycocotools.coco')
    root, path = write_coco(tmp_path)
    ds = build(root)
    ref = coco_mod.COCO(path)
    cat_ids = sorted(ref.getCatIds())  # default vocabulary: categories by id
    assert ds.metainfo['classes'] == tuple(ref.loadCats(i)[0]['name'] for i in cat_ids)
    assert len(ds) == len(ref.getImgIds())
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        img = ref.loadImgs(info['img_id'])[0]
        assert (info['height'], info['width']) == (img['height'], img['width'])
        assert info['img_path'] == os.path.join(root, 'imgs', img['file_name'])
        anns = ref.loadAnns(ref.getAnnIds(imgIds=info['img_id']))
        expected = sorted(
            ([a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
              a['bbox'][1] + a['bbox'][3]], cat_ids.index(a['category_id']), a['iscrowd'])
            for a in anns)
        got = sorted((i['bbox'], i['bbox_label'], i['ignore_flag']) for i in info['instances'])
        assert got == expected


def test_metainfo_order_and_classes_subset(tmp_path):
    root, _ = write_coco(tmp_path)
    ds = build(root, metainfo=dict(classes=('bee', 'zebra', 'ant')))
    assert [i['bbox_label'] for i in ds.get_data_info(0)['instances']] == [1, 2, 0]
    sub = build(root, classes=('bee', ))
    assert sub.metainfo['classes'] == ('bee', )
    assert [[i['bbox_label'] for i in sub.get_data_info(k)['instances']] for k in range(3)] == \
        [[0], [0], []]


def test_filter_empty_gt_drops_images_without_annotations(tmp_path):
    root, _ = write_coco(tmp_path)
    assert [build(root, filter_cfg=dict(filter_empty_gt=True)).get_data_info(i)['img_id']
            for i in range(2)] == [10, 20]
    assert len(build(root, filter_cfg=dict(filter_empty_gt=True))) == 2


def test_malformed_json_names_file_and_line(tmp_path):
    root, path = write_coco(tmp_path)
    text = open(path).read()
    with open(path, 'w') as f:
        f.write(text.replace('"iscrowd": 1', '"iscrowd": 1,,', 1))
    line = next(n for n, s in enumerate(open(path), 1) if ',,' in s)
    with pytest.raises(ValueError, match=re.escape(f"malformed COCO json '{path}', line {line}")):
        build(root)


@pytest.mark.parametrize('bad, message', [
    (dict(category_id=99), 'category_id 99 is not in `categories`'),
    (dict(image_id=99), 'image_id 99 is not in `images`'),
    (dict(bbox=[1, 2, 3]), 'bbox must be 4 numbers'),
    (dict(bbox=[1, 2, -3, 4]), 'negative bbox size'),
])
def test_bad_annotation_names_file_and_annotation_id(tmp_path, bad, message):
    ann = dict(id=42, image_id=10, category_id=1, bbox=[1, 1, 2, 2], iscrowd=0)
    ann.update(bad)
    root, path = write_coco(tmp_path, annotations=[ann])
    with pytest.raises(ValueError, match=re.escape(f"COCO json '{path}', annotation id 42: "
                                                   f'{message}')):
        build(root)


def test_category_outside_metainfo_classes_is_an_error(tmp_path):
    root, _ = write_coco(tmp_path)
    with pytest.raises(ValueError, match="class 'zebra' is not in the dataset classes"):
        build(root, metainfo=dict(classes=('ant', 'bee')))


def test_box_outside_image_clipped(tmp_path):
    ann = [dict(id=1, image_id=30, category_id=1, bbox=[15, -5, 10, 10], iscrowd=0)]
    root, _ = write_coco(tmp_path, annotations=ann)
    assert build(root).get_data_info(2)['instances'] == [
        dict(bbox=[15.0, 0.0, 20.0, 5.0], bbox_label=0, ignore_flag=0)]
