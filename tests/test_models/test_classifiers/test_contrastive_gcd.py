"""ContrastiveGCD: loss terms against the registered losses on the same projections."""
import pytest
import torch
from mmengine.structures import BaseDataElement

from cissreg.models.losses import InfoNCELoss, PseudoSupConLoss, SupConLoss
from cissreg.registry import MODELS

TINY = dict(type='ContrastiveGCD',
            backbone=dict(type='TorchvisionViT', image_size=8, patch_size=4, num_layers=1,
                          num_heads=2, hidden_dim=16, mlp_dim=16),
            feat_dim=16, hidden_dim=32, out_dim=8, sup_con_weight=0.35)


def _samples(labels, labelled, pseudo):
    out = []
    for y, lab, p in zip(labels, labelled, pseudo):
        s = BaseDataElement(metainfo=dict(labelled=lab, pseudo_label=p))
        s.gt_label = torch.tensor([y])
        out.append(s)
    return out


def test_loss_terms_and_weights():
    torch.manual_seed(0)
    model = MODELS.build(TINY)
    inputs = torch.randn(12, 3, 8, 8)  # two views of 6 images
    labels = [0, 1, 0, 1, 2, 3]
    labelled = [True, True, True, False, False, False]
    pseudo = [0, -1, 0, 4, 4, -1]
    model.pseudo_weight = 0.5
    losses = model.loss(inputs, _samples(labels, labelled, pseudo))
    z = model.project(model.extract_feat(inputs))
    assert z.shape == (12, 8)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(12))
    ids = torch.arange(6).repeat(2)
    lab = torch.tensor(labelled).repeat(2)
    sup = SupConLoss(0.07)(z[lab], torch.tensor(labels).repeat(2)[lab])
    torch.testing.assert_close(losses['loss_con'], 0.65 * InfoNCELoss(1.0)(z, ids))
    torch.testing.assert_close(losses['loss_sup'], 0.35 * sup)
    torch.testing.assert_close(losses['loss_pseudo'],
                               0.5 * PseudoSupConLoss(0.07)(z, torch.tensor(pseudo).repeat(2)))
    assert losses['gamma'].item() == 0.5
    model.pseudo_weight = 0.0
    assert model.loss(inputs, _samples(labels, labelled, pseudo))['loss_pseudo'].item() == 0.0


def test_one_view_batch_is_refused_and_predict_gives_features():
    model = MODELS.build(TINY)
    samples = _samples([0, 1], [True, False], [-1, -1])
    with pytest.raises(ValueError, match='2 views of 2 images'):
        model.loss(torch.randn(2, 3, 8, 8), samples)
    out = model.predict(torch.randn(2, 3, 8, 8), samples)
    assert out[0].feats.shape == (16, ) and out[0].proj.shape == (8, )
