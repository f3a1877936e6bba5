"""StopAtEpochHook and PseudoLabelWeightHook through a real CissRunner on the toy model."""
import pytest
import torch

from cissreg.engine.hooks import pseudo_label_weight
from cissreg.registry import RUNNERS


def test_pseudo_label_weight_is_linear_over_the_global_epochs():
    assert [pseudo_label_weight(e, 5) for e in range(5)] == [0, 0.25, 0.5, 0.75, 1.0]
    assert pseudo_label_weight(7, 5) == 1.0
    assert pseudo_label_weight(2, 5, max_weight=0.0) == 0.0


def _runner(toy, work_dir, stop_at=None, resume=None):
    cfg = toy.toy_cfg(work_dir, max_epochs=4)
    cfg.runner_type = 'CissRunner'
    cfg.default_hooks.update(
        stop=dict(type='StopAtEpochHook', stop_at_epoch=stop_at),
        pseudo_weight=dict(type='PseudoLabelWeightHook'))
    if resume:
        cfg.update(resume=True, load_from=resume)
    return RUNNERS.build(cfg)


def test_stop_at_epoch_saves_full_checkpoint_and_resume_matches(toy, tmp_path):
    full = _runner(toy, tmp_path / 'full')
    full.train()
    first = _runner(toy, tmp_path / 'part', stop_at=2)
    first.train()  # returns normally after epoch 2
    assert first.epoch == 2
    ckpt = torch.load(tmp_path / 'part' / 'epoch_2.pth', weights_only=False)
    assert ckpt['meta']['epoch'] == 2 and 'optimizer' in ckpt and 'param_schedulers' in ckpt
    assert not (tmp_path / 'part' / 'epoch_3.pth').exists()
    second = _runner(toy, tmp_path / 'part', stop_at=3,
                     resume=str(tmp_path / 'part' / 'epoch_2.pth'))
    second.train()
    # gamma was set from the global epoch index 2 of 4 right after the resume
    assert second.model.pseudo_weight == pytest.approx(2 / 3)
    third = _runner(toy, tmp_path / 'part', resume=str(tmp_path / 'part' / 'epoch_3.pth'))
    third.train()
    for key, value in full.model.state_dict().items():
        torch.testing.assert_close(third.model.state_dict()[key], value, rtol=0, atol=0)


def _fake_runner(epoch, it, iters_per_epoch=10, max_epochs=8):
    from types import SimpleNamespace
    model = SimpleNamespace(pseudo_weight=None, sup_con_weight=0.35)
    return SimpleNamespace(model=model, epoch=epoch, iter=it, max_epochs=max_epochs,
                           train_dataloader=[None] * iters_per_epoch)


def test_gamma_ramp_starts_when_pseudo_labels_first_exist():
    from cissreg.engine.hooks import PseudoLabelWeightHook
    hook = PseudoLabelWeightHook(max_weight=0.8, start_epoch=4)
    got = []
    for it in (0, 39, 40, 41, 60, 79, 200):
        runner = _fake_runner(it // 10, it)
        hook.before_train_epoch(runner)  # the ramp is set per iteration only
        assert runner.model.pseudo_weight is None
        hook.before_train_iter(runner, it % 10)
        got.append(runner.model.pseudo_weight)
    # 0 before epoch 4, then 0.8 * (iter - 40) / 40, capped at 0.8: no jump
    assert got == pytest.approx([0, 0, 0, 0.02, 0.4, 0.78, 0.8])
    whole = PseudoLabelWeightHook(max_weight=1.0)
    runner = _fake_runner(4, 40)
    whole.before_train_epoch(runner)
    assert runner.model.pseudo_weight == pytest.approx(4 / 7)


def test_self_supervised_warmup_zeroes_the_supervised_weight():
    from cissreg.engine.hooks import SelfSupervisedWarmupHook
    hook = SelfSupervisedWarmupHook(epochs=2)
    weights = []
    for epoch in range(4):
        runner = _fake_runner(epoch, epoch * 10)
        hook.before_train_epoch(runner)
        weights.append(runner.model.sup_con_weight)
    assert weights == [0.0, 0.0, 0.35, 0.35]
