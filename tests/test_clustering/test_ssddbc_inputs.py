"""SSDDBC input contract and the grid's selection criterion."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score

from cissreg.clustering import grid_search, knn, ssddbc
from cissreg.clustering.grid_search import heldout_accuracy, holdout_split
from cissreg.clustering.knn import available_backends


def _blobs(n=120, seed=0):
    x, y = make_blobs(n, centers=3, n_features=4, cluster_std=0.5, random_state=seed)
    return x, np.where(np.arange(n) % 4 == 0, y, -1)


@pytest.mark.parametrize('backend', available_backends())
@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_features_name_the_first_bad_row(backend, bad):
    x, known = _blobs()
    x[17, 2] = bad
    x[40, 0] = bad
    with pytest.raises(ValueError, match='knn: points row 17 is not finite'):
        knn(x, 5, backend)
    with pytest.raises(ValueError, match='ssddbc: features row 17 is not finite'):
        ssddbc(x, known, 5, 50, backend=backend)
    with pytest.raises(ValueError, match='grid_search: features row 17 is not finite'):
        grid_search(x, known, ks=(5, ), percentiles=(50, ), backend=backend, progress=False)


def test_identical_points_form_one_cluster():
    x = np.ones((50, 8))
    out = ssddbc(x, np.full(50, -1), 5, 50)
    assert len(np.unique(out.clusters)) == 1 and (out.labels == 0).all()
    # two groups of identical points: two clusters, not 100 singletons
    x = np.concatenate([np.zeros((50, 2)), np.full((50, 2), 10.0)])
    out = ssddbc(x, np.full(100, -1), 5, 50)
    assert len(np.unique(out.labels)) == 2
    assert len(np.unique(out.labels[:50])) == 1 and len(np.unique(out.labels[50:])) == 1


def test_num_known_classes_below_the_labels_is_refused():
    x, known = _blobs()
    known[known == 2] = 3  # labels 0, 1, 3
    with pytest.raises(ValueError, match='num_known_classes=2 but the labels reach class 3; '
                       'it must be >= 4'):
        ssddbc(x, known, 5, 50, num_known_classes=2)
    with pytest.raises(ValueError, match='grid_search: num_known_classes=3'):
        grid_search(x, known, ks=(5, ), percentiles=(50, ), num_known_classes=3,
                    progress=False)
    out = ssddbc(x, known, 5, 50, num_known_classes=4)
    assert (out.labels[out.cluster_classes[out.clusters] < 0] >= 4).all()


def test_every_point_labelled():
    x, y = make_blobs(90, centers=3, n_features=4, cluster_std=0.5, random_state=1)
    with pytest.warns(UserWarning, match='every point is labelled'):
        result = grid_search(x, y, ks=(3, 5), percentiles=(40, 70), progress=False)
    assert np.isfinite(result.scores).all()
    assert adjusted_rand_score(y, result.best.labels) == 1.0


def test_a_single_cluster_can_be_selected():
    x, _ = make_blobs(80, centers=1, n_features=3, random_state=0)
    known = np.where(np.arange(80) % 3 == 0, 0, -1)
    result = grid_search(x, known, ks=(5, 8), percentiles=(40, 60), progress=False)
    assert np.unique(result.best.labels).tolist() == [0]
    silhouette = grid_search(x, known, ks=(5, 8), percentiles=(40, 60), progress=False,
                             selection='silhouette')
    assert np.isfinite(silhouette.scores).all()  # one cluster: silhouette 0, not -inf


def test_ks_not_below_n_are_skipped_with_a_warning():
    x, known = _blobs(n=12)
    with pytest.warns(UserWarning, match=r'k = \[12, 20\] skipped'):
        result = grid_search(x, known, ks=(3, 12, 20), percentiles=(50, ), progress=False)
    assert result.ks == (3, )
    with pytest.raises(ValueError, match='every k of \\[12, 20\\] is >= the 12 points'):
        grid_search(x, known, ks=(12, 20), percentiles=(50, ), progress=False)


def test_heldout_split_and_accuracy():
    labels = np.array([0] * 10 + [1] * 10 + [2] * 5 + [-1] * 5)
    held = holdout_split(labels, 0.2, seed=0, holdout_classes=1)
    assert (labels[held] == 2).sum() == 5  # the last class entirely
    assert (labels[held] == 0).sum() == 2 and (labels[held] == 1).sum() == 2
    assert len(holdout_split(labels[:20], 0.2, 0, holdout_classes=1)) == 4  # 2 classes: kept
    pseudo = np.array([7] * 10 + [8] * 9 + [-1] + [9] * 10)
    # classes 0 -> 7 and 1 -> 8 matched; the unassigned point of class 1 is wrong
    assert heldout_accuracy(pseudo, labels, np.arange(20)) == pytest.approx(19 / 20)
    assert heldout_accuracy(np.full(30, -1), labels, np.arange(20)) == 0.0


def _moons_and_blobs(seed):
    xm, ym = make_moons(400, noise=0.12, random_state=seed)
    xb, yb = make_blobs(300, centers=[(3.0, 1.5), (-2.0, 1.5), (3.0, -1.0)], cluster_std=0.6,
                        random_state=seed)
    x, y = np.concatenate([xm, xb]), np.concatenate([ym, yb + 2])
    known = np.where((y < 3) & (np.random.RandomState(seed).rand(len(y)) < 0.3), y, -1)
    return x, y, known


@pytest.mark.parametrize('seed', [0, 1])
def test_labelled_selection_beats_silhouette_on_moons_and_blobs(seed):
    """Two moons and one blob labelled (30%), two blobs new: the silhouette prefers convex
    clusters and picks a cell far from the grid's best; the held-out labelled accuracy picks a
    better one."""
    x, y, known = _moons_and_blobs(seed)
    kw = dict(ks=(3, 5, 8, 12, 16, 20), percentiles=(40, 55, 70, 85), progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        by_labels = grid_search(x, known, **kw)
        by_silhouette = grid_search(x, known, selection='silhouette', **kw)
    ari_labels = adjusted_rand_score(y, by_labels.best.labels)
    ari_silhouette = adjusted_rand_score(y, by_silhouette.best.labels)
    assert by_labels.selection == 'labelled'
    assert ari_labels > ari_silhouette + 0.25, (ari_labels, ari_silhouette)
