"""NaN / infinite numbers in annotation files are refused naming the file and line (or entry):
VOC, COCO, YOLO, CIFAR-100 labels (CIL), dataset labels under the GCD wrapper."""
import re
from pathlib import Path

import numpy as np
import pytest

from cissreg.datasets import (CIFAR100CILDataset, CocoDetDataset, GCDDatasetWrapper, VOCDetDataset,
                              YOLOTxtDataset)
from cissreg.datasets.finite_numbers import finite_float, integer_labels
from cissreg.testing import det_files
from cissreg.testing.cil_files import write_cifar


@pytest.mark.parametrize('value', ['nan', 'NaN', 'inf', '-Infinity'])
def test_voc_nonfinite_coordinate_names_file_object_and_line(tmp_path, value):
    voc = det_files
    xml = voc.voc_xml(40, 30, [voc.voc_object('cat', (3, 3, 10, 10)),
                               voc.voc_object('dog', (4, 4, 12, 12))])
    xml = xml.replace('<xmax>12</xmax>', f'<xmax>{value}</xmax>')
    root = voc.write_voc(tmp_path, {'a': (40, 30, xml)})
    line = xml.splitlines().index(next(ln for ln in xml.splitlines() if value in ln)) + 1
    with pytest.raises(ValueError) as err:
        VOCDetDataset(data_root=root, ann_file='ImageSets/Main/train.txt',
                      metainfo=dict(classes=det_files.VOC_CLASSES), serialize_data=False)
    assert str(err.value).startswith(
        f"VOC XML '{root}/Annotations/a.xml', object 1 (line ")
    assert f", line {line}: <xmax> is not a finite number: '{value}'" in str(err.value)


@pytest.mark.parametrize('line, problem', [
    ('0 0.5 nan 0.2 0.2', "field 3 is not a finite number: 'nan'"),
    ('0 0.5 0.5 inf 0.2', "field 4 is not a finite number: 'inf'"),
    ('nan 0.5 0.5 0.2 0.2', "field 1 is not a finite number: 'nan'"),  # the class id
    ('0 0.1 0.1 0.5 nan 0.5 0.5', "field 5 is not a finite number: 'nan'"),  # a polygon
])
def test_yolo_nonfinite_value_names_file_and_line(tmp_path, line, problem):
    yolo = det_files
    root = tmp_path / 'yolo'
    yolo.make_layout(root)
    label = next((root / 'labels').rglob('*.txt'))
    label.write_text(f'0 0.5 0.5 0.2 0.2\n{line}\n')
    with pytest.raises(ValueError, match=re.escape(f"YOLO label file '{label}', line 2: "
                                                   f'{problem}')):
        YOLOTxtDataset(data_root=str(root), data_prefix=dict(img_path='images/train'),
                       metainfo=dict(classes=det_files.YOLO_CLASSES), serialize_data=False)


@pytest.mark.parametrize('field, value, problem', [
    ('bbox', [1, float('nan'), 2, 2], 'bbox[1] of [1, nan, 2, 2] is not a finite number: nan'),
    ('bbox', [1, 1, float('inf'), 2], 'bbox[2] of [1, 1, inf, 2] is not a finite number: inf'),
    ('area', float('nan'), 'area is not a finite number: nan'),
])
def test_coco_nonfinite_number_names_file_and_annotation(tmp_path, field, value, problem):
    coco = det_files
    ann = dict(id=42, image_id=10, category_id=1, bbox=[1, 1, 2, 2], iscrowd=0, area=4)
    ann[field] = value
    root, path = coco.write_coco(tmp_path, annotations=[ann])
    assert 'NaN' in Path(path).read_text() or 'Infinity' in Path(path).read_text()
    with pytest.raises(ValueError, match=re.escape(f"COCO json '{path}', annotation id 42: "
                                                   f'{problem}')):
        CocoDetDataset(data_root=root, ann_file='ann.json', data_prefix=dict(img_path='imgs'),
                       serialize_data=False)


def test_cifar100_nan_label_names_the_file(tmp_path):
    write_cifar(tmp_path, {'train': [3.0, float('nan'), 99.0]})
    with pytest.raises(ValueError, match=re.escape(
            f"CIFAR-100 '{tmp_path / 'cifar-100-python' / 'train'}' fine_labels: label 1 is "
            'nan, not an integer class id')):
        CIFAR100CILDataset(data_root=str(tmp_path), split='train')


def test_gcd_wrapper_refuses_nan_labels(cissreg_scope):
    class Labelled:
        def __init__(self, labels):
            self.labels = labels

        def get_gt_labels(self):
            return np.array(self.labels)

        def __len__(self):
            return len(self.labels)

    with pytest.raises(ValueError, match=r'Labelled gt_label: label 2 is nan, not an integer'):
        GCDDatasetWrapper(Labelled([0.0, 1.0, np.nan, 1.0]), num_old_classes=1)
    assert GCDDatasetWrapper(Labelled([0, 1, 1, 0]), num_old_classes=1).labels.tolist() == [
        0, 1, 1, 0]


def test_helpers():
    assert finite_float('1e3', 'x', 'y') == 1000.0
    with pytest.raises(ValueError, match=r"^f, line 2: <w> is not a number: 'two'$"):
        finite_float('two', 'f, line 2', '<w>')
    assert integer_labels([1.0, 2.0], 'w').dtype == np.int64
    with pytest.raises(ValueError, match=r'^w: label 1 is 1.5, not an integer class id$'):
        integer_labels([1.0, 1.5], 'w')
    with pytest.raises(ValueError, match=r"^w: label 0 is 'x', not an integer class id$"):
        integer_labels(['x', 1], 'w')
