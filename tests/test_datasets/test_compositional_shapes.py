"""Procedural colour-shape data: held-out compositions never caption pretraining images."""
import numpy as np
import pytest

from cissreg.datasets.cil import CompositionalShapesCILDataset
from cissreg.datasets.cil.compositional_shapes import (COLOURS, SHAPES, caption, caption_describes,
                                                       composition_names, random_attributes, render)


def test_seen_and_held_out_pairs_partition_the_words():
    seen, held = composition_names(seen=True), composition_names(seen=False)
    assert len(seen) == 32 and len(held) == 16 and not set(seen) & set(held)
    # every word of a held-out class is seen in pretraining, in other pairs
    assert {c for c, _ in held} <= {c for c, _ in seen}
    assert {s for _, s in held} <= {s for _, s in seen}
    assert set(seen) | set(held) == {(c, s) for c in COLOURS for s in SHAPES}


def test_captions_name_colour_and_shape():
    rng = np.random.RandomState(0)
    for _ in range(50):
        attrs = random_attributes(rng)
        words = caption('red', 'square', attrs, rng).rstrip('.').split()
        assert words[-2:] == ['red', 'square'] or words[-3:-1] == ['red', 'square']
        assert len(' '.join(words)) < 32  # fits the tiny CLIP's byte-level context


def test_rendered_colour_and_dataset_are_deterministic():
    img = render('red', 'square', 'large', 'plain', 'middle', np.random.RandomState(0))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    centre = img[12:20, 12:20].reshape(-1, 3).mean(0)  # BGR
    assert centre[2] > 150 and centre[0] < 80 and centre[1] < 80
    a = CompositionalShapesCILDataset(split='test', num_test=2, class_order_seed=1993)
    b = CompositionalShapesCILDataset(split='test', num_test=2, class_order_seed=1993)
    assert len(a) == 32 and a.metainfo['classes'] == b.metainfo['classes']
    assert all(np.array_equal(x['img'], y['img']) for x, y in zip(a.data_list, b.data_list))
    assert set(a.metainfo['classes']) == {f'{c} {s}' for c, s in composition_names(False)}


def test_holdout_folds_validate_every_training_image_once():
    full = CompositionalShapesCILDataset(num_train=8, class_order_seed=0)
    ids = lambda ds: [s['img'].tobytes() for s in ds.data_list]  # noqa: E731
    folds = [CompositionalShapesCILDataset(num_train=8, class_order_seed=0, holdout_fraction=0.25,
                                           holdout_fold=f, holdout=True) for f in range(4)]
    held = [i for fold in folds for i in ids(fold)]
    assert sorted(held) == sorted(ids(full))  # the four folds partition the training images
    assert all(np.bincount(f.get_gt_labels()).tolist() == [2] * 16 for f in folds)
    train = CompositionalShapesCILDataset(num_train=8, class_order_seed=0, holdout_fraction=0.25,
                                          holdout_fold=2)
    assert sorted(ids(train) + ids(folds[2])) == sorted(ids(full))
    # fold 0 is the last quarter of every class: the default carve
    last = CompositionalShapesCILDataset(num_train=8, class_order_seed=0, holdout_fraction=0.25,
                                         holdout=True)
    assert ids(last) == ids(folds[0])
    per_class = [s['img'].tobytes() for s in full.data_list if s['ori_label'] == 0]
    assert [s['img'].tobytes() for s in folds[3].data_list if s['ori_label'] == 0] == \
        per_class[:2]


def test_holdout_carves_a_validation_split_from_the_training_images():
    full = CompositionalShapesCILDataset(num_train=8, class_order_seed=0)
    train = CompositionalShapesCILDataset(num_train=8, class_order_seed=0, holdout_fraction=0.25)
    val = CompositionalShapesCILDataset(num_train=8, class_order_seed=0, holdout_fraction=0.25,
                                        holdout=True)
    assert (len(train), len(val)) == (16 * 6, 16 * 2)
    assert np.bincount(val.get_gt_labels()).tolist() == [2] * 16  # every class, 2 of 8
    paths = lambda ds: [s['img_path'] for s in ds.data_list]  # noqa: E731
    assert sorted(paths(train) + paths(val)) == sorted(paths(full))  # a partition
    assert not set(paths(train)) & set(paths(val))
    assert val.metainfo['classes'] == full.metainfo['classes']
    for kwargs, match in ((dict(split='test', holdout_fraction=0.2), "split='test'"),
                          (dict(holdout=True), 'holdout_fraction > 0'),
                          (dict(holdout_fraction=1.0), r'in \[0, 1\), got 1.0'),
                          (dict(holdout_fraction=0.25, holdout_fold=4),
                           r'holdout_fold must be in \[0, 4\) .* got 4'),
                          (dict(holdout_fold=1), 'holdout_fold=1 needs holdout_fraction > 0')):
        with pytest.raises(ValueError, match=match):
            CompositionalShapesCILDataset(num_train=2, num_test=2, **kwargs)


def test_caption_describes_an_image_when_every_word_holds():
    attrs = dict(size='small', texture='striped', position='left')
    assert caption_describes('red star.', 'red', 'star', attrs)
    assert caption_describes('small striped red star left.', 'red', 'star', attrs)
    assert not caption_describes('large red star.', 'red', 'star', attrs)
    assert not caption_describes('red circle.', 'red', 'star', attrs)
    assert not caption_describes('small red star right.', 'red', 'star', attrs)
    rng = np.random.RandomState(0)
    for _ in range(50):  # a caption always describes its own image
        a = random_attributes(rng)
        assert caption_describes(caption('blue', 'ring', a, rng), 'blue', 'ring', a)
