"""Whole-config checks run by ``CissRunner.from_cfg``: near-miss top-level keys."""
import contextlib

import pytest

from cissreg.engine.runner import CissRunner
from cissreg.engine.runner.config_check import near_miss_keys


@pytest.mark.parametrize('typo, meant', [('train_cgf', 'train_cfg'),
                                         ('optim_wraper', 'optim_wrapper'),
                                         ('defualt_hooks', 'default_hooks'),
                                         ('custom_hook', 'custom_hooks')])
def test_near_miss_of_a_runner_argument_warns_naming_it(toy, tmp_path, captured_log, typo,
                                                        meant):
    cfg = toy.toy_cfg(tmp_path, max_epochs=1)
    cfg[typo] = cfg.pop(meant) if meant != 'train_cfg' else dict(cfg[meant])
    with captured_log() as log, contextlib.suppress(ValueError):
        CissRunner.from_cfg(cfg)  # without optim_wrapper mmengine refuses after the warning
    warnings = [m for m in log if repr(typo) in m]
    assert len(warnings) == 1, log
    assert f'did you mean {meant!r}?' in warnings[0]
    state = 'is also set' if meant in cfg else 'is not set, so its default is used'
    assert state in warnings[0]


def test_config_variables_are_not_near_misses(toy, tmp_path, captured_log):
    cfg = toy.toy_cfg(tmp_path, max_epochs=1)
    own = dict(base_lr=0.01, max_epochs=1, train_batch_size_per_gpu=4, val_interval=1,
               num_classes=3, img_scale=(64, 64), data_root='data/', norm_cfg=dict(),
               act_cfg=dict(), custom_imports=dict(imports=[]), runner_type='CissRunner')
    cfg.merge_from_dict(own)
    assert near_miss_keys(cfg) == {}
    with captured_log() as log:
        CissRunner.from_cfg(cfg)
    assert not [m for m in log if 'did you mean' in m], log
