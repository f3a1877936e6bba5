"""SSDDBC end to end: recovery, the label constraint, grid search, backends and CLI."""
import json

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from cissreg.clustering import (PseudoLabelFileError, clustering_score, full_neighbours,
                                grid_search, knn, load_pseudo_labels, save_feature_cache, ssddbc)
from cissreg.clustering.cli import main as cluster_main


def _blobs(seed=0, n=600, centers=5, std=1.5):
    x, y = make_blobs(n, centers=centers, n_features=8, cluster_std=std, random_state=seed)
    known = np.where((np.random.RandomState(seed).rand(n) < 0.3) & (y < centers // 2 + 1), y, -1)
    return x, y, known


def test_make_blobs_recovered_by_grid_search():
    x, y, known = _blobs()
    result = grid_search(x, known, ks=(5, 10, 15), percentiles=(40, 60, 80), progress=False)
    assert adjusted_rand_score(y, result.best.labels) >= 0.95
    # labelled clusters carry the known class; new ones start after the known classes
    for c in range(3):
        assert np.bincount(result.best.labels[y == c]).argmax() == c
    assert result.best.labels[y >= 3].min() >= 3


@pytest.mark.parametrize('seed', range(6))
def test_two_labels_never_share_a_cluster(seed):
    rng = np.random.RandomState(seed)
    x, y = make_blobs(300, centers=rng.randint(2, 6), n_features=4, cluster_std=3.0,
                      random_state=seed)
    labels = np.where(rng.rand(300) < 0.4, rng.randint(0, 4, 300), -1)  # labels mix inside blobs
    for k, p in [(3, 40), (8, 70), (15, 90)]:
        out = ssddbc(x, labels, k, p).labels
        for c in np.unique(out[out >= 0]):
            assert len(np.unique(labels[(out == c) & (labels >= 0)])) <= 1, (k, p, c)


def test_parallel_grid_equals_serial_and_is_deterministic():
    x, _, known = _blobs(seed=1, n=400)
    kw = dict(ks=(3, 6, 9), percentiles=(40, 70, 95), progress=False)
    serial = grid_search(x, known, **kw)
    parallel = grid_search(x, known, num_workers=2, **kw)
    again = grid_search(x, known, num_workers=2, **kw)
    np.testing.assert_array_equal(serial.scores, parallel.scores)
    np.testing.assert_array_equal(parallel.scores, again.scores)
    np.testing.assert_array_equal(serial.best.labels, parallel.best.labels)
    assert serial.best_params == parallel.best_params
    assert np.isfinite(serial.scores).any()


def test_short_neighbour_lists_give_the_same_clustering():
    x, _, known = _blobs(seed=2, n=300, std=2.5)
    for k, p in [(4, 50), (12, 85)]:
        full = ssddbc(x, known, k, p, neighbours=full_neighbours(x, 299))
        short = ssddbc(x, known, k, p, neighbours=full_neighbours(x, k))
        np.testing.assert_array_equal(full.labels, short.labels)


def test_backends_agree():
    pytest.importorskip('faiss')
    x = np.random.RandomState(0).randn(500, 16).astype(np.float32)
    a, da = knn(x, 7, 'sklearn')
    b, db = knn(x, 7, 'faiss')
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(da, db)
    d = np.sqrt(((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    np.testing.assert_array_equal(a, np.argsort(d, axis=1, kind='stable')[:, :7])


def test_score_terms():
    labels = np.array([0, 0, 1, -1, -1, -1, -1])
    pseudo = np.array([0, 0, 5, 0, 0, 5, 5])
    sub = np.array([3, 4, 5, 6])
    pts = np.array([0., 0., 9., 0., 1., 10., 11.])
    dist = np.abs(pts[sub][:, None] - pts[sub][None])
    # silhouette of {0, 1} vs {10, 11}: a = 1, b = 10 / 10.5 ... computed by hand
    a = np.array([1, 1, 1, 1.])
    b = np.array([10.5, 9.5, 9.5, 10.5])
    sil = np.mean((b - a) / np.maximum(a, b))
    # p(label | cluster) with C = 2: cluster 0 holds two label-0 points -> 3/4; cluster 5 one
    # label-1 point -> 2/3
    nll = np.mean([-np.log(3 / 4), -np.log(3 / 4), -np.log(2 / 3)])
    assert clustering_score(pseudo, labels, sub, dist, 2) == pytest.approx(3 * sil - nll)


def test_cli_writes_pseudo_labels_with_metadata(tmp_path, capsys):
    x, y, known = _blobs(seed=3, n=300)
    feats = tmp_path / 'features.npz'
    save_feature_cache(str(feats), np.arange(300), x, known, y, dict(epoch=4, checkpoint='c.pth'))
    out = tmp_path / 'pl' / 'epoch_004.npz'
    assert cluster_main([str(feats), '--out', str(out), '--ks', '5', '10', '--percentiles',
                         '50', '70', '--no-progress']) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    from cissreg.clustering import feature_digest
    pl = load_pseudo_labels(str(out),
                            expect=dict(feature_sha256=feature_digest(str(feats)), epoch=4))
    assert pl['metadata']['checkpoint'] == 'c.pth'
    assert pl['best_params'] == summary['best_params']
    assert adjusted_rand_score(y, pl['labels']) >= 0.95
    with pytest.raises(PseudoLabelFileError, match='stale: metadata epoch=4'):
        load_pseudo_labels(str(out), expect=dict(epoch=5))
    out.write_bytes(out.read_bytes()[:200])
    with pytest.raises(PseudoLabelFileError, match='epoch_004.npz.*corrupt'):
        load_pseudo_labels(str(out))
