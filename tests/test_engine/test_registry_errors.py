"""Actionable registry errors: unknown ``type=``, failed ``locations`` imports, bad config keys."""
import pytest
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

from cissreg.engine.runner import CissRunner
from cissreg.registry import HOOKS, MODELS, CissRegistry, UnexpectedConfigKeyError, UnknownTypeError


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


# Misspelled keyword arguments of everything mmengine's Runner builds (through mmengine's root
# registries, or directly for loops / log processor given without ``type``): the same message
# as a model or loss. Each case: config changes setting the stage, path to the component's
# config, misspelled key, component named in the message, its registry, the key meant.
RUNNER_BUILT_TYPOS = [
    pytest.param({}, ('default_hooks', 'logger'), 'intervl', 'LoggerHook', 'hook', 'interval',
                 id='hook-default_hooks'),
    pytest.param(dict(custom_hooks=[dict(type='GaussianReplayHook')]), ('custom_hooks', 0),
                 'samples_per_old_clas', 'GaussianReplayHook', 'hook', 'samples_per_old_class',
                 id='hook-custom_hooks'),
    pytest.param({}, ('train_dataloader', 'dataset'), 'sise', 'ToyNoisyDataset', 'dataset',
                 'size', id='dataset'),
    pytest.param({'train_dataloader.dataset.pipeline': [dict(type='LetterResize', scale=4)]},
                 ('train_dataloader', 'dataset', 'pipeline', 0), 'pad_vale', 'LetterResize',
                 'transform', 'pad_val', id='transform'),
    pytest.param({}, ('train_dataloader', 'sampler'), 'shufle', 'DefaultSampler', 'data sampler',
                 'shuffle', id='data_sampler'),
    pytest.param({}, ('val_evaluator', ), 'colect_device', 'ToyAccuracy', 'metric',
                 'collect_device', id='metric'),
    pytest.param(dict(visualizer=dict(type='DetLocalVisualizer')), ('visualizer', ),
                 'line_widht', 'DetLocalVisualizer', 'visualizer', 'line_width',
                 id='visualizer'),
    pytest.param({}, ('optim_wrapper', ), 'clip_gard', 'OptimWrapper', 'optim_wrapper',
                 'clip_grad', id='optim_wrapper'),
    pytest.param({}, ('optim_wrapper', 'optimizer'), 'momentun', 'SGD', 'optimizer', 'momentum',
                 id='optimizer'),
    pytest.param({}, ('param_scheduler', 0), 'gama', 'MultiStepLR', 'parameter scheduler',
                 'gamma', id='param_scheduler'),
    pytest.param(dict(train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)),
                 ('train_cfg', ), 'val_intervl', 'EpochBasedTrainLoop', 'loop', 'val_interval',
                 id='loop-with-type'),
    pytest.param({}, ('train_cfg', ), 'max_epoch', 'train_cfg: EpochBasedTrainLoop', 'loop',
                 'max_epochs', id='loop-by_epoch'),
    pytest.param({}, ('val_cfg', ), 'fp_16', 'val_cfg: ValLoop', 'loop', 'fp16', id='val_loop'),
    pytest.param(dict(log_processor=dict(window_size=10)), ('log_processor', ), 'window_szie',
                 'log_processor: LogProcessor', 'log_processor', 'window_size',
                 id='log_processor'),
]


@pytest.mark.parametrize('setup, path, key, component, registry, close', RUNNER_BUILT_TYPOS)
def test_runner_built_component_names_a_misspelled_key(toy, tmp_path, setup, path, key,
                                                       component, registry, close):
    cfg = toy.toy_cfg(tmp_path, max_epochs=1)
    for dotted, value in setup.items():  # replace (not merge) what the case sets up
        *parents, last = dotted.split('.')
        node = cfg
        for part in parents:
            node = node[part]
        node[last] = value
    if 'visualizer' in cfg:  # a visualizer is a named singleton: a fresh name builds a new one
        cfg.visualizer.name = f'visualizer_{tmp_path.name}'
    node = cfg
    for part in path:
        node = node[part]
    node[key] = node.get(close)
    with pytest.raises(UnexpectedConfigKeyError) as err:
        CissRunner.from_cfg(cfg).train()
    message = str(err.value)
    assert message.startswith(f'{component} (cissreg::{registry} registry) does not accept the '
                              f"config key '{key}'. Did you mean: '{close}'"), message
    accepted = message.split('It accepts: ')[1].rstrip('.').split(', ')
    assert close in accepted and key not in accepted
    assert 'runner' not in accepted and 'dataloader' not in accepted  # passed by the Runner
