"""IncrementalSegmentor: shapes, growing from the aux classifier, old model, freeze_bn, DKD
param groups, prediction rule."""
import torch
from torch import nn

from cissreg.engine.optim import dkd_param_groups
from cissreg.models.segmentors.ciss import sigmoid_argmax_prediction
from cissreg.registry import MODELS


def build(task_sizes=(2, 1, 1), **kw):
    return MODELS.build(dict(
        type='IncrementalSegmentor', task_sizes=list(task_sizes),
        backbone=dict(type='TorchvisionResNet', depth=18, out_stride=16),
        decode_head=dict(type='ASPPHead', in_channels=512, channels=16), **kw))


def test_output_stride_logits_and_losses_step0():
    torch.manual_seed(0)
    model = build()
    x = torch.randn(2, 3, 64, 48)
    feat, logits = model.seg_logits(x)
    assert feat.shape == (2, 16, 4, 3) and logits.shape == (2, 3, 64, 48)
    labels = torch.randint(0, 3, (2, 64, 48))
    losses = model.loss(x, labels)
    assert set(losses) == {'loss_mbce', 'loss_ac'}
    sum(losses.values()).backward()
    # the aux classifier sees detached features: its loss reaches only its own conv
    model.zero_grad(set_to_none=True)
    model.loss(x, labels)['loss_ac'].backward()
    assert model.classifiers[0].weight.grad is not None
    head_grad = model.decode_head.last_conv[0].weight.grad
    assert head_grad is None or torch.count_nonzero(head_grad) == 0


def test_grow_copies_aux_old_model_frozen_and_not_saved():
    torch.manual_seed(1)
    model = build()
    keys_before = set(model.state_dict())
    model.begin_task(1)
    assert len(model.classifiers) == 3
    torch.testing.assert_close(model.classifiers[2].weight, model.classifiers[0].weight)
    torch.testing.assert_close(model.classifiers[2].bias, model.classifiers[0].bias)
    old = model.old_model
    assert old is not None and not old.training
    assert all(not p.requires_grad for p in old.parameters())
    assert all(not k.startswith('old_model') for k in model.state_dict())
    assert set(model.state_dict()) - keys_before == {'classifiers.2.weight', 'classifiers.2.bias'}
    assert not any(p is q for p in old.parameters() for q in model.parameters())
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(not m.training and not m.weight.requires_grad for m in bns)
    assert not model.decode_head.dropout.training
    x = torch.randn(2, 3, 64, 64)
    losses = model.loss(x, torch.randint(0, 4, (2, 64, 64)))
    assert set(losses) == {'loss_mbce', 'loss_ac', 'loss_kd', 'loss_dkd'}
    # at the start of the step the student equals the old model: KD is at its minimum
    kd = model.losses['kd']
    feat, logits = model.seg_logits(x)
    assert torch.allclose(losses['loss_kd'], kd(logits[:, 1:3], logits[:, 1:3]))


def test_dkd_param_groups_per_step():
    model = build()
    groups = dkd_param_groups(model, lr=1e-3, weight_decay=1e-4)
    assert [g['lr'] for g in groups] == [1e-3, 1e-2, 1e-2]
    assert all(g['weight_decay'] == 1e-4 for g in groups)
    model.begin_task(1)
    groups = dkd_param_groups(model, lr=1e-4, weight_decay=1e-4)
    assert [g['weight_decay'] for g in groups] == [0.0, 0.0, 0.0, 1e-4]
    assert groups[-1]['params'] == list(model.classifiers[-1].parameters())
    bn_params = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d)
                 for p in m.parameters()}
    assert not any(id(p) in bn_params for g in groups for p in g['params'])


def test_prediction_rule():
    logits = torch.tensor([[0.0, -1.0, 2.0], [5.0, -3.0, -1.0], [0.0, 1.0, 0.5]])
    logits = logits.T.reshape(1, 3, 1, 3)  # pixels: (fg 2 wins), (none > 0.5), (fg 1)
    assert sigmoid_argmax_prediction(logits).tolist() == [[[2, 0, 1]]]


def test_loss_terms_keep_their_relative_scale_at_every_batch_size():
    """MBCE, AC, KD and DKD are added into one loss; each is a per-class pixel mean, so a
    batch repeated 1, 2 or 4 times (the same pixels, the same BN statistics) gives the same
    value for every term: their ratio does not drift with the batch size."""
    torch.manual_seed(3)
    model = build()
    model.begin_task(1)  # all four terms active, BN frozen (eval statistics)
    model.train()
    x = torch.randn(2, 3, 48, 48)
    labels = torch.randint(0, 4, (2, 48, 48))
    # move the student away from the old model so that KD and DKD are not at their minimum
    with torch.no_grad():
        for p in model.classifiers.parameters():
            p.add_(0.3 * torch.randn_like(p))
    ref = {k: v.double() for k, v in model.loss(x, labels).items()}
    assert set(ref) == {'loss_mbce', 'loss_ac', 'loss_kd', 'loss_dkd'}
    for repeat in (2, 4):
        got = model.loss(x.repeat(repeat, 1, 1, 1), labels.repeat(repeat, 1, 1))
        for key, value in ref.items():
            torch.testing.assert_close(got[key].double(), value, rtol=1e-5, atol=1e-7)
