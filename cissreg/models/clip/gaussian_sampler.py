"""Per-class Gaussian statistics of frozen image features, and sampling from them."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from cissreg.registry import MODELS


@MODELS.register_module()
class GaussianFeatureSampler(nn.Module):
    """Class-conditional Gaussians N(mu_c, Sigma_c) over features, for replay and hinge pairs.

    ``Sigma_c = (1 - shrinkage) * S_c + shrinkage * (tr(S_c) / D) * I + ridge * I`` with
    ``S_c`` the unbiased sample covariance: the ridge (RAPF uses 1e-4) keeps it positive
    definite even when a class has fewer samples than dimensions; the optional shrinkage
    towards the scaled identity (Ledoit-Wolf's target) tames a noisy estimate of a small
    class. Statistics are computed in float64 and stored as the lower Cholesky factor ``L``
    of ``Sigma_c``, packed (its ``D (D + 1) / 2`` lower-triangle entries) in
    ``stats_dtype``: half a full covariance, and ``L L^T`` stays positive definite in
    float16 too (100 classes of 512-d features: 26 MB per checkpoint instead of 105 MB).
    Samples are ``mu + L z`` with ``z`` drawn on the CPU from the given generator (device
    independent).

    Buffers (saved in checkpoints): ``means`` [C, D] (float32), ``chol_tril``
    [C, D (D + 1) / 2] (``stats_dtype``), ``counts`` [C].

    Args:
        num_classes (int): Total classes C (filled in by the classifier).
        feat_dim (int): Feature dimension D (filled in by the classifier).
        shrinkage (float): Weight of the scaled-identity target in [0, 1]. Defaults to 0.
        ridge (float): Added to the diagonal. Defaults to 1e-4.
        stats_dtype (str): ``'float32'`` or ``'float16'`` storage of the factors.
            Defaults to ``'float32'``.
    """

    def __init__(self, num_classes: int, feat_dim: int, shrinkage: float = 0.0,
                 ridge: float = 1e-4, stats_dtype: str = 'float32') -> None:
        super().__init__()
        if not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f'GaussianFeatureSampler: shrinkage must be in [0, 1], got '
                             f'{shrinkage}')
        if ridge <= 0:
            raise ValueError(f'GaussianFeatureSampler: ridge must be > 0 (it keeps the '
                             f'covariance positive definite), got {ridge}')
        if stats_dtype not in ('float32', 'float16'):
            raise ValueError(f"stats_dtype must be 'float32' or 'float16', got {stats_dtype!r}")
        self.shrinkage = shrinkage
        self.ridge = ridge
        self.feat_dim = feat_dim
        self.register_buffer('means', torch.zeros(num_classes, feat_dim))
        self.register_buffer('chol_tril', torch.zeros(num_classes, feat_dim * (feat_dim + 1) // 2,
                                                      dtype=getattr(torch, stats_dtype)))
        self.register_buffer('counts', torch.zeros(num_classes, dtype=torch.long))
        self._chol: Dict[int, Tensor] = {}

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._chol.clear()
        super()._load_from_state_dict(*args, **kwargs)

    @torch.no_grad()
    def update(self, feats: Tensor, labels: Tensor) -> None:
        """Store mean and covariance factor of every class present in ``labels``.

        Args:
            feats (Tensor): [N, D] features.
            labels (Tensor): [N] int64 class ids.
        """
        feats = feats.detach().to(self.means.device, torch.float64)
        labels = labels.to(self.means.device)
        dim = feats.shape[1]
        eye = torch.eye(dim, dtype=torch.float64, device=feats.device)
        rows, cols = torch.tril_indices(dim, dim, device=feats.device)
        for c in labels.unique().tolist():
            x = feats[labels == c]
            mean = x.mean(0)
            centred = x - mean
            if x.shape[0] > 1:
                cov = centred.t() @ centred / (x.shape[0] - 1)
            else:
                cov = torch.zeros(dim, dim, dtype=torch.float64, device=feats.device)
            target = cov.diagonal().mean() * eye
            cov = (1 - self.shrinkage) * cov + self.shrinkage * target + self.ridge * eye
            self.means[c] = mean.to(self.means.dtype)
            self.chol_tril[c] = torch.linalg.cholesky(cov)[rows, cols].to(self.chol_tril.dtype)
            self.counts[c] = x.shape[0]
            self._chol.pop(c, None)

    def has_classes(self, classes: Tensor) -> bool:
        """Whether statistics exist for all ``classes``."""
        return bool((self.counts[classes.to(self.counts.device)] > 0).all())

    def cholesky(self, classes: Tensor) -> Tensor:
        """Lower Cholesky factors [K, D, D] of ``classes``' covariances (float32, CPU),
        unpacked once per class and cached until the statistics change."""
        ids = [int(c) for c in classes.tolist()]
        empty = sorted({c for c in ids if int(self.counts[c]) == 0})
        if empty:
            raise KeyError(f'GaussianFeatureSampler: no statistics for classes {empty}')
        dim = self.feat_dim
        rows, cols = torch.tril_indices(dim, dim)
        for c in ids:
            if c not in self._chol:
                factor = torch.zeros(dim, dim)
                factor[rows, cols] = self.chol_tril[c].float().cpu()
                self._chol[c] = factor
        return torch.stack([self._chol[c] for c in ids]) if ids else torch.zeros(0, dim, dim)

    @property
    def covs(self) -> Tensor:
        """Covariances ``L L^T`` [C, D, D] (float32; zeros for classes without statistics)."""
        dim = self.feat_dim
        factors = torch.zeros(len(self.counts), dim, dim, dtype=torch.float64)
        rows, cols = torch.tril_indices(dim, dim)
        factors[:, rows, cols] = self.chol_tril.double().cpu()
        return (factors @ factors.transpose(1, 2)).float().to(self.means.device)

    @torch.no_grad()
    def sample(self, classes: Tensor, num: int,
               generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Draw ``num`` features for each class of ``classes``.

        Args:
            classes (Tensor): [K] int64 class ids with statistics.
            num (int): Samples per class.
            generator (torch.Generator, optional): CPU generator. Defaults to torch's global.

        Returns:
            tuple[Tensor, Tensor]: features [K, num, D] (on the buffers' device, float32) and
            labels [K, num] (int64).
        """
        classes = classes.to('cpu', torch.long)
        if not self.has_classes(classes):
            missing = [c for c in classes.tolist() if int(self.counts[c]) == 0]
            raise KeyError(f'GaussianFeatureSampler: no statistics for classes {missing}')
        dim = self.feat_dim
        z = torch.randn(len(classes), num, dim, generator=generator)
        if len(classes) == 0:
            return z.to(self.means.device), classes[:, None].expand(0, num)
        chol = self.cholesky(classes)
        feats = self.means[classes.to(self.means.device)].float().cpu()[:, None] + \
            z @ chol.transpose(1, 2)
        labels = classes[:, None].expand(-1, num).clone()
        return feats.to(self.means.device), labels.to(self.means.device)
