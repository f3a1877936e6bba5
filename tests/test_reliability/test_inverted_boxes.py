"""One rule for inverted boxes in VOC and YOLO files: an error naming file and object (item 9)."""
import pytest

from cissreg.datasets import VOCDetDataset, YOLOTxtDataset
from cissreg.testing.det_files import (VOC_CLASSES, YOLO_CLASSES, make_layout, voc_object, voc_xml,
                                       write_voc)


@pytest.mark.parametrize('box, what', [((20, 6, 10, 9), '<xmax> 10 < <xmin> 20'),
                                       ((6, 20, 9, 10), '<ymax> 10 < <ymin> 20')])
def test_voc_inverted_box_names_file_object_and_line(tmp_path, box, what):
    root = write_voc(tmp_path, {'a': (40, 30, voc_xml(40, 30, [
        voc_object('cat', (3, 3, 10, 10)), voc_object('dog', box)]))})
    with pytest.raises(ValueError) as err:
        VOCDetDataset(data_root=root, ann_file='ImageSets/Main/train.txt',
                      metainfo=dict(classes=VOC_CLASSES), serialize_data=False)
    message = str(err.value)
    assert f"'{root}/Annotations/a.xml', object 1 (line 18)" in message
    assert 'inverted box' in message and what in message


def test_yolo_negative_size_names_file_and_line(tmp_path):
    root = tmp_path / 'yolo'
    make_layout(root)
    label = next((root / 'labels').rglob('*.txt'))
    label.write_text('0 0.5 0.5 0.2 0.2\n0 0.5 0.5 -0.1 0.2\n')
    with pytest.raises(ValueError, match=rf"{label}.*line 2.*negative box size"):
        YOLOTxtDataset(data_root=str(root), data_prefix=dict(img_path='images/train'),
                       metainfo=dict(classes=YOLO_CLASSES), serialize_data=False)
