"""CIFAR-100 pickle layout, ImageNet-R folder layout and scikit-learn digits."""
import json
import pickle

import cv2
import numpy as np
import pytest

from cissreg.datasets.cil import (CIFAR100CILDataset, ClassSubset, DigitsCILDataset,
                                  ImageNetRCILDataset, class_range_subset)
from cissreg.testing.cil_files import write_cifar

pytestmark = pytest.mark.usefixtures('cissreg_scope')


def test_cifar100_pickle_layout(tmp_path):
    images = write_cifar(tmp_path, {'train': [3, 0, 99, 3], 'test': [5, 3]})
    ds = CIFAR100CILDataset(data_root=str(tmp_path), split='train', class_order_seed=1993,
                            pipeline=[dict(type='PackCILInputs')])
    np.random.seed(1993)  # PyCIL's class order: np.random.seed(seed); permutation
    order = np.random.permutation(100).tolist()
    assert ds.metainfo['class_order'] == order
    assert ds.metainfo['classes'][order.index(3)] == 'aquarium_fish'
    assert ds.get_gt_labels().tolist() == [order.index(c) for c in (3, 0, 99, 3)]
    item = ds[1]
    rgb = images['train'][1].reshape(3, 32, 32)
    assert np.array_equal(item['inputs'].numpy(), rgb[::-1])  # stored BGR (cv2 order)
    assert item['data_samples'].ori_label == 0 and item['data_samples'].img_path == \
        'train/img_1.png'
    test = CIFAR100CILDataset(data_root=str(tmp_path / 'cifar-100-python'), split='test',
                              class_order_seed=1993)
    assert len(test) == 2 and test.metainfo['classes'] == ds.metainfo['classes']
    assert CIFAR100CILDataset(data_root=str(tmp_path)).get_gt_labels().tolist() == [3, 0, 99, 3]


def test_cifar100_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='cifar-100-python'):
        CIFAR100CILDataset(data_root=str(tmp_path / 'missing'))
    folder = tmp_path / 'evil'
    folder.mkdir()
    with open(folder / 'train', 'wb') as f:
        pickle.dump({'data': __import__('os').getcwd}, f)
    with open(folder / 'meta', 'wb') as f:
        pickle.dump({'fine_label_names': ['a']}, f)
    with pytest.raises(pickle.UnpicklingError, match='only numpy arrays'):
        CIFAR100CILDataset(data_root=str(folder))


def _write_imagenet_r(root):
    for c, wnid in enumerate(['n01443537', 'n01484850', 'n01494475']):
        (root / wnid).mkdir(parents=True)
        for i in range(5):
            img = np.full((20, 24, 3), 40 * c + i, np.uint8)
            cv2.imwrite(str(root / wnid / f'art_{i}.png'), img)
    (root / 'names.json').write_text(json.dumps({'n01443537': 'goldfish',
                                                 'n01484850': 'great white shark'}))


def test_imagenet_r_folder_layout(tmp_path):
    _write_imagenet_r(tmp_path)
    kwargs = dict(data_root=str(tmp_path), class_names_file=str(tmp_path / 'names.json'),
                  test_ratio=0.4, split_seed=3)
    train = ImageNetRCILDataset(split='train', **kwargs)
    test = ImageNetRCILDataset(split='test', **kwargs)
    assert train.metainfo['classes'] == ('goldfish', 'great white shark', 'n01494475')
    assert len(train) == 9 and len(test) == 6
    paths = [s['img_path'] for s in train.data_list] + [s['img_path'] for s in test.data_list]
    assert len(set(paths)) == 15  # disjoint and complete
    assert np.bincount(test.get_gt_labels()).tolist() == [2, 2, 2]
    again = ImageNetRCILDataset(split='test', **kwargs)
    assert [s['img_path'] for s in again.data_list] == [s['img_path'] for s in test.data_list]
    loaded = ImageNetRCILDataset(split='test', pipeline=[dict(type='LoadImageFromFile'),
                                                         dict(type='PackCILInputs')], **kwargs)
    item = loaded[0]
    assert item['inputs'].shape == (3, 20, 24)
    (tmp_path / 'test.txt').write_text('n01494475/art_1.png\nn01443537/art_4.png\n')
    listed = ImageNetRCILDataset(split='test', ann_file='test.txt', data_root=str(tmp_path))
    assert listed.get_gt_labels().tolist() == [2, 0]
    with pytest.raises(FileNotFoundError, match='nowhere'):
        ImageNetRCILDataset(data_root=str(tmp_path / 'nowhere'))


def test_digits_offline_split_and_subsets():
    train = DigitsCILDataset(split='train', class_order_seed=0)
    test = DigitsCILDataset(split='test', class_order_seed=0)
    assert (len(train), len(test)) == (1442, 355)
    ids = {s['img_path'] for s in train.data_list} | {s['img_path'] for s in test.data_list}
    assert len(ids) == 1797
    assert train.metainfo['classes'] == test.metainfo['classes']
    assert sorted(train.metainfo['classes']) == sorted(
        ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'])
    first = train.data_list[0]
    assert first['img'].shape == (8, 8, 3) and first['img'].dtype == np.uint8
    subset = class_range_subset(train, 2, 4)
    assert isinstance(subset, ClassSubset) and subset.metainfo == train.metainfo
    labels = train.get_gt_labels()
    assert len(subset) == int(((labels >= 2) & (labels < 4)).sum())
    assert {subset[i]['gt_label'] for i in range(len(subset))} == {2, 3}
