"""Procedural colour-shape data: held-out compositions never caption pretraining images."""
import numpy as np

from cissreg.datasets.cil import CompositionalShapesCILDataset
from cissreg.datasets.cil.compositional_shapes import (COLOURS, SHAPES, caption, composition_names,
                                                       random_attributes, render)


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
