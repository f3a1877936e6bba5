"""Contrastive model of generalized category discovery (GCD, Vaze et al. 2022) with a
pseudo-label term: L = (1 - w) L_contrast + w L_supcon + gamma L_pseudo."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cissreg.models.base_model import FiniteLossModel
from cissreg.registry import MODELS


def projection_head(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """GCD / DINO head: Linear-GELU-Linear-GELU-Linear (3 layers), ``in -> out`` dims."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(),
                         nn.Linear(hidden_dim, hidden_dim), nn.GELU(),
                         nn.Linear(hidden_dim, out_dim))


@MODELS.register_module()
class ContrastiveGCD(FiniteLossModel):
    """Backbone + 3-layer projection head (L2-normalised), trained on two views per image.

    Batches come from :class:`GCDDatasetWrapper`: each data sample has ``gt_label``,
    ``labelled`` (the label may be used) and ``pseudo_label`` (-1 = none). With ``B`` images
    the data preprocessor gives ``2B`` views (:class:`TwoViewDataPreprocessor`) and ``z``
    [2B, out_dim] are their projections:

    * ``loss_con = (1 - w) * loss_contrast(z, image id)`` (InfoNCE over all images),
    * ``loss_sup = w * loss_supcon(z[labelled], label)`` (both views of labelled images),
    * ``loss_pseudo = gamma * loss_pseudo(z, pseudo label or -1)``, each anchor row weighted
      by its sample's ``pseudo_weight`` (1 without one; the weighted mean over the anchors),

    ``w = sup_con_weight``, ``gamma = pseudo_weight`` (set per epoch by
    :class:`PseudoLabelWeightHook`). The unweighted terms are logged as ``l_con``, ``l_sup``,
    ``l_pseudo`` and ``gamma``. ``predict`` returns the backbone features ``feats`` [D] (GCD
    clusters those) and the projection ``proj`` per sample.

    Args:
        backbone (dict): Any registered backbone; a 4-D output is average-pooled, a tuple's
            last element is used.
        feat_dim (int): Backbone feature size.
        hidden_dim (int): Head hidden size. Defaults to 2048 (GCD).
        out_dim (int): Projection size. Defaults to 256.
        sup_con_weight (float): ``w``. Defaults to 0.35 (GCD).
        loss_contrast (dict): Defaults to ``InfoNCELoss`` (temperature 1.0 as GCD).
        loss_supcon (dict): Defaults to ``SupConLoss`` (temperature 0.07).
        loss_pseudo (dict): Defaults to ``PseudoSupConLoss`` (or ``PrototypicalLoss``).
        skip_nonfinite (bool): See ``FiniteLossModel``. Defaults to False.
        data_preprocessor (dict): Defaults to ``TwoViewDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, backbone: dict, feat_dim: int, hidden_dim: int = 2048,
                 out_dim: int = 256, sup_con_weight: float = 0.35,
                 loss_contrast: dict = dict(type='InfoNCELoss', temperature=1.0),
                 loss_supcon: dict = dict(type='SupConLoss', temperature=0.07),
                 loss_pseudo: dict = dict(type='PseudoSupConLoss', temperature=0.07),
                 skip_nonfinite: bool = False,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if not isinstance(data_preprocessor, nn.Module):
            data_preprocessor = MODELS.build(data_preprocessor
                                             or dict(type='TwoViewDataPreprocessor'))
        super().__init__(skip_nonfinite=skip_nonfinite, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = projection_head(feat_dim, hidden_dim, out_dim)
        self.loss_contrast = MODELS.build(loss_contrast)
        self.loss_supcon = MODELS.build(loss_supcon)
        self.loss_pseudo = MODELS.build(loss_pseudo)
        self.sup_con_weight = sup_con_weight
        self.pseudo_weight = 0.0

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """Backbone features [N, D] of images [N, C, H, W]."""
        x = self.backbone(inputs)
        if isinstance(x, (tuple, list)):
            x = x[-1]
        return x.mean(dim=(2, 3)) if x.dim() == 4 else x

    def project(self, feats: Tensor) -> Tensor:
        """L2-normalised projections [N, out_dim] of features [N, D]."""
        return F.normalize(self.head(feats), dim=1)

    def forward(self, inputs: Tensor, data_samples: Optional[List] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List, Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return self.project(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, data_samples: List) -> Dict[str, Tensor]:
        """Loss terms of a two-view batch (see the class docstring)."""
        b = len(data_samples)
        z = self.project(self.extract_feat(inputs))
        if z.shape[0] != 2 * b:
            raise ValueError(f'ContrastiveGCD: expected 2 views of {b} images, got {z.shape[0]} '
                             'rows; use a two-view data preprocessor')
        dev = z.device
        ids = torch.arange(b, device=dev).repeat(2)
        labels = torch.cat([s.gt_label.reshape(-1)[:1] for s in data_samples]).to(dev)
        labelled = torch.tensor([bool(s.labelled) for s in data_samples], device=dev)
        pseudo = torch.tensor([int(s.pseudo_label) for s in data_samples], device=dev)
        weight = torch.tensor([float(s.get('pseudo_weight', 1.0)) if s.pseudo_label >= 0 else 0.0
                               for s in data_samples], device=dev, dtype=z.dtype).repeat(2)
        l_con = self.loss_contrast(z, ids)
        lab2 = labelled.repeat(2)
        l_sup = (self.loss_supcon(z[lab2], labels.repeat(2)[lab2]) if labelled.any()
                 else z.sum() * 0.0)
        target = pseudo.repeat(2)
        weight = weight * self.loss_pseudo.anchors(target).to(z.dtype)
        l_pseudo = self.loss_pseudo(z, target, weight=weight, avg_factor=weight.sum().clamp(min=1))
        w, gamma = self.sup_con_weight, float(self.pseudo_weight)
        return dict(loss_con=(1 - w) * l_con, loss_sup=w * l_sup, loss_pseudo=gamma * l_pseudo,
                    l_con=l_con.detach(), l_sup=l_sup.detach(), l_pseudo=l_pseudo.detach(),
                    gamma=torch.tensor(gamma, device=dev))

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: List) -> List:
        """Data samples with ``feats`` [D] (backbone) and ``proj`` [out_dim] set."""
        feats = self.extract_feat(inputs)
        proj = self.project(feats)
        for sample, f, p in zip(data_samples, feats, proj):
            sample.set_field(f, 'feats')
            sample.set_field(p, 'proj')
        return data_samples
