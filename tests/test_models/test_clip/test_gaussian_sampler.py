"""GaussianFeatureSampler: statistics against numpy, sampling, positive definiteness."""
import numpy as np
import pytest
import torch

from cissreg.models.clip import GaussianFeatureSampler


def _gaussian_data(n: int, dim: int, seed: int):
    rng = np.random.RandomState(seed)
    mean = rng.randn(dim) * 3
    a = rng.randn(dim, dim)
    cov = a @ a.T / dim + 0.1 * np.eye(dim)
    return rng.multivariate_normal(mean, cov, size=n), mean, cov


def test_statistics_equal_numpy():
    x0, _, _ = _gaussian_data(50, 6, 0)
    x1, _, _ = _gaussian_data(30, 6, 1)
    sampler = GaussianFeatureSampler(num_classes=4, feat_dim=6, ridge=1e-4)
    feats = torch.tensor(np.concatenate([x0, x1]), dtype=torch.float32)
    labels = torch.tensor([2] * 50 + [0] * 30)
    sampler.update(feats, labels)
    x0f, x1f = x0.astype(np.float32).astype(np.float64), x1.astype(np.float32).astype(np.float64)
    assert np.allclose(sampler.means[2].numpy(), x0f.mean(0), atol=1e-5)
    assert np.allclose(sampler.covs[2].numpy(), np.cov(x0f.T) + 1e-4 * np.eye(6), atol=1e-4)
    assert np.allclose(sampler.covs[0].numpy(), np.cov(x1f.T) + 1e-4 * np.eye(6), atol=1e-4)
    assert sampler.counts.tolist() == [30, 0, 50, 0]
    with pytest.raises(KeyError, match=r'\[1\]'):
        sampler.sample(torch.tensor([0, 1]), 2)


def test_samples_converge_to_stored_gaussian():
    x, _, _ = _gaussian_data(400, 5, 2)
    sampler = GaussianFeatureSampler(num_classes=2, feat_dim=5)
    sampler.update(torch.tensor(x, dtype=torch.float32), torch.ones(400, dtype=torch.long))
    g = torch.Generator().manual_seed(0)
    feats, labels = sampler.sample(torch.tensor([1]), 40000, generator=g)
    assert feats.shape == (1, 40000, 5) and (labels == 1).all()
    s = feats[0].double().numpy()
    mean, cov = sampler.means[1].double().numpy(), sampler.covs[1].double().numpy()
    std = np.sqrt(np.diag(cov))
    assert np.all(np.abs(s.mean(0) - mean) < 5 * std / np.sqrt(40000))
    assert np.abs(np.cov(s.T) - cov).max() < 0.05 * np.abs(cov).max()
    again, _ = sampler.sample(torch.tensor([1]), 40000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, feats)


def test_covariance_positive_definite_with_few_samples():
    dim = 16
    feats = torch.randn(3, dim, generator=torch.Generator().manual_seed(0)) * 5
    labels = torch.zeros(3, dtype=torch.long)
    for shrinkage in (0.0, 0.3):
        sampler = GaussianFeatureSampler(num_classes=1, feat_dim=dim, shrinkage=shrinkage,
                                         ridge=1e-4)
        sampler.update(feats, labels)
        cov = sampler.covs[0].double()
        assert torch.linalg.eigvalsh(cov).min() > 0
        assert sampler.cholesky(torch.tensor([0])).shape == (1, dim, dim)  # raises if not PD
        x = feats.double().numpy()
        s = np.cov(x.T)
        expected = (1 - shrinkage) * s + shrinkage * np.trace(s) / dim * np.eye(dim) + \
            1e-4 * np.eye(dim)
        assert np.allclose(cov.numpy(), expected, rtol=1e-5, atol=1e-5)
    single = GaussianFeatureSampler(num_classes=1, feat_dim=dim)
    single.update(feats[:1], labels[:1])
    assert torch.allclose(single.covs[0], 1e-4 * torch.eye(dim))


def test_statistics_survive_a_checkpoint():
    x, _, _ = _gaussian_data(40, 4, 3)
    a = GaussianFeatureSampler(num_classes=3, feat_dim=4)
    a.update(torch.tensor(x, dtype=torch.float32), torch.full((40, ), 1))
    b = GaussianFeatureSampler(num_classes=3, feat_dim=4)
    b.load_state_dict(a.state_dict())
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(a.sample(torch.tensor([1]), 7, g1)[0],
                       b.sample(torch.tensor([1]), 7, g2)[0])


def test_float16_factors_keep_the_covariance_positive_definite():
    x, _, _ = _gaussian_data(200, 32, 4)
    feats = torch.tensor(x, dtype=torch.float32) * 0.05  # CLIP-feature-like scale
    labels = torch.zeros(200, dtype=torch.long)
    full = GaussianFeatureSampler(num_classes=1, feat_dim=32)
    half = GaussianFeatureSampler(num_classes=1, feat_dim=32, stats_dtype='float16')
    full.update(feats, labels)
    half.update(feats, labels)
    assert half.chol_tril.dtype == torch.float16 and half.chol_tril.shape == (1, 32 * 33 // 2)
    cov, cov16 = full.covs[0].double(), half.covs[0].double()
    assert torch.linalg.eigvalsh(cov16).min() > 0
    assert (cov16 - cov).abs().max() < 1e-3 * cov.abs().max()
