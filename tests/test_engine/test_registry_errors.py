"""Actionable registry errors: unknown ``type=``, failed ``locations`` imports, bad config keys."""
import importlib
from pathlib import Path

import pytest
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope, Registry

from cissreg.engine.runner import CissRunner
from cissreg.registry import HOOKS, MODELS, CissRegistry, UnexpectedConfigKeyError, UnknownTypeError

TOY_DIR = Path(__file__).parent


@pytest.fixture(scope='module')
def toy():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(TOY_DIR))
        return importlib.import_module('cissreg_toy_parts')


@pytest.fixture
def cissreg_scope():
    with DefaultScope.overwrite_default_scope('cissreg'):
        yield


def test_unknown_type_names_registry_and_close_names(toy, cissreg_scope):
    with pytest.raises(UnknownTypeError) as err:
        MODELS.build(dict(type='ToyDropotNet'))
    first_line = str(err.value).splitlines()[0]
    assert first_line.startswith("'ToyDropotNet' is not in the cissreg::model registry. "
                                 "Did you mean: 'ToyDropoutNet'")
    assert 'custom_imports' in str(err.value)


def test_close_names_ignore_case_and_come_from_parent_registries(cissreg_scope):
    with pytest.raises(UnknownTypeError, match="Did you mean: 'CheckpointHook'"):
        HOOKS.build(dict(type='checkpointhook'))  # registered in mmengine's root HOOKS


def test_building_through_mmengine_root_gives_the_same_error(toy, cissreg_scope):
    """Runner.build_model etc. build through mmengine's root registry; the scope routes here."""
    with pytest.raises(UnknownTypeError, match="cissreg::model registry. Did you mean: "
                       "'ToyDropoutNet'"):
        MMENGINE_MODELS.build(dict(type='ToyDropoutNett'))


def test_unknown_type_in_a_runner_config(toy, tmp_path):
    cfg = toy.toy_cfg(tmp_path)
    cfg.model.type = 'ToyDropNet'
    with pytest.raises(UnknownTypeError, match="'ToyDropNet' is not in the cissreg::model "
                       "registry. Did you mean: 'ToyDropoutNet'"):
        CissRunner.from_cfg(cfg)


def test_type_registered_in_another_cissreg_registry_is_pointed_out(toy, cissreg_scope):
    with pytest.raises(UnknownTypeError) as err:
        MODELS.build(dict(type='ToyAccuracy'))
    assert "'ToyAccuracy' is registered in cissreg::metric" in str(err.value)


def test_get_returns_none_for_an_unknown_name_like_mmengine():
    """mmengine's documented contract, which code probing a registry relies on."""
    assert MODELS.get('Nope') is None
    assert MMENGINE_MODELS.get('Nope') is None
    assert 'Nope' not in MODELS


def test_get_resolves_names_of_cissreg_and_of_parent_registries():
    from mmengine.hooks import CheckpointHook

    from cissreg.models.losses import IoULoss
    assert MODELS.get('IoULoss') is IoULoss
    assert HOOKS.get('CheckpointHook') is CheckpointHook


def test_failed_location_import_is_named():
    root = Registry('probe root')
    registry = CissRegistry('probe', parent=root, locations=['cissreg_no_such_module_xyz'])
    assert registry.get('Anything') is None
    with pytest.raises(UnknownTypeError) as err:
        registry.build(dict(type='Anything'))
    message = str(err.value)
    assert "'Anything' is not in the cissreg::probe registry." in message
    assert ("Importing 'cissreg_no_such_module_xyz' failed (ModuleNotFoundError: No module "
            "named 'cissreg_no_such_module_xyz')") in message


def test_names_registered_before_a_failed_import_stay_usable():
    root = Registry('probe root 2')
    registry = CissRegistry('probe', parent=root, locations=['cissreg_no_such_module_xyz'])

    @registry.register_module()
    class Present:
        pass

    assert registry.get('Present') is Present
    assert 'Present' in registry and 'Absent' not in registry


def test_dotted_import_paths_still_resolve():
    import torch
    assert MODELS.get('torch.nn.ReLU') is torch.nn.ReLU


def test_unexpected_config_key_names_component_and_key(toy, cissreg_scope):
    with pytest.raises(UnexpectedConfigKeyError) as err:
        MODELS.build(dict(type='ToyDropoutNet', hiden=16))
    message = str(err.value)
    assert message.startswith("ToyDropoutNet (cissreg::model registry) does not accept the "
                              "config key 'hiden'. Did you mean: 'hidden'?")
    assert 'It accepts: in_dim, hidden, num_classes, p, sync_bn' in message


def test_unexpected_key_error_of_a_nested_component_is_not_misattributed(cissreg_scope):
    import torch.nn as nn

    @MODELS.register_module()
    class CissregProbeOuter(nn.Module):

        def __init__(self, inner: dict) -> None:
            super().__init__()
            self.inner = MODELS.build(inner)

    with pytest.raises(UnexpectedConfigKeyError, match=r'^Linear \(cissreg::model registry\) '
                       r"does not accept the config key 'in_feature'"):
        MODELS.build(dict(type='CissregProbeOuter',
                          inner=dict(type='torch.nn.Linear', in_feature=2, out_features=3)))
