"""ShapesDetDataset: deterministic, tight, atomic, written once, read by VOCDetDataset."""
import filecmp
import os
import stat

import cv2
import numpy as np
import pytest

from cissreg.datasets import SHAPE_CLASSES, ShapesDetDataset, VOCDetDataset
from cissreg.datasets import shapes_det_dataset as shapes

SMALL = dict(num_train=6, num_val=3, img_size=96, object_size=(16, 40), serialize_data=False)


def tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


def test_same_seed_gives_byte_identical_files_other_seed_differs(tmp_path):
    a = ShapesDetDataset(data_root=str(tmp_path / 'a'), seed=3, **SMALL)
    b = ShapesDetDataset(data_root=str(tmp_path / 'b'), seed=3, **SMALL)
    c = ShapesDetDataset(data_root=str(tmp_path / 'c'), seed=4, **SMALL)
    files = tree(a.data_root)
    assert files == tree(b.data_root)
    assert sum(f.endswith('.xml') for f in files) == 9
    _, mismatch, errors = filecmp.cmpfiles(a.data_root, b.data_root, files, shallow=False)
    assert mismatch == [] and errors == []
    xmls = [f for f in files if f.endswith('.xml')]
    _, mismatch, _ = filecmp.cmpfiles(a.data_root, c.data_root, xmls, shallow=False)
    assert mismatch  # another seed, other annotations
    assert len(a) == 6 and a.metainfo['classes'] == SHAPE_CLASSES


def test_rendered_boxes_are_tight_around_the_drawn_pixels():
    for i in range(20):
        img, objects = shapes.render_shapes_image(np.random.default_rng([0, 0, i]), 128,
                                                  (1, 6), (16, 60))
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8 and objects
        for obj in objects:
            ys, xs = np.nonzero(obj['mask'])
            assert obj['bbox'] == [xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]
            # the visible pixels carry exactly the shape's colour
            assert (img[obj['mask']] == np.array(obj['colour'], np.uint8)).all()
            x1, y1, x2, y2 = (int(v) for v in obj['bbox'])
            assert 8 <= x2 - x1 <= 60 and 8 <= y2 - y1 <= 60
            # every edge of the box touches a pixel of that colour (nothing to shrink)
            inside = (img[y1:y2, x1:x2] == obj['colour']).all(-1)
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()


def test_layout_reads_back_through_vocdetdataset(tmp_path):
    root = str(tmp_path / 'shapes')
    ShapesDetDataset(data_root=root, img_format='png', seed=1, **SMALL)
    voc = VOCDetDataset(data_root=root, ann_file='ImageSets/Main/val.txt', img_suffix='.png',
                        metainfo=dict(classes=SHAPE_CLASSES), serialize_data=False)
    assert len(voc) == 3
    for i in range(3):
        img, objects = shapes.render_shapes_image(
            np.random.default_rng([1, 1, i]), 96, (1, 6), (16, 40))  # split code 1 = val
        info = voc.get_data_info(i)
        np.testing.assert_array_equal(cv2.imread(info['img_path']), img)  # png is lossless
        assert [(o['bbox'], o['bbox_label']) for o in info['instances']] == \
            [(o['bbox'], o['label']) for o in objects]


def test_generated_once_then_reused(tmp_path, captured_log):
    root = str(tmp_path / 'shapes')
    with captured_log() as log:
        first = ShapesDetDataset(data_root=root, **SMALL)
        stamp = os.stat(os.path.join(root, 'Annotations', 'train_000000.xml')).st_mtime_ns
        second = ShapesDetDataset(data_root=root, ann_file='ImageSets/Main/val.txt', **SMALL)
    assert sum('ShapesDetDataset: generated' in m for m in log) == 1
    assert not second.ensure_generated() and not first.ensure_generated()
    assert os.stat(os.path.join(root, 'Annotations', 'train_000000.xml')).st_mtime_ns == stamp
    assert (len(first), len(second)) == (6, 3)
    assert [n for n in os.listdir(tmp_path) if n != 'shapes'] == []  # no temp folder left
    os.makedirs(tmp_path / 'plain')
    assert stat.S_IMODE(os.stat(root).st_mode) == stat.S_IMODE(os.stat(tmp_path / 'plain').st_mode)


def test_trailing_slash_in_data_root(tmp_path):
    ds = ShapesDetDataset(data_root=f'{tmp_path}/shapes/', **SMALL)
    assert len(ds) == 6 and os.listdir(tmp_path) == ['shapes']


def test_changed_parameters_are_reported(tmp_path):
    root = str(tmp_path / 'shapes')
    ShapesDetDataset(data_root=root, **SMALL)
    params = dict(SMALL, num_train=7)
    with pytest.raises(ValueError, match="num_train: 6 on disk vs 7 in the config"):
        ShapesDetDataset(data_root=root, **params)
    with pytest.raises(ValueError, match=r"seed: 0 on disk vs 5 in the config.*delete the folder"):
        ShapesDetDataset(data_root=root, seed=5, **SMALL)


def test_foreign_folder_is_not_overwritten(tmp_path):
    root = tmp_path / 'mine'
    root.mkdir()
    (root / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='not a generated shapes dataset'):
        ShapesDetDataset(data_root=str(root), **SMALL)
    assert (root / 'notes.txt').read_text() == 'keep me'


def test_killed_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    def crash(out_dir, params):
        os.makedirs(os.path.join(out_dir, 'JPEGImages'))
        raise KeyboardInterrupt

    monkeypatch.setattr(shapes, 'generate_shapes_dataset', crash)
    with pytest.raises(KeyboardInterrupt):
        ShapesDetDataset(data_root=str(tmp_path / 'shapes'), **SMALL)
    assert os.listdir(tmp_path) == []


def test_concurrent_run_that_finished_first_is_reused(tmp_path, monkeypatch):
    root = str(tmp_path / 'shapes')
    real = shapes.generate_shapes_dataset

    def racing(out_dir, params):  # another process publishes the dataset meanwhile
        real(out_dir, params)
        os.makedirs(root)
        real(root, params)

    monkeypatch.setattr(shapes, 'generate_shapes_dataset', racing)
    ds = ShapesDetDataset(data_root=root, **SMALL)
    assert len(ds) == 6
    assert os.listdir(tmp_path) == ['shapes']


def test_classes_subset_and_bad_parameters(tmp_path):
    ds = ShapesDetDataset(data_root=str(tmp_path / 's'), classes=('ring', 'circle'), **SMALL)
    labels = {i['bbox_label'] for k in range(len(ds)) for i in ds.get_data_info(k)['instances']}
    assert ds.metainfo['classes'] == ('ring', 'circle') and labels <= {0, 1}
    with pytest.raises(ValueError, match='object_size'):
        ShapesDetDataset(data_root=str(tmp_path / 't'), img_size=64, object_size=(16, 80))
