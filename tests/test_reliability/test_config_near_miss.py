"""Misspelled keys inside config sections: an error with a suggestion where the consumer would
raise a bare TypeError, a warning with a suggestion where it would ignore the key."""
import pytest

from cissreg.engine.runner import CissRunner
from cissreg.engine.runner.config_check import check_sections
from cissreg.models.heads.yolov8_head import YOLOv8Head
from cissreg.registry import HOOKS, UnexpectedConfigKeyError


@pytest.mark.parametrize('cfg, message', [
    (dict(train_dataloader=dict(dataset={}, batch_sise=2)),
     "train_dataloader does not accept the key 'batch_sise'. Did you mean 'batch_size'?"),
    (dict(val_dataloader=dict(dataset={}, num_worker=2)),
     "val_dataloader does not accept the key 'num_worker'. Did you mean 'num_workers'?"),
    (dict(optim_wrapper=dict(clip_grad=dict(max_nrom=10))),
     "optim_wrapper.clip_grad does not accept the key 'max_nrom'. Did you mean 'max_norm'?"),
    (dict(optim_wrapper=dict(clip_grad=dict(type='value', clip_valeu=1))),
     "optim_wrapper.clip_grad does not accept the key 'clip_valeu'. Did you mean "
     "'clip_value'?"),
    (dict(randomness=dict(seeed=1)),
     "randomness does not accept the key 'seeed'. Did you mean 'seed'?"),
])
def test_misspelled_key_passed_on_as_an_argument_is_an_error(cfg, message):
    with pytest.raises(UnexpectedConfigKeyError, match=message.replace('.', r'\.')
                       .replace('?', r'\?')):
        check_sections(cfg)


@pytest.mark.parametrize('cfg, message', [
    (dict(env_cfg=dict(cudnn_benchmarck=True)),
     "env_cfg: the key 'cudnn_benchmarck'. Did you mean 'cudnn_benchmark'?"),
    (dict(optim_wrapper=dict(paramwise_cfg=dict(norm_decay_mul=0.0))),
     "optim_wrapper.paramwise_cfg: the key 'norm_decay_mul'. Did you mean 'norm_decay_mult'?"),
])
def test_misspelled_key_read_with_get_is_warned_about(cfg, message, captured_log):
    with captured_log() as messages:
        check_sections(cfg)
    assert len(messages) == 1 and messages[0].startswith(message)
    assert messages[0].endswith('; it is ignored.')


def test_correct_sections_pass_quietly(captured_log):
    cfg = dict(train_dataloader=dict(dataset={}, batch_size=2, num_workers=0,
                                     persistent_workers=False, sampler={}, collate_fn={}),
               optim_wrapper=dict(clip_grad=dict(max_norm=10, norm_type=2),
                                  paramwise_cfg=dict(norm_decay_mult=0.0)),
               randomness=dict(seed=0, deterministic=False),
               env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo')))
    with captured_log() as messages:
        check_sections(cfg)
    assert messages == []


def test_yolov8_test_cfg_typo_is_warned_about(captured_log):
    with captured_log() as messages:
        YOLOv8Head(head_module=dict(type='YOLOv8HeadModule', num_classes=2),
                   test_cfg=dict(score_thrr=0.5, max_per_img=10))
    warnings = [m for m in messages if 'test_cfg' in m]
    assert warnings == ["model.test_cfg: the key 'score_thrr'. Did you mean 'score_thr'? "
                        'Accepted: multi_label, nms_pre, score_thr, nms, max_per_img; it is '
                        'ignored.']


def test_checkpoint_hook_kwarg_typo_fails_at_build_with_a_suggestion():
    with pytest.raises(UnexpectedConfigKeyError, match="does not accept the config key "
                       "'max_keep_ckpt'. Did you mean: 'max_keep_ckpts'?"):
        HOOKS.build(dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpt=1))


def test_runner_refuses_a_section_typo_before_building(toy, tmp_path):
    cfg = toy.toy_cfg(tmp_path)
    cfg.train_dataloader.batch_sise = cfg.train_dataloader.pop('batch_size')
    with pytest.raises(UnexpectedConfigKeyError, match="Did you mean 'batch_size'"):
        CissRunner.from_cfg(cfg)
