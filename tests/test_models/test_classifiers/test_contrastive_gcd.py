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


def test_pseudo_label_loss_is_the_weighted_mean_over_anchors():
    """Weighted mode: each anchor row's pseudo-label loss counts with its sample's weight
    (float64 reference of SupCon per anchor written here)."""
    torch.manual_seed(0)
    model = MODELS.build(TINY)
    model.pseudo_weight = 1.0
    inputs = torch.randn(12, 3, 8, 8)
    pseudo = [5, 5, 6, 6, -1, 5]
    weights = [1.0, 0.25, 0.5, 1.0, 0.0, 0.75]
    samples = _samples([0] * 6, [False] * 6, pseudo)
    for s, w in zip(samples, weights):
        s.set_metainfo(dict(pseudo_weight=w))
    losses = model.loss(inputs, samples)
    z = model.project(model.extract_feat(inputs)).double().detach()
    target = torch.tensor(pseudo).repeat(2)
    logits = z @ z.t() / 0.07
    logits.fill_diagonal_(float('-inf'))
    log_prob = logits - torch.logsumexp(logits, 1, keepdim=True)
    total, norm = 0.0, 0.0
    for i in range(12):
        pos = [j for j in range(12) if j != i and target[j] == target[i] and target[i] >= 0]
        if pos:
            w = weights[i % 6]
            total += w * -log_prob[i, pos].mean()
            norm += w
    torch.testing.assert_close(losses['l_pseudo'].double(), total / norm, rtol=1e-5, atol=1e-6)
    for s in samples:  # equal weights: the plain mean over the anchors
        s.set_metainfo(dict(pseudo_weight=1.0))
    plain = model.loss(inputs, samples)['l_pseudo']
    torch.testing.assert_close(plain, PseudoSupConLoss(0.07)(model.project(
        model.extract_feat(inputs)), target))
