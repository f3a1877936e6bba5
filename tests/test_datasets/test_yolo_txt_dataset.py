"""YOLOTxtDataset on tiny ultralytics-layout folders."""
import os
import re

import numpy as np
import pytest

from cissreg.datasets import YOLOTxtDataset
from cissreg.datasets.yolo_txt_dataset import image_to_label_path
from cissreg.testing.det_files import YOLO_CLASSES as CLASSES
from cissreg.testing.det_files import make_layout, write_image, write_label
from cissreg.testing.reference import require


def build(root, **kwargs):
    kwargs.setdefault('metainfo', dict(classes=CLASSES))
    kwargs.setdefault('serialize_data', False)  # mmengine's serialisation runs a slow gc.collect
    return YOLOTxtDataset(data_root=root, **kwargs)


def reference_xyxy(cx, cy, w, h, width, height):
    """Denormalise in float64, independently of the loader."""
    return [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width,
            (cy + h / 2) * height]


def test_directory_layout_boxes_and_background_images(tmp_path):
    root = make_layout(tmp_path)
    ds = YOLOTxtDataset(data_root=root, data_prefix=dict(img_path='images/train'),
                        metainfo=dict(classes=CLASSES))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert [os.path.basename(i['img_path']) for i in infos] == ['a.jpg', 'b.png', 'c.jpg']
    assert [(i['height'], i['width']) for i in infos] == [(32, 64), (40, 40), (16, 16)]
    a, b, c = (i['instances'] for i in infos)
    assert [x['bbox_label'] for x in a] == [1, 0]
    np.testing.assert_allclose([x['bbox'] for x in a],
                               [reference_xyxy(0.5, 0.5, 0.25, 0.5, 64, 32),
                                reference_xyxy(0.125, 0.25, 0.25, 0.5, 64, 32)], atol=1e-9)
    np.testing.assert_allclose(b[0]['bbox'], reference_xyxy(0.3, 0.6, 0.2, 0.1, 40, 40),
                               atol=1e-9)
    assert c == []


def test_split_file_paths_relative_to_the_split_file(tmp_path):
    root = make_layout(tmp_path)
    with open(tmp_path / 'train.txt', 'w') as f:
        f.write('./images/train/b.png\nimages/train/a.jpg\n')
    ds = build(root, ann_file='train.txt')
    assert [os.path.basename(ds.get_data_info(i)['img_path']) for i in range(2)] == \
        ['b.png', 'a.jpg']
    assert ds.get_data_info(0)['instances'][0]['bbox_label'] == 2


def test_label_path_rule_matches_ultralytics():
    utils = require('ultralytics.data.utils')
    paths = ['/d/images/train/x.jpg', 'rel/images/val/sub/y.PNG', '/a/images/b/images/c.jpeg',
             '/no/img/dir/z.jpg']
    assert [image_to_label_path(p) for p in paths] == utils.img2label_paths(paths)


def test_segment_lines_give_polygons_and_their_extent_as_box(tmp_path):
    """ultralytics' segment labels (COCO's are): ``class x1 y1 ... xk yk``, box = extent."""
    write_image(tmp_path / 'images/train/a.jpg', 100, 50)
    write_label(tmp_path / 'labels/train/a.txt',
                '2 0.1 0.2 0.5 0.1 0.3 0.8\n0 0.5 0.5 0.2 0.2\n')
    (seg, box) = build(str(tmp_path)).get_data_info(0)['instances']
    np.testing.assert_allclose(seg['segmentation'], [[10, 10, 50, 5, 30, 40]], atol=1e-9)
    np.testing.assert_allclose(seg['bbox'], [10, 5, 50, 40], atol=1e-9)
    assert seg['bbox_label'] == 2 and 'segmentation' not in box
    ops = require('ultralytics.utils.ops')
    ref = ops.segments2boxes([np.array([[10, 10], [50, 5], [30, 40]], np.float64)])
    np.testing.assert_allclose(ref[0], [30, 22.5, 40, 35])  # the same box as xywh


@pytest.mark.parametrize('line, problem', [
    ('1 0.5 0.5 0.2', 'expected 5 fields `class cx cy w h` or a polygon'),
    ('1 0.5 0.5 0.2 0.2 0.9', 'got 6 fields'),
    ('1 0.1 0.1 0.5 0.1 0.5 0.5 0.9', 'got 8 fields'),
    ('1 0.1 0.1 0.5 0.1 1.5 0.5', 'polygon points are not normalised'),
    ('1 0.5 abc 0.2 0.2', "field 3 is not a number: 'abc'"),
    ('3 0.5 0.5 0.2 0.2', 'class id 3 is not an integer in [0, 2]'),
    ('-1 0.5 0.5 0.2 0.2', 'class id -1 is not an integer in [0, 2]'),
    ('1.5 0.5 0.5 0.2 0.2', 'class id 1.5 is not an integer'),
    ('1 0.5 0.5 -0.2 0.2', 'negative box size'),
    ('1 320 240 50 60', 'not normalised to [0, 1]'),
])
def test_malformed_line_names_file_and_line_number(tmp_path, line, problem):
    root = make_layout(tmp_path)
    label = tmp_path / 'labels/train/b.txt'
    write_label(label, f'0 0.5 0.5 0.1 0.1\n\n{line}\n')
    with pytest.raises(ValueError) as err:
        build(root)
    assert f"YOLO label file '{label}', line 3: " in str(err.value)
    assert problem in str(err.value)


def test_partly_outside_boxes_are_clipped_and_zero_size_dropped(tmp_path, captured_log):
    root = make_layout(tmp_path)
    write_label(tmp_path / 'labels/train/c.txt', '0 0.9 0.5 0.5 0.5\n1 0.5 0.5 0 0.3\n')
    with captured_log() as log:
        ds = build(root)
    assert ds.get_data_info(2)['instances'] == [
        dict(bbox=[10.4, 4.0, 16.0, 12.0], bbox_label=0, ignore_flag=0)]
    assert 'YOLOTxtDataset: clipped 1 boxes, dropped 1 zero-area boxes in 1 images' in log


def test_classes_subset(tmp_path):
    root = make_layout(tmp_path)
    ds = build(root, classes=('car', ))
    assert ds.metainfo['classes'] == ('car', )
    assert [[x['bbox_label'] for x in ds.get_data_info(i)['instances']] for i in range(3)] == \
        [[0], [], []]


def test_clear_errors_for_missing_names_paths_and_images(tmp_path):
    root = make_layout(tmp_path)
    with pytest.raises(ValueError, match='class names are required'):
        YOLOTxtDataset(data_root=root)
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"image directory '{root}/images/val' not found (config key "
            f"`data_prefix.img_path`='images/val', relative to `data_root`='{root}')")):
        build(root, data_prefix=dict(img_path='images/val'))
    with open(tmp_path / 'val.txt', 'w') as f:
        f.write('./images/val/q.jpg\n')
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"image '{root}/images/val/q.jpg' listed in ann_file '{root}/val.txt'")):
        build(root, ann_file='val.txt')
