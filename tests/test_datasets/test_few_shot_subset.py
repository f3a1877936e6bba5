"""FewShotSubset: every class in at least `shots` kept images, drawn from a fixed seed."""
import numpy as np
import pytest

from cissreg.datasets import FewShotSubset, few_shot_indices
from cissreg.registry import DATASETS

CLASSES = ('a', 'b', 'c')


def _labels(num: int = 200, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [list(rng.choice(3, size=rng.integers(1, 4), p=[0.7, 0.25, 0.05]))
            for _ in range(num)]


@pytest.mark.parametrize('shots', [3, dict(a=1, b=2, c=4)])
def test_each_class_gets_its_shots_and_every_kept_image_was_needed(shots):
    labels = _labels()
    kept = few_shot_indices(labels, CLASSES, shots, seed=1)
    need = [shots] * 3 if isinstance(shots, int) else [shots[c] for c in CLASSES]
    counts = [sum(c in set(labels[i]) for i in kept) for c in range(3)]
    assert all(have >= n for have, n in zip(counts, need))
    # replaying the visit order: each kept image held a class still short of its shots
    have = np.zeros(3, int)
    for i in np.random.default_rng(1).permutation(len(labels)):
        present = sorted(set(labels[i]))
        if i in kept:
            assert any(have[c] < need[c] for c in present)
            have[present] += 1
        else:
            assert all(have[c] >= need[c] for c in present)
    assert kept == few_shot_indices(labels, CLASSES, shots, seed=1)
    assert kept != few_shot_indices(labels, CLASSES, shots, seed=2)


def test_errors():
    with pytest.raises(ValueError, match=r"names \['d'\]"):
        few_shot_indices(_labels(), CLASSES, dict(d=1))
    with pytest.raises(ValueError, match='>= 0'):
        few_shot_indices(_labels(), CLASSES, -1)


def test_wraps_a_detection_dataset(tmp_path):
    dataset = dict(type='ShapesDetDataset', data_root=str(tmp_path / 'shapes'), img_size=64,
                   num_train=20, num_val=2, object_size=(12, 40), num_objects=(1, 2))
    subset = FewShotSubset(dataset, shots=1)
    assert 0 < len(subset) < 20
    assert len(subset.dataset) == len(subset)  # Mosaic partners come from the subset too
    assert subset.metainfo['classes'] == DATASETS.build(dataset).metainfo['classes']
    full = DATASETS.build(dataset)
    paths = [subset.get_data_info(i)['img_path'] for i in range(len(subset))]
    assert paths == [full.get_data_info(i)['img_path'] for i in subset.indices]
    assert subset[0]['img_path'] == paths[0]
    labels = {inst['bbox_label'] for i in range(len(subset))
              for inst in subset.get_data_info(i)['instances']}
    assert labels == set(range(6))
