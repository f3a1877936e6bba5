"""GradLearnerHook: one learner step per batch; the main model untouched; skips; state."""
import copy

import torch

from cissreg.engine.hooks.grad_learner_hook import GradLearnerHook


def _batch(seed=0, n=2, c=4, h=6, w=5, background=False):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 1 + c, h, w, generator=gen)
    trusted = torch.randint(0, c + 1, (n, h, w), generator=gen)
    trusted[0, 0] = 255
    if background:
        trusted[trusted != 255] = 0
    return logits, trusted


def test_step_matches_manual_sampling_and_only_w_changes():
    torch.manual_seed(0)
    hook = GradLearnerHook(samples=7, seed=3)
    logits, trusted = _batch()
    hook.ensure_classes(4, logits.device)
    before = copy.deepcopy(hook.learner.state_dict())
    main = torch.nn.Conv2d(3, 5, 1)
    main_before = copy.deepcopy(main.state_dict())
    loss = hook.step(logits, trusted)
    assert loss is not None and hook.steps == 1
    assert any(not torch.equal(before[k], v) for k, v in hook.learner.state_dict().items())
    assert all(torch.equal(main_before[k], v) for k, v in main.state_dict().items())
    assert all(p.grad is None for p in main.parameters())

    # the same pixels and loss recomputed by hand from the generator's draw
    learner = hook.learner.__class__(4, 64, 2)
    learner.load_state_dict(before)
    flat = logits[:, 1:].permute(0, 2, 3, 1).reshape(-1, 4)
    labels = trusted.reshape(-1)
    idx = ((labels != 0) & (labels != 255)).nonzero().squeeze(1)
    pick = torch.randperm(idx.numel(), generator=torch.Generator().manual_seed(3))[:7]
    z, y = flat[idx[pick]], labels[idx[pick]] - 1
    expected = torch.nn.functional.cross_entropy(learner.simulated_logits(z, y), y)
    torch.testing.assert_close(loss, expected.detach())


def test_all_background_batch_is_skipped():
    hook = GradLearnerHook()
    logits, trusted = _batch(background=True)
    hook.ensure_classes(4, logits.device)
    before = copy.deepcopy(hook.learner.state_dict())
    assert hook.step(logits, trusted) is None
    assert all(torch.equal(before[k], v) for k, v in hook.learner.state_dict().items())


def test_state_round_trip_is_bit_identical_and_continues_identically():
    hook = GradLearnerHook(samples=16, seed=1)
    logits, trusted = _batch(1)
    hook.ensure_classes(4, logits.device)
    hook.step(logits, trusted)
    state = copy.deepcopy(hook.state_dict())
    other = GradLearnerHook(samples=16, seed=99)
    other.load_state_dict(state)
    for k, v in hook.learner.state_dict().items():
        assert torch.equal(v, other.learner.state_dict()[k])
    logits2, trusted2 = _batch(2)
    a, b = hook.step(logits2, trusted2), other.step(logits2, trusted2)
    assert torch.equal(a, b)
    for k, v in hook.learner.state_dict().items():
        assert torch.equal(v, other.learner.state_dict()[k])


def test_building_and_growing_the_learner_leaves_the_global_random_stream_alone():
    """A run with the hook must train the same main model as one without it: the learner's
    initialisation may not consume the global RNG that augmentation and dropout draw from
    (it did: DKD and DKD + gradient learner differed already in step 0)."""
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    hook = GradLearnerHook(seed=2)
    hook.ensure_classes(4, torch.device('cpu'))
    hook.ensure_classes(6, torch.device('cpu'))
    assert torch.equal(torch.rand(3), expected)
    # and the learner itself is reproducible from its seed
    again = GradLearnerHook(seed=2)
    again.ensure_classes(4, torch.device('cpu'))
    again.ensure_classes(6, torch.device('cpu'))
    for (k, a), b in zip(hook.learner.state_dict().items(), again.learner.state_dict().values()):
        assert torch.equal(a, b), k


def test_building_and_growing_never_touches_cuda_random_state(monkeypatch):
    """torch.manual_seed reseeds every CUDA generator too (which fork_rng(devices=[]) does not
    restore), changing the main model's dropout on a GPU: the learner must draw its initial
    weights from a private generator and call no global seeding function."""
    calls = []
    for name in ('manual_seed', 'manual_seed_all', 'seed', 'seed_all', 'set_rng_state',
                 'set_rng_state_all'):
        monkeypatch.setattr(torch.cuda, name,
                            lambda *a, _n=name, **k: calls.append(_n), raising=True)
    cpu_state = torch.get_rng_state()
    hook = GradLearnerHook(seed=4)
    hook.ensure_classes(3, torch.device('cpu'))
    hook.ensure_classes(5, torch.device('cpu'))
    logits, trusted = _batch(3, c=5)
    hook.step(logits, trusted)
    assert calls == []
    assert torch.equal(torch.get_rng_state(), cpu_state)


class _Runner:
    """The parts of a runner the hook reads."""

    def __init__(self, model):
        from mmengine.logging import MessageHub
        self.model, self.epoch = model, 0
        self.train_loop = type('Loop', (), {'task': 0})()
        self.message_hub = MessageHub.get_instance('grad_learner_hook_test')


def _tiny_segmentor():
    from cissreg.registry import MODELS
    return MODELS.build(dict(
        type='IncrementalSegmentor', task_sizes=[2, 1], skip_nonfinite=True,
        backbone=dict(type='TorchvisionResNet', depth=18, out_stride=16, num_stages=3),
        decode_head=dict(type='ASPPHead', in_channels=256, channels=8, dilations=(1, 2, 3))))


def test_nonfinite_batch_leaves_the_learner_untouched_and_is_counted():
    from mmengine.optim import OptimWrapper
    torch.manual_seed(0)
    model = _tiny_segmentor()
    runner = _Runner(model)
    hook = GradLearnerHook(samples=64)
    hook.before_train(runner)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    labels = torch.randint(0, 3, (2, 32, 32))
    good = dict(inputs=torch.rand(2, 3, 32, 32) * 255, labels=labels)
    bad = dict(inputs=good['inputs'].clone(), labels=labels)
    bad['inputs'][0, 0, 3, 3] = float('nan')

    def train_iter(batch):
        hook.before_train_iter(runner, 0, batch)
        model.train_step(_pack(batch), wrapper)
        hook.after_train_iter(runner, 0, batch)

    train_iter(good)
    assert hook.steps == 1 and hook.skipped == 0
    before = copy.deepcopy(hook.learner.state_dict())
    adam_before = copy.deepcopy(hook.optimizer.state_dict())
    train_iter(bad)
    assert model.num_skipped_steps == 1
    assert hook.steps == 1 and hook.skipped == 1
    assert runner.message_hub.get_scalar('train/grad_skipped').current() == 1
    for k, v in hook.learner.state_dict().items():
        assert torch.isfinite(v).all() and torch.equal(before[k], v), k
    assert hook.optimizer.state_dict()['state'][0]['step'] == adam_before['state'][0]['step']
    train_iter(good)  # and the next finite batch trains it again
    assert hook.steps == 2 and hook.skipped == 1


def test_nonfinite_logits_are_skipped_even_without_the_model_guard():
    hook = GradLearnerHook()
    logits, trusted = _batch()
    hook.ensure_classes(4, logits.device)
    before = copy.deepcopy(hook.learner.state_dict())
    logits[1, 2, 3, 3] = float('inf')
    assert hook.step(logits, trusted) is None
    assert all(torch.equal(before[k], v) for k, v in hook.learner.state_dict().items())


def _pack(batch):
    """A pseudo-collated batch as SegDataPreprocessor receives it."""
    from mmengine.structures import BaseDataElement
    samples = []
    for lab in batch['labels']:
        s = BaseDataElement(metainfo=dict(img_path='x.png'))
        s.gt_seg = lab
        samples.append(s)
    return dict(inputs=list(batch['inputs']), data_samples=samples)


def test_phase_replay_mixes_old_step_pixels_into_every_learner_step_and_is_checkpointed():
    hook = GradLearnerHook(samples=8, replay_per_step=6, replay_samples=4, seed=5)
    seen = []
    fit = hook.loss_fit
    hook.loss_fit = lambda pred, target: seen.append(target.clone()) or fit(pred, target)
    # step 0: classes 1-2
    logits, trusted = _batch(0, c=2)
    hook.ensure_classes(2, logits.device)
    hook.replay.start_epoch()
    hook.step(logits, trusted)
    hook.replay.finish_step(0)
    assert len(hook.replay) == 6 and set(hook.replay.buffer[0][1].tolist()) <= {0, 1}
    # step 1: only class 3 is trusted in the batch; the buffer brings classes 1-2 back
    logits, trusted = _batch(1, c=3)
    trusted[(trusted != 255) & (trusted != 3)] = 0
    hook.ensure_classes(3, logits.device)
    seen.clear()
    hook.step(logits, trusted)
    labels = seen[-1]
    assert labels.numel() == 8 + 4
    assert (labels[:8] == 2).all() and (labels[8:] < 2).all()
    # without replay the same batch trains on class 3 only
    plain = GradLearnerHook(samples=8, seed=5)
    plain.ensure_classes(3, logits.device)
    plain_seen = []
    plain.loss_fit = lambda pred, target: plain_seen.append(target) or fit(pred, target)
    plain.step(logits, trusted)
    assert (plain_seen[-1] == 2).all()
    # the buffer travels in the checkpoint and the next step continues identically
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)
    ckpt = copy.deepcopy(ckpt)
    other = GradLearnerHook(samples=8, replay_per_step=6, replay_samples=4, seed=0)
    other.after_load_checkpoint(None, ckpt)
    assert torch.equal(other.replay.buffer[0][0], hook.replay.buffer[0][0])
    hook.loss_fit = other.loss_fit = fit
    a, b = hook.step(*_batch(2, c=3)), other.step(*_batch(2, c=3))
    assert torch.equal(a, b)


def test_image_replay_forwards_old_step_images_through_the_current_model():
    hook = GradLearnerHook(samples=10_000, replay_images_per_step=2, replay_images=2, seed=4)
    seen = []
    simulate = hook._simulate
    hook._simulate = lambda net, z, y: seen.append((z.clone(), y.clone())) or simulate(net, z, y)
    gen = torch.Generator().manual_seed(0)
    # step 0: images with classes 1-2 trusted
    logits, trusted = _batch(0, n=3, c=2)
    inputs = torch.rand(3, 3, 6, 5, generator=gen)
    hook.ensure_classes(2, logits.device)
    hook.step(logits, trusted, inputs)
    hook.image_replay.finish_step(0)
    kept_x, kept_t = hook.image_replay.buffer[0]
    assert kept_x.shape == (2, 3, 6, 5)
    # step 1: only class 3 trusted in the batch; the current model's logits of the kept images
    logits, trusted = _batch(1, n=2, c=3)
    trusted[(trusted != 255) & (trusted != 3)] = 0
    hook.ensure_classes(3, logits.device)
    weight = torch.randn(4, 3, generator=gen)
    calls = []

    def forward(x):
        calls.append(x)
        return torch.einsum('kchw,oc->kohw', x, weight)

    hook.step(logits, trusted, torch.rand(2, 3, 6, 5, generator=gen), forward)
    z, y = seen[-1]
    assert len(calls) == 1 and calls[0].shape == (2, 3, 6, 5)
    n_batch = int(((trusted != 0) & (trusted != 255)).sum())
    assert (y[:n_batch] == 2).all() and (y[n_batch:] < 2).all() and y.numel() > n_batch
    rep = forward(calls[0])[:, 1:].permute(0, 2, 3, 1).reshape(-1, 3)
    lab = hook.image_replay.buffer[0][1]
    drawn = calls[0]
    order = [int((kept_x == d).flatten(1).all(1).nonzero()) for d in drawn]
    t = kept_t[order].reshape(-1)
    keep = (t != 0) & (t != 255)
    torch.testing.assert_close(z[n_batch:], rep[keep])
    assert torch.equal(y[n_batch:], t[keep] - 1) and lab.shape == (2, 6, 5)
    # the kept images travel in the checkpoint
    other = GradLearnerHook(replay_images_per_step=2)
    other.load_state_dict(copy.deepcopy(hook.state_dict()))
    assert torch.equal(other.image_replay.buffer[0][0], kept_x)
    assert torch.equal(other.image_replay.buffer[0][1], kept_t)


def test_class_balanced_fit_is_the_mean_over_classes_of_each_class_mean():
    hook = GradLearnerHook(samples=10_000, class_balanced=True, seed=2)
    logits, trusted = _batch(3)
    hook.ensure_classes(4, logits.device)
    learner = copy.deepcopy(hook.learner).double()
    loss = hook.step(logits, trusted)
    flat = logits[:, 1:].permute(0, 2, 3, 1).reshape(-1, 4).double()
    labels = trusted.reshape(-1)
    keep = (labels != 0) & (labels != 255)
    z, y = flat[keep], labels[keep] - 1
    ce = torch.nn.functional.cross_entropy(learner.simulated_logits(z, y), y, reduction='none')
    expected = torch.stack([ce[y == c].mean() for c in y.unique()]).mean()
    torch.testing.assert_close(loss.double(), expected.detach(), rtol=1e-5, atol=1e-6)


def test_frozen_logits_leave_bn_statistics_and_modes_alone():
    torch.manual_seed(0)
    model = _tiny_segmentor()
    model.train()
    model.decode_head.eval()  # a mixed state, as freeze_bn leaves it
    modes = {n: m.training for n, m in model.named_modules()}
    stats = copy.deepcopy({k: v for k, v in model.state_dict().items() if 'running' in k})
    inputs = torch.rand(2, 3, 32, 32)
    rng = torch.get_rng_state()
    out = GradLearnerHook._frozen_logits(model, inputs)
    assert out.shape == (2, 3, 32, 32) and not out.requires_grad
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert all(torch.equal(stats[k], model.state_dict()[k]) for k in stats)
    assert torch.equal(rng, torch.get_rng_state())
