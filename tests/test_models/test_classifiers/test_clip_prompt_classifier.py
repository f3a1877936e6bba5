"""CLIPPromptClassifier: prompts, stage-2 heads, LoRA, fused scores, strict checkpoints."""
import pytest
import torch
import torch.nn.functional as F

from cissreg.registry import MODELS
from cissreg.testing.clip_cil_parts import NAMES, tiny_model_cfg

pytestmark = pytest.mark.usefixtures('cissreg_scope')


def _model(**overrides):
    torch.manual_seed(0)
    return MODELS.build(tiny_model_cfg(**overrides))


def _images(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=g) for _ in range(n)]


def _reference_text_features(model, task):
    """Prompted text features through transformers' own text tower (full length, its pooling),
    valid when the context vectors equal the placeholder tokens' embeddings."""
    group = model.prompt_learner.pool[task]
    emb = model.clip.text_model.embeddings.token_embedding
    with torch.no_grad():
        group.ctx.copy_(emb(group.token_ids[:, 1:1 + model.prompt_learner.n_ctx]))
        out = model.clip.get_text_features(input_ids=group.token_ids)
    return F.normalize(getattr(out, 'pooler_output', out), dim=-1)


def test_prompted_text_features_match_transformers():
    model = _model().eval()
    model.begin_task(0, dict(class_names=NAMES))
    model.begin_task(1, dict(class_names=NAMES))
    for task in (0, 1):
        ref = _reference_text_features(model, task)
        model._clear_caches()
        assert torch.allclose(model.text_features(task + 1)[model.task_starts[task]:], ref,
                              atol=1e-5)
    ids = model.prompt_learner.pool[1].token_ids
    assert model.tokenizer.decode(ids[0][ids[0] > 0][1:-1].tolist()).split() == \
        ['x', 'x', 'four', '.']


def test_stage_two_head_starts_at_normalised_prompted_text_features():
    model = _model()
    model.begin_task(0, dict(class_names=NAMES))
    model.set_stage(1)
    model.begin_task(1, dict(class_names=NAMES))
    ref = _reference_text_features(model, 1)
    model.set_stage(2)
    head = model.heads[1]
    assert torch.allclose(head.weight, ref, atol=1e-5)
    assert torch.equal(head.bias, torch.zeros(3)) and bool(model.head_ready[1])
    assert head.weight.requires_grad and not model.prompt_learner.pool[1].ctx.requires_grad
    with pytest.raises(RuntimeError, match='no second stage'):
        model.begin_task(0, dict(class_names=NAMES))
        model.set_stage(2)


def _train_steps(model, stage, steps=2, **batch):
    model.set_stage(stage)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.5)
    for _ in range(steps):
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    return losses


def test_lora_stage_two_changes_only_lora_and_head():
    model = _model(lora=dict(rank=2, alpha=4, layers=[1]))
    assert len(model.lora_parameters) == 4  # q and v, A and B
    model.begin_task(0, dict(class_names=NAMES))
    model.begin_task(1, dict(class_names=NAMES))
    assert model.needs_images is False
    before = {k: v.clone() for k, v in model.state_dict().items()}
    labels = torch.tensor([4, 5, 6, 4, 5, 6])
    model.set_stage(2)
    assert model.needs_images
    _train_steps(model, 2, inputs=_images(), labels=labels)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed, 'nothing trained'
    assert all('lora_' in k or k.startswith('heads.1.') or k == 'head_ready' for k in changed), \
        changed
    assert any('lora_B' in k for k in changed) and 'heads.1.weight' in changed
    assert not any('layers.0' in k for k in changed)  # LoRA only on the configured layer
    # the LoRA rule: heads see the adapted encoder, everything else the frozen one
    plain = _model()
    plain.load_state_dict({k.replace('.base_layer.', '.'): v
                           for k, v in model.state_dict().items() if 'lora_' not in k})
    model.eval()
    plain.eval()
    data = model.data_preprocessor(dict(inputs=_images()), False)
    with torch.no_grad():
        base = plain.extract_feat(data['inputs'])
        assert torch.allclose(model.extract_feat(data['inputs']), base, atol=1e-6)
        assert (model.head_feat(data['inputs']) - base).abs().max() > 1e-4
    assert all(p.requires_grad for p in model.lora_parameters)  # flags survive the switch


def test_stage_one_trains_current_prompts_with_replay_and_hinge():
    model = _model()
    model.begin_task(0, dict(class_names=NAMES))
    model.replay_sampler.update(torch.randn(40, 16), torch.arange(40) % 4)
    model.begin_task(1, dict(class_names=NAMES))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = _train_steps(model, 1, feats=torch.randn(6, 16), labels=torch.tensor([4, 5, 6] * 2),
                          replay_feats=torch.randn(4, 16), replay_labels=torch.tensor([0, 1, 2, 3]))
    assert set(losses) == {'loss_ce', 'loss_text_hinge'}
    assert model.hard_pairs('text').shape == (3, 2)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {'prompt_learner.pool.1.ctx'}


@pytest.mark.parametrize('fusion', ['additive', 'within_task'])
def test_fused_scores_follow_the_formula(fusion):
    model = _model(second_stage_fusion_weight=0.3, second_stage_logit_scale=7.0, fusion=fusion)
    for task in (0, 1, 2):
        model.begin_task(task, dict(class_names=NAMES))
    model.set_stage(2)  # head of task 2 (task 0 has none with start task 1)
    with torch.no_grad():
        model.heads[1].weight.normal_()
        model.heads[1].bias.normal_()
        model.head_ready[1] = True
        model.heads[2].bias.normal_()
    model.eval()
    feats = torch.randn(5, 16)
    with torch.no_grad():
        scores = model(feats=feats, mode='tensor')
        f = F.normalize(feats.double(), dim=-1)
        text = model.text_features().double()
        expected = model.clip.logit_scale.exp().double() * f @ text.t()
        for task in (1, 2):
            w, b = model.heads[task].weight.double(), model.heads[task].bias.double()
            head = 7.0 * (f @ w.t() + b)
            head = head - head.mean(1, keepdim=True)  # centred over the task's classes
            start, end = model.class_range(task)
            expected[:, start:end] += 0.3 * head
        if fusion == 'within_task':  # each task's maximum moved to CLIP's maximum over it
            clip = model.clip_logits(feats, model.text_features()).double()
            for task in (0, 1, 2):
                start, end = model.class_range(task)
                part = expected[:, start:end]
                expected[:, start:end] = (part - part.max(1, keepdim=True).values +
                                          clip[:, start:end].max(1, keepdim=True).values)
    assert scores.shape == (5, 10)
    assert torch.allclose(scores.double(), expected, atol=1e-4)
    samples = model(feats=feats, mode='predict')
    assert [int(s.pred_label) for s in samples] == scores.argmax(1).tolist()


def test_trained_heads_add_no_per_task_offset():
    """CE on a task's classes cannot move the mean of its head's rows (it starts at the mean
    text feature); fused scores must not depend on that mean."""
    model = _model(second_stage_logit_scale=50.0, fusion='additive')
    for task in (0, 1, 2):
        model.begin_task(task, dict(class_names=NAMES))
        if task:
            model.set_stage(2)  # heads of tasks 1 and 2 from their text features
    model.begin_task(1, dict(class_names=NAMES))
    mean_before = model.heads[1].weight.mean(0).clone()
    rows_before = model.heads[1].weight.clone()
    g = torch.Generator().manual_seed(4)
    _train_steps(model, 2, steps=20, feats=torch.randn(12, 16, generator=g),
                 labels=torch.tensor([4, 5, 6] * 4))
    assert (model.heads[1].weight - rows_before).abs().max() > 1e-2  # the rows moved
    assert torch.allclose(model.heads[1].weight.mean(0), mean_before, atol=1e-6)  # mean not
    model.eval()
    model.begin_task(2, dict(class_names=NAMES))
    feats = torch.randn(6, 16, generator=g)
    with torch.no_grad():
        fused = model(feats=feats, mode='tensor')
        clip_only = model.clip_logits(feats, model.text_features())
        for task in (1, 2):  # each task's head contribution sums to zero over its classes
            start, end = model.class_range(task)
            assert torch.allclose((fused - clip_only)[:, start:end].sum(1), torch.zeros(6),
                                  atol=1e-4)
        shift = torch.randn(16, generator=g)
        model.heads[1].weight += shift  # a class-independent change of task 1's head
        model.heads[2].weight -= 3 * shift
        assert torch.allclose(model(feats=feats, mode='tensor'), fused, atol=1e-4)


def _equal_evidence_model(fusion):
    """Tasks of 3, 3, 3 classes; task 0 without a head, tasks 1 and 2 with sharp random
    heads; prompted text features replaced by orthonormal rows, so isotropic image features
    give every class the same CLIP evidence."""
    model = _model(num_classes=9, init_class=3, increment=3, fusion=fusion,
                   second_stage_logit_scale=50.0)
    for task in (0, 1, 2):
        model.begin_task(task, dict(class_names=NAMES[:9]))
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for task in (1, 2):
            model.heads[task].weight.copy_(torch.randn(3, 16, generator=g))
            model.heads[task].bias.zero_()
            model.head_ready[task] = True
    text = torch.linalg.qr(torch.randn(16, 9, generator=g))[0].t()  # [9, 16] orthonormal
    model.text_features = lambda num_tasks=None: text
    return model.eval(), text


def test_a_task_without_a_head_is_not_disadvantaged():
    """Equal-evidence images split evenly over the tasks, task 0 (no head) included: the
    heads re-rank classes inside the task CLIP picks and never move an image across tasks.
    The reference recipe's additive fusion sends almost none of them to task 0."""
    feats = torch.randn(3000, 16, generator=torch.Generator().manual_seed(3))
    shares = {}
    for fusion in ('within_task', 'additive'):
        model, text = _equal_evidence_model(fusion)
        with torch.no_grad():
            pred = model(feats=feats, mode='tensor').argmax(1)
            clip_task = (F.normalize(feats, dim=-1) @ text.t()).argmax(1) // 3
        shares[fusion] = torch.bincount(pred // 3, minlength=3).double() / len(feats)
        if fusion == 'within_task':
            assert torch.equal(pred // 3, clip_task)
            heads_moved = (pred != model.clip_logits(feats, text).argmax(1)).float().mean()
            assert heads_moved > 0.2  # the heads do change classes inside the task
    assert torch.allclose(shares['within_task'], torch.full((3, ), 1 / 3, dtype=torch.double),
                          atol=0.04), shares
    assert shares['additive'][0] < 0.15, shares


def test_image_adapter_trains_in_stage_one_on_real_replayed_and_hinge_features():
    model = _model(use_image_adapter=True)
    plain = _model()
    model.eval()
    plain.eval()
    for m in (model, plain):
        m.begin_task(0, dict(class_names=NAMES))
    feats = torch.randn(4, 16)
    with torch.no_grad():  # identity at start: the scores of a model without adapter
        assert torch.allclose(model(feats=feats, mode='tensor'),
                              plain(feats=feats, mode='tensor'), atol=1e-5)
    model.replay_sampler.update(torch.randn(40, 16), torch.arange(40) % 4)
    model.begin_task(1, dict(class_names=NAMES))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train_steps(model, 1, feats=torch.randn(6, 16), labels=torch.tensor([4, 5, 6] * 2),
                 replay_feats=torch.randn(4, 16), replay_labels=torch.tensor([0, 1, 2, 3]))
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {'prompt_learner.pool.1.ctx', 'image_adapter.weight'}
    # the hinge term alone reaches the adapter (its samples pass through it)
    model.image_adapter.weight.grad = None
    model._hinge('text', model.text_features(2)).backward()
    assert model.image_adapter.weight.grad.abs().sum() > 0
    model.set_stage(2)
    assert not model.image_adapter.weight.requires_grad
    model.eval()
    w = model.image_adapter.weight.detach().double()
    with torch.no_grad():
        scores = model.clip_logits(feats, model.text_features())
        f = F.normalize(feats.double() @ w.t(), dim=-1)
        expected = model.clip.logit_scale.exp().double() * f @ model.text_features().double().t()
    assert torch.allclose(scores.double(), expected, atol=1e-4)
    data = model.data_preprocessor(dict(inputs=_images(2)), False)
    with torch.no_grad():  # statistics and heads keep the features before the adapter
        assert torch.allclose(model.extract_feat(data['inputs']),
                              plain.extract_feat(data['inputs']), atol=1e-6)


def test_residual_mlp_adapter_starts_at_identity_and_trains_in_stage_one():
    model = _model(use_image_adapter=True,
                   image_adapter=dict(type='ResidualMLPAdapter', hidden_dim=8))
    adapter = model.image_adapter
    feats = torch.randn(4, 16)
    with torch.no_grad():
        assert torch.equal(model.adapt(feats), feats)  # output layer starts at zero
        adapter.fc2.weight.normal_()
        adapter.fc2.bias.normal_()
        x, w1, b1 = feats.double(), adapter.fc1.weight.double(), adapter.fc1.bias.double()
        w2, b2 = adapter.fc2.weight.double(), adapter.fc2.bias.double()
        expected = x + (x @ w1.t() + b1).clamp(min=0) @ w2.t() + b2
        assert torch.allclose(model.adapt(feats).double(), expected, atol=1e-5)
    model.begin_task(0, dict(class_names=NAMES))
    model.set_stage(1)
    assert all(p.requires_grad for p in adapter.parameters())
    model.begin_task(1, dict(class_names=NAMES))
    model.set_stage(2)
    assert not any(p.requires_grad for p in adapter.parameters())
    with pytest.raises(ValueError, match='use_image_adapter is False'):
        _model(image_adapter=dict(type='ResidualMLPAdapter'))


def test_task_checkpoint_loads_strictly_into_a_fresh_model():
    model = _model()
    for task in (0, 1):
        model.begin_task(task, dict(class_names=NAMES))
    model.set_stage(2)
    model.replay_sampler.update(torch.randn(20, 16), torch.arange(20) % 4)
    model.eval()
    feats = torch.randn(4, 16)
    with torch.no_grad():
        expected = model(feats=feats, mode='tensor')
    torch.manual_seed(123)  # a different initialisation must not matter
    fresh = MODELS.build(tiny_model_cfg())
    fresh.load_state_dict(model.state_dict(), strict=True)
    fresh.eval()
    assert fresh.seen_tasks == 2  # from the num_seen_tasks buffer, no begin_task needed
    with torch.no_grad():
        assert torch.allclose(fresh(feats=feats, mode='tensor'), expected, atol=1e-6)
    assert torch.equal(fresh.replay_sampler.covs, model.replay_sampler.covs)


def test_images_and_features_give_the_same_scores():
    model = _model().eval()
    model.begin_task(0, dict(class_names=NAMES))
    data = model.data_preprocessor(dict(inputs=_images(3)), False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        assert torch.allclose(model(data['inputs'], mode='tensor'),
                              model(feats=feats, mode='tensor'))
    rgb = data['inputs'][0] * model.data_preprocessor.std[0] + model.data_preprocessor.mean[0]
    assert torch.allclose(rgb, _images(3)[0].flip(0).float(), atol=1e-3)  # BGR -> RGB


def test_config_errors_are_explicit():
    with pytest.raises(ValueError, match='tokenizer has 514 ids'):
        _model(clip=dict(config=dict(tiny_model_cfg()['clip']['config'],
                                     text_config=dict(vocab_size=600, hidden_size=32,
                                                      intermediate_size=64,
                                                      num_hidden_layers=1,
                                                      num_attention_heads=2,
                                                      max_position_embeddings=32))))
    with pytest.raises(ValueError, match='out of range'):
        _model(lora=dict(rank=2, alpha=4, layers=[5]))
    with pytest.raises(ValueError, match=r"fusion must be one of .*got 'sum'"):
        _model(fusion='sum')


def test_text_feature_cache_never_goes_stale():
    model = _model()
    model.begin_task(0, dict(class_names=NAMES))
    model.begin_task(1, dict(class_names=NAMES))
    with pytest.raises(RuntimeError, match='GaussianReplayHook'):
        _train_steps(model, 1, feats=torch.randn(6, 16), labels=torch.tensor([4, 5, 6] * 2))
    model.replay_sampler.update(torch.randn(40, 16), torch.arange(40) % 4)
    model.eval()
    feats = torch.randn(3, 16)
    with torch.no_grad():
        model(feats=feats, mode='tensor')  # caches every group, the training one included
    _train_steps(model, 1, feats=torch.randn(6, 16), labels=torch.tensor([4, 5, 6] * 2))
    model.eval()
    with torch.no_grad():
        cached = model(feats=feats, mode='tensor')
        model._clear_caches()
        assert torch.allclose(cached, model(feats=feats, mode='tensor'))
    assert 0 in model._text_cache  # the frozen group stays cached across mode switches
