"""PseudoGumbelSegmentor: the gradient path of the six steps, the EMA teacher, the modes."""
import pytest
import torch

from cissreg.engine.hooks import EMATeacherHook
from cissreg.registry import OPTIM_WRAPPER_CONSTRUCTORS
from cissreg.testing.pseudo_gumbel_tiny_parts import build_tiny, tiny_batch


def _spy(model):
    """Keep the first forward's logits and the Gumbel text embeddings of the next loss."""
    seen = {}
    caption_logits, gumbel = model.mllm.caption_logits, model.gumbel.forward

    def logits_spy(*args, **kwargs):
        seen['logits'] = caption_logits(*args, **kwargs)
        seen['logits'].retain_grad()
        return seen['logits']

    def gumbel_spy(*args, **kwargs):
        seen['text'] = gumbel(*args, **kwargs)
        seen['text'].retain_grad()
        return seen['text']

    model.mllm.caption_logits, model.gumbel.forward = logits_spy, gumbel_spy
    return seen


def test_gradients_flow_through_gumbel_embeddings_and_never_into_teacher(tmp_path):
    model = build_tiny(tmp_path)
    # LoRA B starts at zero (then A has no gradient): give it values, in student and teacher
    for name, p in list(model.mllm.named_parameters()) + list(model.teacher.named_parameters()):
        if 'lora_B' in name:
            p.data.normal_(0, 0.1)
    seen = _spy(model)
    losses = model(**tiny_batch(model), mode='loss')
    assert set(losses) == {'loss_mask', 'loss_dice'}
    total = sum(losses.values())
    total.backward(retain_graph=True)

    logits, text = seen['logits'], seen['text']
    assert logits.shape == (3, 6, model.mllm.vocab_size)
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # only the Gumbel path: backpropagate the text embeddings' gradient alone
    lora = [p for n, p in model.mllm.lm.named_parameters() if 'lora_' in n]
    projector = list(model.mllm.projector.parameters())
    grads = torch.autograd.grad(text, lora + projector, text.grad, allow_unused=True)
    assert all(g is not None and g.abs().sum() > 0 for g in grads[:len(lora)]), 'LoRA'
    assert any(g is not None and g.abs().sum() > 0 for g in grads[len(lora):]), 'projector'
    for p in model.teacher.parameters():
        assert not p.requires_grad and p.grad is None
    assert all(p.grad is None for p in model.mllm.vision_encoder.parameters())


def test_hard_ids_mode_cuts_the_caption_path(tmp_path):
    model = build_tiny(tmp_path, train_mode='hard_ids')
    seen = _spy(model)
    losses = model(**tiny_batch(model), mode='loss')
    sum(losses.values()).backward()
    assert 'logits' not in seen and 'text' not in seen
    assert all(p.grad is None for p in model.teacher.parameters())


def test_supervised_mode_has_caption_loss_and_predict_gives_masks(tmp_path):
    model = build_tiny(tmp_path, train_mode='supervised')
    batch = tiny_batch(model)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_caption', 'loss_mask', 'loss_dice'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    preds = model(**batch, mode='predict', data_samples=dict(img_id=[1, 2, 3]))
    assert [p['img_id'] for p in preds] == [1, 2, 3]
    assert preds[0]['pred_mask'].shape == (32, 32) and preds[0]['pred_mask'].dtype == torch.bool
    with pytest.raises(ValueError, match='train_mode'):
        model.train_mode = 'gumbel'


def test_teacher_follows_ema_formula_exactly(tmp_path):
    model = build_tiny(tmp_path)
    hook = EMATeacherHook(momentum=0.9, warmup_iters=3)
    teacher_state = model.teacher.module.state_dict()
    ref = {k: v.double().clone() for k, v in teacher_state.items()}
    g = torch.Generator().manual_seed(0)
    for step in range(1, 6):
        with torch.no_grad():  # the student moves
            for p in model.student.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
        m = hook.momentum_at(step)
        assert m == pytest.approx(0.9 * min(1, step / 3))
        model.teacher.update(model.student, m)
        for k, v in model.student.state_dict().items():
            if v.dtype.is_floating_point:
                ref[k] = m * ref[k] + (1 - m) * v.double()
            else:
                ref[k] = v.double()
    assert int(model.teacher.num_updates) == 5
    for k, v in model.teacher.module.state_dict().items():
        torch.testing.assert_close(v.double(), ref[k], rtol=0, atol=1e-6, msg=k)
    # frozen tensors (vision encoder) moved too and stayed frozen
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_hook_updates_the_teacher_through_after_train_iter(tmp_path):
    model = build_tiny(tmp_path)
    with torch.no_grad():
        for p in model.projector_params() if hasattr(model, 'projector_params') else \
                model.mllm.projector.parameters():
            p.add_(1.0)

    class Runner:
        epoch, iter = 0, 0

    runner = Runner()
    runner.model = model
    before = model.teacher.module['mllm'].projector[1].weight.clone()
    EMATeacherHook(momentum=0.75).after_train_iter(runner, 0)
    expected = 0.75 * before + 0.25 * model.mllm.projector[1].weight
    torch.testing.assert_close(model.teacher.module['mllm'].projector[1].weight, expected)


def test_optimizer_holds_trainable_student_parameters_only(tmp_path):
    model = build_tiny(tmp_path)
    wrapper = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='TrainableParamsOptimWrapperConstructor',
        optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=1e-3))))(model)
    in_opt = {id(p) for group in wrapper.optimizer.param_groups for p in group['params']}
    assert in_opt == {id(p) for p in model.parameters() if p.requires_grad}
    assert not in_opt & {id(p) for p in model.teacher.parameters()}
    assert any('lora_' in n for n, p in model.named_parameters() if id(p) in in_opt)


def test_generate_equals_teacher_forced_greedy_chain_with_left_padding(tmp_path):
    """Region prompts of different K are left-padded; ``generate`` (KV cache) and the
    teacher-forced pass (explicit positions) must pick the same greedy tokens."""
    model = build_tiny(tmp_path)
    mllm = model.mllm.eval()
    for name, p in mllm.named_parameters():  # a non-trivial LoRA so the LM is not degenerate
        if 'lora_B' in name:
            p.data.normal_(0, 0.5)
    batch = tiny_batch(model)
    x, masks = model.normalize(batch['img1']), batch['mask1']
    masks[2] = 0
    masks[2, 0, 0] = 1  # one covered pixel: K = 1 by the largest-overlap fallback
    assert mllm.region_cells(masks).sum(1).tolist()[2] == 1
    generated = mllm.generate_captions(x, masks, 5)
    chain = torch.empty(3, 0, dtype=torch.long)
    with torch.no_grad():
        for t in range(5):
            probe = torch.cat([chain, chain.new_zeros(3, 1)], 1)
            logits = mllm.caption_logits(x, masks, probe, torch.ones_like(probe, dtype=torch.bool))
            chain = torch.cat([chain, logits[:, -1].argmax(-1, keepdim=True)], 1)
    eos = mllm.eos_id
    for g, c in zip(generated.tolist(), chain.tolist()):
        n = c.index(eos) + 1 if eos in c else len(c)  # generate pads after EOS
        assert g[:n] == c[:n]
