"""Each CLIP CIL component against an independent float64 reference: replay enters the
cross-entropy, the hinge term follows its formula, text hard pairs come from raw CLIP text.

Removing a component (the replay concatenation, the hinge term, raw-text mining) fails one
of these; the fusion of stage-2 heads is checked in test_clip_prompt_classifier.py."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from cissreg.registry import MODELS
from cissreg.testing.clip_cil_parts import NAMES, tiny_model_cfg


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('cissreg')


@pytest.fixture
def task1_model():
    """Task 1 (classes 4..6) with Gaussian statistics of the old classes 0..3."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(text_hinge_loss=dict(
        type='HingeLoss', hard_pair_threshold=-1.0, top_hard_pairs=3, samples_per_pair=5,
        margin=0.2, loss_weight=0.7)))
    model.begin_task(0, dict(class_names=NAMES))
    g = torch.Generator().manual_seed(1)
    model.replay_sampler.update(torch.randn(40, 16, generator=g), torch.arange(40) % 4)
    model.begin_task(1, dict(class_names=NAMES))
    model.set_stage(1)
    model.train()
    return model


def _clip_ce(model, feats, labels, text):
    logits = model.clip.logit_scale.exp().double() * F.normalize(feats.double(), dim=-1) @ \
        text.double().t()
    return F.cross_entropy(logits, labels)


def test_replayed_features_enter_the_cross_entropy(task1_model):
    model = task1_model
    g = torch.Generator().manual_seed(2)
    feats, labels = torch.randn(6, 16, generator=g), torch.tensor([4, 5, 6] * 2)
    replay, replay_labels = torch.randn(8, 16, generator=g), torch.tensor([0, 1, 2, 3] * 2)
    text = model.text_features(2).detach()
    loss = model.loss(feats, labels, replay, replay_labels)['loss_ce']
    expected = _clip_ce(model, torch.cat([feats, replay]), torch.cat([labels, replay_labels]),
                        text)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    without = _clip_ce(model, feats, labels, text)
    assert abs(float(expected) - float(without)) > 1e-3  # replay changes the objective


def test_hinge_term_follows_its_formula(task1_model):
    model = task1_model
    feats, labels = torch.randn(6, 16), torch.tensor([4, 5, 6] * 2)
    torch.manual_seed(11)
    losses = model.loss(feats, labels)
    pairs = model.hard_pairs('text')
    torch.manual_seed(11)  # the hinge term is the only random draw of the loss
    samples, _ = model.replay_sampler.sample(pairs[:, 0], 5)
    text = model.text_features(2).detach().double()
    f = F.normalize(samples.double(), dim=-1)
    pos = (f * text[pairs[:, 0]][:, None]).sum(-1)
    neg = (f * text[pairs[:, 1]][:, None]).sum(-1)
    expected = 0.7 * torch.clamp(neg - pos + 0.2, min=0).mean()
    assert float(losses['loss_text_hinge']) == pytest.approx(float(expected), rel=1e-4)
    assert float(expected) > 0


def test_text_hard_pairs_come_from_raw_clip_text_not_prompts(task1_model):
    model = task1_model
    model.text_hinge_loss.top_hard_pairs = 4
    ids = model.tokenizer([f'a photo of a {n}.' for n in NAMES[:7]],
                          model.prompt_learner.context_length)
    with torch.no_grad():  # transformers' own text tower, full length and pooling
        out = model.clip.get_text_features(input_ids=ids)
    raw = F.normalize(getattr(out, 'pooler_output', out).double(), dim=-1)
    sim = raw[:4] @ raw[4:7].t()
    order = sim.flatten().argsort(descending=True)[:4]
    expected = torch.stack([order // 3, order % 3 + 4], dim=1)
    pairs = model.hard_pairs('text')
    assert pairs.tolist() == expected.tolist()
    # the prompted text (trained context vectors) would pick other pairs
    with torch.no_grad():
        for group in model.prompt_learner.pool[:2]:
            group.ctx.normal_(std=2.0, generator=torch.Generator().manual_seed(3))
        prompted = model.text_features(2).double()
    model._clear_caches()
    psim = prompted[:4] @ prompted[4:7].t()
    porder = psim.flatten().argsort(descending=True)[:4]
    assert torch.stack([porder // 3, porder % 3 + 4], 1).tolist() != expected.tolist()
    assert model.hard_pairs('text').tolist() == expected.tolist()


def test_cross_entropy_and_hinge_keep_their_relative_scale_at_any_batch_size(task1_model):
    """The cross-entropy is a mean over the batch and the hinge a mean over its own samples,
    so ``CE + lambda * hinge`` weighs the two alike at batch size 1 and at batch size 4."""
    model = task1_model
    g = torch.Generator().manual_seed(5)
    feats, labels = torch.randn(4, 16, generator=g), torch.tensor([4, 5, 6, 4])
    text = model.text_features(2).detach()
    single = []
    for i in range(4):
        torch.manual_seed(11)
        single.append(model.loss(feats[i:i + 1], labels[i:i + 1]))
    torch.manual_seed(11)
    batch = model.loss(feats, labels)
    per_sample = torch.stack([_clip_ce(model, feats[i:i + 1], labels[i:i + 1], text)
                              for i in range(4)])
    assert float(batch['loss_ce']) == pytest.approx(float(per_sample.mean()), rel=1e-5)
    for losses, expected in zip(single, per_sample):
        assert float(losses['loss_ce']) == pytest.approx(float(expected), rel=1e-5)
        assert float(losses['loss_text_hinge']) == pytest.approx(
            float(batch['loss_text_hinge']), rel=1e-6)
    assert float(batch['loss_text_hinge']) > 0
