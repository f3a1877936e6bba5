"""Safe (weights_only) checkpoint loading: the allowlist, refused pickles, env overrides."""
import builtins
import contextlib
import os
import pickle
from pathlib import Path

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint

from cissreg.engine.runner import CissRunner
from cissreg.utils.safe_load import (UnsafeCheckpointError, checkpoint_safe_globals,
                                     register_checkpoint_safe_globals)


@pytest.fixture(scope='module')
def real_checkpoint(toy, tmp_path_factory) -> Path:
    """Checkpoint of a real run: val + save_best, EMA, Adam, MultiStepLR, numpy dataset meta."""
    work_dir = tmp_path_factory.mktemp('real_run')
    cfg = toy.toy_cfg(work_dir, max_epochs=2)
    cfg.optim_wrapper = dict(optimizer=dict(type='Adam', lr=0.01))
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1,
                                        save_best='accuracy', rule='greater')
    CissRunner.from_cfg(cfg).train()
    return work_dir / 'epoch_2.pth'


class _RunsShellCommand:

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _CustomObject:
    pass


class _GetattrAbuse:

    def __reduce__(self):
        return getattr, (HistoryBuffer, 'update')


@contextlib.contextmanager
def _torch_default_safe_globals():
    """Temporarily drop every allowlisted global (cissreg's and anyone else's)."""
    previous = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.add_safe_globals(previous)
        register_checkpoint_safe_globals()


def test_real_checkpoint_needs_and_gets_the_allowlisted_globals(real_checkpoint):
    with _torch_default_safe_globals():
        needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(real_checkpoint)))
        with pytest.raises(pickle.UnpicklingError):
            torch.load(real_checkpoint, weights_only=True)
    # what mmengine 0.10.7 puts in a checkpoint beyond torch's defaults
    assert {'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr',
            'numpy._core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype'} <= needed
    allowed = {obj[1] if isinstance(obj, tuple) else f'{obj.__module__}.{obj.__qualname__}'
               for obj in checkpoint_safe_globals()}
    assert needed <= allowed

    ckpt = torch.load(real_checkpoint, weights_only=True)
    assert {'meta', 'state_dict', 'message_hub', 'optimizer', 'param_schedulers',
            'ema_state_dict'} <= set(ckpt)
    assert isinstance(ckpt['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    assert ckpt['message_hub']['log_scalars']['train/loss'].mean() > 0
    assert ckpt['message_hub']['runtime_info']['best_score'] >= 0


def test_allowlist_is_narrow():
    allowed = torch.serialization.get_safe_globals()
    real = [obj[0] if isinstance(obj, tuple) else obj for obj in allowed]
    for dangerous in (builtins.getattr, builtins.eval, builtins.exec, os.system,
                      builtins.__import__):
        assert all(obj is not dangerous for obj in real)
    restricted_getattr = dict((name, obj) for obj, name in
                              (o for o in allowed if isinstance(o, tuple)))['builtins.getattr']
    assert restricted_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        restricted_getattr(HistoryBuffer, '__init__')


@pytest.mark.parametrize('loader', ['mmengine_checkpoint_loader', 'load_checkpoint', 'runner'])
def test_malicious_pickle_is_refused_and_never_runs(toy, tmp_path, loader):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsShellCommand(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        if loader == 'mmengine_checkpoint_loader':
            _load_checkpoint(str(path))
        elif loader == 'load_checkpoint':
            load_checkpoint(torch.nn.Linear(2, 2), str(path))
        else:
            cfg = toy.toy_cfg(tmp_path / 'work', max_epochs=1)
            cfg.custom_hooks = []
            cfg.load_from = str(path)
            CissRunner.from_cfg(cfg).load_or_resume()
    message = str(err.value)
    assert f'checkpoint {path} asks for the global posix.system' in message
    assert 'cissreg does not allow under safe loading' in message
    assert 'If you trust this file' in message
    assert not marker.exists()


def test_custom_class_and_getattr_tricks_are_refused(tmp_path):
    for name, payload in (('custom', _CustomObject()), ('getattr', _GetattrAbuse())):
        path = tmp_path / f'{name}.pth'
        torch.save({'meta': payload}, path)
        with pytest.raises(UnsafeCheckpointError, match=f'checkpoint {path} asks for the global'):
            _load_checkpoint(str(path))


def test_env_override_cannot_turn_safe_loading_off(tmp_path, monkeypatch):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'meta': _RunsShellCommand(marker)}, path)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(path))
    assert not marker.exists()


def test_safe_torch_load_keeps_the_process_allowlist(real_checkpoint):
    """Loading allows the checkpoint globals for the load only, and never removes globals
    that ``register_all_modules`` (or anyone) allowed for the whole process."""
    from cissreg.utils.safe_load import safe_torch_load
    with _torch_default_safe_globals():
        assert safe_torch_load(str(real_checkpoint))['meta']['epoch'] == 2
        assert torch.serialization.get_safe_globals() == []  # added for the load only
    before = torch.serialization.get_safe_globals()
    assert HistoryBuffer in before
    safe_torch_load(str(real_checkpoint))
    assert set(torch.serialization.get_safe_globals()) == set(before)
    torch.load(real_checkpoint, weights_only=True)  # still allowed for plain torch.load
