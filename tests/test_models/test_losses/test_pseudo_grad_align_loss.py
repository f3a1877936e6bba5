"""PseudoGradAlignLoss: the main model's gradient against a float64 reference."""
import math

import pytest
import torch

from cissreg.registry import MODELS


def _case(seed=0, n=2, c=4, num_old=3, h=5, w=4):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 1 + c, h, w, generator=gen, dtype=torch.float64)
    old = torch.randn(n, num_old, h, w, generator=gen, dtype=torch.float64) * 2
    labels = torch.randint(0, c + 1, (n, h, w), generator=gen)
    labels[labels <= num_old] = 0  # overlap: old objects are background in the labels
    labels[0, 0, 0] = 255
    trusted = labels.clone()
    trusted[1, 4, :2] = 2  # memory exemplar pixels: old class, label 0
    matrix = torch.randn(c, c, generator=gen, dtype=torch.float64)
    return logits, old, labels, trusted, matrix


def _reference(logits, old, labels, trusted, matrix, num_old, beta, target):
    """Per-pixel loops in float64: d loss / d z for every pixel, ``[N, C, H, W]``."""
    n, c1, h, w = logits.shape
    c = c1 - 1
    taus = []
    for i in range(n):
        for y in range(h):
            for x in range(w):
                t = int(trusted[i, y, x])
                if t not in (0, 255):
                    z = logits[i, 1:, y, x]
                    p = torch.exp(z - z.max()) / torch.exp(z - z.max()).sum()
                    onehot = torch.zeros(c, dtype=torch.float64)
                    onehot[t - 1] = 1
                    taus.append(math.sqrt(float(((p - onehot) ** 2).sum())))
    tau_bar = sum(taus) / len(taus)
    picked = []
    for i in range(n):
        for y in range(h):
            for x in range(w):
                score = max(1 / (1 + math.exp(-float(v))) for v in old[i, :, y, x])
                if labels[i, y, x] == 0 and trusted[i, y, x] == 0 and score > 0.5:
                    picked.append((i, y, x))
    grad = torch.zeros(n, c, h, w, dtype=torch.float64)
    for i, y, x in picked:
        z = logits[i, 1:, y, x]
        if target == 'learner':
            g = z @ matrix
        else:
            p = torch.exp(z) / torch.exp(z).sum()
            onehot = torch.zeros(c, dtype=torch.float64)
            onehot[int(old[i, :, y, x].argmax())] = 1
            g = p - onehot
        g = g.clone()
        g[num_old:] = 0
        g = tau_bar * g / (math.sqrt(float((g ** 2).sum())) + 1e-6)
        grad[i, :, y, x] = beta * g / len(picked)
    return grad, picked


def _segmentor(beta, target):
    model = MODELS.build(dict(
        type='IncrementalSegmentor', task_sizes=[3, 1],
        backbone=dict(type='TorchvisionResNet', depth=18, out_stride=16, num_stages=3),
        decode_head=dict(type='ASPPHead', in_channels=256, channels=8, dilations=(1, 2, 3)),
        loss_align=dict(type='PseudoGradAlignLoss', target=target, loss_weight=beta)))
    model.begin_task(1)
    return model


@pytest.mark.parametrize('target', ['learner', 'pseudo_label'])
def test_gradient_on_the_main_model_equals_float64_reference(target):
    logits, old, labels, trusted, matrix = _case()
    model = _segmentor(0.7, target)
    model.__dict__['grad_predictor'] = lambda z: z @ matrix
    fg = logits[:, 1:].clone().requires_grad_(True)
    loss = model._align_loss(fg, old, labels, trusted)
    loss.backward()
    expected, picked = _reference(logits, old, labels, trusted, matrix, 3, 0.7, target)
    assert len(picked) >= 3
    torch.testing.assert_close(fg.grad, expected, rtol=1e-9, atol=1e-12)
    # zero on trusted pixels (new-class labels and memory exemplars) and on new classes
    trusted_fg = (trusted != 0) & (trusted != 255)
    assert fg.grad.permute(0, 2, 3, 1)[trusted_fg].abs().max() == 0
    assert fg.grad[:, 3:].abs().max() == 0
    assert fg.grad[:, :3].abs().max() > 0
    # the value is <g_tilde, z> summed over the picked pixels, averaged
    value = sum(float((expected[i, :, y, x] * fg[i, :, y, x]).sum()) for i, y, x in picked)
    assert abs(float(loss) - value) < 1e-9


def test_no_gradient_reaches_the_learner_and_no_pixels_give_zero():
    logits, old, labels, trusted, _ = _case(1)
    model = _segmentor(1.0, 'learner')
    learner = MODELS.build(dict(type='GradLearner', num_classes=4)).double()
    model.__dict__['grad_predictor'] = learner
    fg = logits[:, 1:].clone().requires_grad_(True)
    model._align_loss(fg, old, labels, trusted).backward()
    assert all(p.grad is None for p in learner.parameters())
    fg.grad = None
    none = model._align_loss(fg, old - 100, labels, trusted)  # old model: all background
    none.backward()
    assert float(none) == 0 and fg.grad.abs().max() == 0


def test_learner_target_without_a_learner_names_the_fix():
    logits, old, labels, trusted, _ = _case(2)
    model = _segmentor(1.0, 'learner')
    with pytest.raises(ValueError, match='GradLearnerHook'):
        model._align_loss(logits[:, 1:], old, labels, trusted)


def test_segmentor_reports_loss_align_in_steps_after_the_first():
    torch.manual_seed(0)
    model = _segmentor(1.0, 'pseudo_label')
    x = torch.randn(2, 3, 32, 32)
    losses = model.loss(x, torch.randint(0, 5, (2, 32, 32)))
    assert 'loss_align' in losses and torch.isfinite(losses['loss_align'])
