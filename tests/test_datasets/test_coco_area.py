"""``CocoDetDataset`` keeps the json ``area`` (COCO's size buckets use the segment area)."""
import json

import cv2
import numpy as np

from cissreg.datasets import CocoDetDataset


def test_json_area_is_kept_through_cleaning_and_subset(tmp_path):
    (tmp_path / 'img').mkdir()
    cv2.imwrite(str(tmp_path / 'img' / 'a.jpg'), np.zeros((40, 60, 3), np.uint8))
    coco = dict(
        images=[dict(id=7, file_name='a.jpg', width=60, height=40)],
        categories=[dict(id=1, name='cat'), dict(id=3, name='dog')],
        annotations=[dict(id=1, image_id=7, category_id=3, bbox=[50, 5, 20, 10], area=123.5),
                     dict(id=2, image_id=7, category_id=1, bbox=[1, 1, 5, 5], area=17.0),
                     dict(id=3, image_id=7, category_id=3, bbox=[2, 2, 4, 4])])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    ds = CocoDetDataset(ann_file='ann.json', data_root=str(tmp_path),
                        data_prefix=dict(img_path='img'), classes=('dog', ))
    instances = ds.get_data_info(0)['instances']
    assert [i['bbox'] for i in instances] == [[50.0, 5.0, 60.0, 15.0], [2.0, 2.0, 6.0, 6.0]]
    assert instances[0]['area'] == 123.5  # clipped box (10 x 10) but the json area is kept
    assert 'area' not in instances[1]


def test_polygons_are_kept_and_crowd_rles_are_not(tmp_path):
    (tmp_path / 'img').mkdir()
    cv2.imwrite(str(tmp_path / 'img' / 'a.jpg'), np.zeros((40, 60, 3), np.uint8))
    polygons = [[10, 10, 20, 10, 20, 20], [30, 30, 40, 30, 40, 38]]
    coco = dict(
        images=[dict(id=1, file_name='a.jpg', width=60, height=40)],
        categories=[dict(id=1, name='cat')],
        annotations=[dict(id=1, image_id=1, category_id=1, bbox=[10, 10, 30, 28],
                          segmentation=polygons),
                     dict(id=2, image_id=1, category_id=1, bbox=[0, 0, 5, 5], iscrowd=1,
                          segmentation=dict(counts=[0, 25], size=[40, 60]))])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    ds = CocoDetDataset(ann_file='ann.json', data_root=str(tmp_path),
                        data_prefix=dict(img_path='img'))
    first, crowd = ds.get_data_info(0)['instances']
    assert first['segmentation'] == polygons and 'segmentation' not in crowd
