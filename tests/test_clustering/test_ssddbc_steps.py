"""SSDDBC steps (1)-(6) on small hand-worked examples."""
import numpy as np
import pytest

from cissreg.clustering.assignment import (assign_non_core, assign_non_core_exact,
                                           merge_small_clusters)
from cissreg.clustering.density import (core_graph, core_knn, core_mask_from_density, local_density,
                                        relative_density)
from cissreg.clustering.growth import cluster_owners, grow_clusters, label_clusters
from cissreg.clustering.knn import knn
from cissreg.clustering.neighbours import full_neighbours

LINE = np.array([[0.], [1.], [3.], [6.], [10.]])


@pytest.mark.parametrize('backend', ['sklearn', 'faiss'])
def test_step1_knn_ties_by_index_and_density(backend):
    pytest.importorskip('faiss') if backend == 'faiss' else None
    idx, dist = knn(LINE, 2, backend)
    # point 3.0 has 1.0 at distance 2 and a tie at distance 3 between 0.0 (index 0) and 6.0
    # (index 3): the smaller index wins
    np.testing.assert_array_equal(idx, [[1, 2], [0, 2], [1, 0], [2, 4], [3, 2]])
    np.testing.assert_array_equal(dist, [[1, 3], [1, 2], [2, 3], [3, 4], [4, 7]])
    np.testing.assert_allclose(local_density(dist), [1 / 2, 1 / 1.5, 1 / 2.5, 1 / 3.5, 1 / 5.5])


def test_step2_relative_density_and_core_points():
    rho = np.array([0.5, 1 / 1.5, 1 / 2.5, 1 / 3.5, 1 / 5.5])
    idx = np.array([[1, 2], [0, 2], [1, 0], [2, 4], [3, 2]])
    mean_rho = sum(rho) / 5
    expected = [(2 + mean_rho) / (2 + (rho[a] + rho[b]) / 2) * rho[i]
                for i, (a, b) in enumerate(idx)]
    rel = relative_density(rho, idx)
    np.testing.assert_allclose(rel, expected, rtol=1e-12)
    # 60th percentile of 5 values = the 4th smallest (linear interpolation at 2.4 -> between)
    threshold = np.sort(rel)[2] + 0.4 * (np.sort(rel)[3] - np.sort(rel)[2])
    np.testing.assert_array_equal(core_mask_from_density(rel, 60), rel >= threshold)
    assert core_mask_from_density(rel, 60).sum() == 2


def test_step3_core_graph_keeps_edges_under_mean_distance():
    idx = np.array([[1, 2], [0, 2], [1, 0], [2, 1]])
    dist = np.array([[1., 5.], [1., 2.], [2., 5.], [3., 4.]])  # mean 2.875
    adj = core_graph(idx, dist).toarray()
    expected = np.zeros((4, 4), bool)
    for i, j in [(0, 1), (1, 2)]:  # 1, 1, 2, 2 < 2.875; 3, 4, 5, 5 are not
        expected[i, j] = expected[j, i] = True
    np.testing.assert_array_equal(adj, expected)


def test_step3_core_knn_list_and_search_agree():
    rng = np.random.RandomState(0)
    x = rng.randn(60, 3)
    core = rng.rand(60) < 0.4
    long = core_knn(x, core, 4, full_neighbours(x, 59))
    short = core_knn(x, core, 4, full_neighbours(x, 5))  # most rows searched in the core set
    ref_idx, ref_dist = knn(x[core], 4)
    for got in (long, short):
        np.testing.assert_array_equal(got[0], ref_idx)
        np.testing.assert_allclose(got[1], ref_dist)


def _chain(n):
    rows = np.arange(n - 1)
    from scipy import sparse
    adj = sparse.csr_matrix((np.ones(n - 1, bool), (rows, rows + 1)), shape=(n, n))
    return (adj + adj.T).tocsr()


def test_step4_growth_never_links_two_labels_and_seeds_by_density():
    # path 0-1-2-3; 1 carries label 0, 2 label 1: growth from 0 stops before 2
    got = grow_clusters(_chain(4), np.array([4., 3., 2., 1.]), np.array([-1, 0, 1, -1]))
    np.testing.assert_array_equal(got, [0, 0, 1, 1])
    # the densest point seeds cluster 0; equal densities seed by index
    got = grow_clusters(_chain(4), np.array([1., 1., 2., 1.]), np.array([0, -1, -1, 1]))
    np.testing.assert_array_equal(got, [1, 0, 0, 0])
    assert cluster_owners(got, np.array([0, -1, -1, 1]), 2).tolist() == [1, 0]


def test_step4_cluster_labelling_rules():
    cluster = np.repeat([0, 1, 2, 3, 4], [5, 5, 4, 10, 10])
    labels = np.full(34, -1)
    labels[[0, 1]] = 2                      # 2/5 labelled, pure -> class 2
    labels[5] = 1                           # 1/5 = 20% labelled -> no
    labels[10:14] = 0                       # size 4 -> no
    labels[14:19] = [3, 3, 3, 3, 4]         # 5/10 labelled, purity 0.8 -> class 3
    labels[24:29] = [3, 3, 3, 4, 4]         # purity 0.6 -> no
    np.testing.assert_array_equal(label_clusters(cluster, labels, 5), [2, -1, -1, 3, -1])


def test_step5_small_clusters_merge_into_nearest_compatible():
    x = np.array([0, 1, 2, 3, 10, 11, 12, 13, 5, 4, 8], float)[:, None]
    cluster = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 3, 4])
    owners = np.array([-1, 1, -1, 1, 0])
    core_idx = np.arange(11)
    for n in (10, 2):  # lists reach every point / most rows searched exactly
        got = merge_small_clusters(x, core_idx, cluster, owners, full_neighbours(x, n))
        # 5.0 (unlabelled) -> nearest point 3.0 of cluster 0; 4.0 (label 1) -> cluster 1
        # although cluster 0 is nearer; 8.0 (label 0) has no cluster with label 0: stays
        np.testing.assert_array_equal(got, [0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 4])


def test_step6_mean_of_three_nearest_members_not_nearest_point():
    core = np.array([5., -10., -11., 8., 9., 10.])[:, None]
    cluster = np.array([0, 0, 0, 1, 1, 1])
    owners = np.array([-1, 0])
    points = np.array([[6.], [6.], [6.]])
    labels = np.array([-1, 0, 7])
    # x=6: cluster 0 mean(1, 16, 17) = 11.3, cluster 1 mean(2, 3, 4) = 3 -> cluster 1 although
    # the single nearest member (5.0) is in cluster 0; label 7 has no cluster -> -1
    expected = [1, 1, -1]
    np.testing.assert_array_equal(assign_non_core_exact(points, labels, core, cluster, owners),
                                  expected)
    x = np.concatenate([core, points])
    clusters = np.r_[cluster, -1, -1, -1]
    for n in (8, 2):
        got = assign_non_core(x, np.array([6, 7, 8]), labels, clusters, owners,
                              full_neighbours(x, n))
        np.testing.assert_array_equal(got, expected)
