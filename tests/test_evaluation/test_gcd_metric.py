"""GCDMetric and gcd_cluster_accuracy against brute force over all matchings."""
import itertools

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from cissreg.evaluation import GCDMetric, gcd_cluster_accuracy


def _brute_force(y_true, y_pred, old):
    """Best correct count over every one-to-one map of clusters to classes, and the set of
    (old, new) accuracies the best maps give."""
    size = max(y_true.max(), y_pred.max()) + 1
    best, splits = -1, set()
    old_mask = np.isin(y_true, old)
    for perm in itertools.permutations(range(size)):
        correct = np.array(perm)[y_pred] == y_true
        n = int(correct.sum())
        split = (round(correct[old_mask].mean(), 12), round(correct[~old_mask].mean(), 12))
        if n > best:
            best, splits = n, {split}
        elif n == best:
            splits.add(split)
    return best / len(y_true), splits


@pytest.mark.parametrize('seed', range(30))
def test_equals_brute_force_over_all_permutations(seed):
    rng = np.random.RandomState(seed)
    n_cls = rng.randint(2, 6)
    y_true = rng.randint(0, n_cls, 25)
    y_true[:2] = [0, n_cls - 1]
    y_pred = np.where(rng.rand(25) < 0.6, y_true, rng.randint(0, rng.randint(2, 7), 25))
    old = list(range(max(1, n_cls // 2)))
    got = gcd_cluster_accuracy(y_true, y_pred, old)
    best, splits = _brute_force(y_true, y_pred, old)
    assert got['all'] == pytest.approx(best)
    assert (round(got['old'], 12), round(got['new'], 12)) in splits


def test_one_matching_over_all_classes_not_per_split():
    # clusters: 0 holds classes {0: 3, 2: 4}; 1 holds class 1. Per-split matching (v1) would
    # give cluster 0 to class 0 for "old" and to class 2 for "new"; one matching gives it to 2.
    y_true = np.array([0, 0, 0, 2, 2, 2, 2, 1, 1])
    y_pred = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1])
    got = gcd_cluster_accuracy(y_true, y_pred, old_classes=[0, 1])
    assert got['all'] == pytest.approx(6 / 9)
    assert got['old'] == pytest.approx(2 / 5)  # class 1 right, class 0 wrong
    assert got['new'] == pytest.approx(1.0)


def test_unassigned_predictions_are_wrong():
    got = gcd_cluster_accuracy(np.array([0, 0, 1, 1]), np.array([5, -1, 7, 7]), [0])
    assert got == dict(all=0.75, old=0.5, new=1.0)


def _samples(labels, **fields):
    out = []
    for i, y in enumerate(labels):
        s = BaseDataElement(gt_label=torch.tensor([y]))
        for k, v in fields.items():
            s.set_field(v[i], k)
        out.append(s.to_dict())
    return out


def test_metric_kmeans_on_features_and_pred_mode():
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(4), 20)
    feats = torch.as_tensor(np.eye(4)[labels] * 10 + rng.randn(80, 4) * 0.1, dtype=torch.float)
    metric = GCDMetric(num_old_classes=2, num_clusters=4)
    metric.process({}, _samples(labels, feats=feats))
    assert metric.evaluate(80) == {'gcd/all': 100.0, 'gcd/old': 100.0, 'gcd/new': 100.0}
    metric = GCDMetric(num_old_classes=2, num_clusters=4, cluster='pred')
    pred = torch.as_tensor((labels + 1) % 4)[:, None]
    pred[:10] = 3  # half of class 0 wrong
    metric.process({}, _samples(labels, pred_label=pred))
    res = metric.evaluate(80)
    assert res['gcd/old'] == pytest.approx(75.0) and res['gcd/new'] == 100.0


def test_metric_reads_old_classes_and_cluster_count_from_dataset_meta():
    """Unset, ``num_old_classes`` / ``num_clusters`` come from the wrapper's metainfo, so a
    config cannot give the metric a split that disagrees with the dataset."""
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(3), 20)
    feats = torch.as_tensor(np.eye(3)[labels] * 10 + rng.randn(60, 3) * 0.1, dtype=torch.float)
    pred = torch.as_tensor(labels)[:, None].clone()
    pred[:10] = 2  # half of class 0 in class 2's cluster
    results = {}
    for num_old in (1, 2):
        metric = GCDMetric(cluster='pred')
        metric.dataset_meta = dict(classes=('a', 'b', 'c'), num_old_classes=num_old)
        metric.process({}, _samples(labels, pred_label=pred))
        results[num_old] = metric.evaluate(60)
    # class 0 (half wrong) is old in both; class 1 moves from new to old
    assert results[1]['gcd/old'] == pytest.approx(50.0)
    assert results[2]['gcd/old'] == pytest.approx(75.0)
    metric = GCDMetric()  # k-means with len(classes) clusters
    metric.dataset_meta = dict(classes=('a', 'b', 'c'), num_old_classes=2)
    metric.process({}, _samples(labels, feats=feats))
    assert metric.evaluate(60)['gcd/all'] == 100.0
    metric = GCDMetric(num_clusters=3)
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    metric.process({}, _samples(labels, feats=feats))
    with pytest.raises(ValueError, match="num_old_classes is not set.*'num_old_classes'"):
        metric.evaluate(60)


def test_metric_l2_normalises_features_before_kmeans():
    """Two classes along two directions at very different norms: k-means on the raw features
    splits by norm, on L2-normalised ones (GCD's test_kmeans) by direction."""
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(2), 40)
    direction = np.eye(2)[labels] + rng.randn(80, 2) * 0.05
    scale = np.where(np.arange(80) % 2 == 0, 1.0, 50.0)[:, None]
    feats = torch.as_tensor(direction * scale, dtype=torch.float)
    result = {}
    for normalize in (True, False):
        metric = GCDMetric(num_old_classes=1, num_clusters=2, normalize=normalize)
        metric.process({}, _samples(labels, feats=feats))
        result[normalize] = metric.evaluate(80)['gcd/all']
    assert result[True] == 100.0 and result[False] < 80.0
