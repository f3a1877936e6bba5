"""VOCDetDataset on tiny VOC folders written in the real layout."""
import os
import re
import xml.etree.ElementTree as ET

import pytest

from cissreg.datasets import VOCDetDataset
from cissreg.testing.det_files import VOC_CLASSES as CLASSES
from cissreg.testing.det_files import voc_object, voc_xml, write_voc


def build(root, **kwargs):
    kwargs.setdefault('metainfo', dict(classes=CLASSES))
    kwargs.setdefault('serialize_data', False)  # mmengine's serialisation runs a slow gc.collect
    return VOCDetDataset(data_root=root, ann_file='ImageSets/Main/train.txt', **kwargs)


def test_loads_boxes_labels_difficult_and_sizes(tmp_path):
    root = write_voc(tmp_path, {
        'a': (40, 30, voc_xml(40, 30, [voc_object('dog', (1, 2, 10, 20)),
                                       voc_object('fish', (5.5, 6, 30.25, 28), difficult=1)])),
        'b': (20, 24, voc_xml(20, 24, [])),
    })
    ds = build(root, serialize_data=True)
    assert len(ds) == 2
    a, b = ds.get_data_info(0), ds.get_data_info(1)
    assert (a['height'], a['width'], a['img_id']) == (30, 40, 0)
    assert a['img_path'] == os.path.join(root, 'JPEGImages', 'a.jpg')
    # 1-based inclusive pixel indices -> continuous [xmin - 1, xmax]
    assert a['instances'] == [
        dict(bbox=[0.0, 1.0, 10.0, 20.0], bbox_label=1, ignore_flag=0),
        dict(bbox=[4.5, 5.0, 30.25, 28.0], bbox_label=3, ignore_flag=1)]
    assert (b['height'], b['width'], b['instances']) == (24, 20, [])
    assert ds.metainfo['classes'] == CLASSES and len(ds.metainfo['palette']) == 4
    assert ds.get_cat_ids(0) == [1, 3]


def test_image_size_comes_from_the_file_when_xml_disagrees(tmp_path, captured_log):
    root = write_voc(tmp_path, {'a': (40, 30, voc_xml(99, 77, [voc_object('cat', (1, 1, 9, 9))]))})
    with captured_log() as log:
        info = build(root).get_data_info(0)
    assert (info['height'], info['width']) == (30, 40)
    assert any('1 XML <size> entries disagree' in m for m in log)


def test_classes_subset_keeps_only_those_classes_relabelled(tmp_path, captured_log):
    root = write_voc(tmp_path, {
        'a': (50, 50, voc_xml(50, 50, [voc_object('cat', (1, 1, 10, 10)),
                                       voc_object('dog', (2, 2, 20, 20)),
                                       voc_object('bird', (3, 3, 30, 30)),
                                       voc_object('fish', (4, 4, 40, 40))]))})
    with captured_log() as log:
        ds = build(root, classes=('fish', 'cat'))
    assert ds.metainfo['classes'] == ('fish', 'cat')
    assert len(ds.metainfo['palette']) == 2
    assert ds.get_data_info(0)['instances'] == [
        dict(bbox=[0.0, 0.0, 10.0, 10.0], bbox_label=1, ignore_flag=0),
        dict(bbox=[3.0, 3.0, 40.0, 40.0], bbox_label=0, ignore_flag=0)]
    assert any('keeps 2 of 4 boxes' in m for m in log)


def test_classes_subset_palette_follows_the_vocabulary(tmp_path):
    root = write_voc(tmp_path, {'a': (20, 20, voc_xml(20, 20, []))})
    palette = [(1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4)]
    ds = build(root, metainfo=dict(classes=CLASSES, palette=palette), classes=('bird', 'cat'))
    assert ds.metainfo['palette'] == [(3, 3, 3), (1, 1, 1)]


def test_classes_subset_with_unknown_name_is_an_error(tmp_path):
    root = write_voc(tmp_path, {'a': (20, 20, voc_xml(20, 20, []))})
    with pytest.raises(ValueError, match=r"\['dgo'\].*closest.*'dog'"):
        build(root, classes=('cat', 'dgo'))


def test_unknown_class_names_file_and_line(tmp_path):
    xml = voc_xml(30, 30, [voc_object('cat', (1, 1, 5, 5)), voc_object('horse', (2, 2, 9, 9))])
    root = write_voc(tmp_path, {'a': (30, 30, xml)})
    line = xml.splitlines().index('    <name>horse</name>') + 1
    with pytest.raises(ValueError) as err:
        build(root)
    msg = str(err.value)
    assert os.path.join(root, 'Annotations', 'a.xml') in msg
    assert 'object 1' in msg and f'line {line}:' in msg and "'horse'" in msg
    assert '`classes=' in msg


def test_metainfo_classes_narrower_than_annotations_points_to_classes_subset(tmp_path):
    root = write_voc(tmp_path, {'a': (30, 30, voc_xml(30, 30, [voc_object('dog', (1, 1, 5, 5))]))})
    with pytest.raises(ValueError, match='use `classes='):
        build(root, metainfo=dict(classes=('cat', )))


def test_malformed_xml_names_file_line_and_column(tmp_path):
    xml = voc_xml(30, 30, [voc_object('cat', (1, 1, 5, 5))]).replace('</difficult>', '</diff>')
    root = write_voc(tmp_path, {'a': (30, 30, xml)})
    path = os.path.join(root, 'Annotations', 'a.xml')
    with pytest.raises(ET.ParseError) as ref:  # the reference parser's position
        ET.parse(path)
    line, col = ref.value.position
    with pytest.raises(ValueError) as err:
        build(root)
    assert f"'{path}', line {line}, column {col + 1}" in str(err.value)


def test_non_numeric_box_field_names_object_and_line(tmp_path):
    xml = voc_xml(30, 30, [voc_object('cat', (1, 1, 5, 5)), voc_object('dog', (2, 'two', 9, 9))])
    root = write_voc(tmp_path, {'a': (30, 30, xml)})
    line = xml.splitlines().index('      <ymin>two</ymin>') + 1
    with pytest.raises(ValueError, match=rf"a\.xml', object 1 \(line \d+\), line {line}: "
                                         r"<ymin> is not a number: 'two'"):
        build(root)


def test_missing_box_field_names_object(tmp_path):
    xml = voc_xml(30, 30, [voc_object('cat', (1, 1, 5, 5))]).replace(
        '      <xmax>5</xmax>\n', '')
    root = write_voc(tmp_path, {'a': (30, 30, xml)})
    with pytest.raises(ValueError, match=r"a\.xml', object 0 \(line 8\).*has no <xmax>"):
        build(root)


def test_boxes_outside_are_clipped_and_zero_area_dropped_with_a_count(tmp_path, captured_log):
    root = write_voc(tmp_path, {
        'a': (40, 30, voc_xml(40, 30, [voc_object('cat', (-5, 3, 60, 12)),   # clipped
                                       voc_object('dog', (41, 5, 50, 9)),    # outside: dropped
                                       voc_object('cat', (3, 3, 10, 10))])),
        'b': (40, 30, voc_xml(40, 30, [voc_object('dog', (6, 31, 9, 40))])),  # below: dropped
        'c': (40, 30, voc_xml(40, 30, [voc_object('dog', (6, 6, 9, 9))])),
    })
    with captured_log() as log:
        ds = build(root)
    assert ds.get_data_info(0)['instances'] == [
        dict(bbox=[0.0, 2.0, 40.0, 12.0], bbox_label=0, ignore_flag=0),
        dict(bbox=[2.0, 2.0, 10.0, 10.0], bbox_label=0, ignore_flag=0)]
    assert ds.get_data_info(1)['instances'] == []
    assert 'VOCDetDataset: clipped 1 boxes, dropped 2 zero-area boxes in 2 images' in log


def test_filter_empty_gt_only_in_training(tmp_path, captured_log):
    root = write_voc(tmp_path, {
        'a': (20, 20, voc_xml(20, 20, [voc_object('cat', (1, 1, 5, 5))])),
        'b': (20, 20, voc_xml(20, 20, [])),
        'c': (20, 20, voc_xml(20, 20, [voc_object('cat', (1, 1, 5, 5), difficult=1)])),
    })
    cfg = dict(filter_empty_gt=True)
    with captured_log() as log:
        assert len(build(root, filter_cfg=cfg)) == 1
    assert any('removed 2 of 3 images' in m for m in log)
    assert len(build(root, filter_cfg=cfg, test_mode=True)) == 3
    assert len(build(root)) == 3
    with pytest.raises(ValueError, match=r"unknown filter_cfg key\(s\) \['bogus'\]"):
        build(root, filter_cfg=dict(bogus=1))


def test_missing_ann_file_names_path_and_config_key(tmp_path):
    root = write_voc(tmp_path / 'voc', {'a': (20, 20, voc_xml(20, 20, []))})
    with pytest.raises(FileNotFoundError) as err:
        VOCDetDataset(data_root=root, ann_file='ImageSets/Main/trian.txt',
                      metainfo=dict(classes=CLASSES))
    assert str(err.value) == (
        f"VOCDetDataset: ann_file '{root}/ImageSets/Main/trian.txt' not found "
        f"(config key `ann_file`, relative to `data_root`='{root}')")


def test_missing_data_root_and_image_dir_name_path_and_key(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"data_root '{missing}' not found (config key `data_root`)")):
        build(missing)
    root = write_voc(tmp_path / 'voc', {'a': (20, 20, voc_xml(20, 20, []))})
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"image directory '{root}/Images' not found (config key "
            f"`data_prefix.img_path`='Images', relative to `data_root`='{root}')")):
        build(root, data_prefix=dict(img_path='Images', ann_path='Annotations'))


def test_missing_image_and_annotation_files_are_named(tmp_path):
    root = write_voc(tmp_path, {'a': (20, 20, voc_xml(20, 20, [])),
                                'b': (20, 20, voc_xml(20, 20, []))})
    os.remove(os.path.join(root, 'JPEGImages', 'b.jpg'))
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"1 of 2 image files not found: '{root}/JPEGImages/b.jpg'")):
        build(root)
    os.remove(os.path.join(root, 'Annotations', 'a.xml'))
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"annotation of image id 'a' '{root}/Annotations/a.xml' not found")):
        build(root)
