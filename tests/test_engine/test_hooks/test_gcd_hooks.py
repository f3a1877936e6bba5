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
