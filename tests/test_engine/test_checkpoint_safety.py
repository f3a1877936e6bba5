"""Safe (weights_only) checkpoint loading and crash-safe checkpoint writing."""
import builtins
import contextlib
import importlib
import os
import pickle
from pathlib import Path

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint

from cissreg.engine.runner import CissRunner
from cissreg.utils import atomic_io
from cissreg.utils.atomic_io import atomic_write_bytes
from cissreg.utils.safe_load import (UnsafeCheckpointError, checkpoint_safe_globals,
                                     register_checkpoint_safe_globals)

TOY_DIR = Path(__file__).parent


@pytest.fixture(scope='module')
def toy():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(TOY_DIR))
        return importlib.import_module('cissreg_toy_parts')


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


def _crash_halfway(f, data):
    f.write(data[:len(data) // 2])
    raise OSError('disk died mid-write')


@pytest.mark.parametrize('error', [OSError, KeyboardInterrupt])
def test_atomic_write_keeps_old_file_on_crash(tmp_path, monkeypatch, error):
    target = tmp_path / 'file.bin'
    atomic_write_bytes(target, b'old content')

    def crash(f, data):
        f.write(data[:3])
        raise error('killed')

    monkeypatch.setattr(atomic_io, '_write_chunks', crash)
    with pytest.raises(error):
        atomic_write_bytes(target, b'new content that never lands')
    assert target.read_bytes() == b'old content'
    assert os.listdir(tmp_path) == ['file.bin']  # no temp file left behind

    monkeypatch.undo()
    atomic_write_bytes(target, b'new content')
    assert target.read_bytes() == b'new content'
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # usual permissions, not mkstemp's


def _checkpoint_files(work_dir: Path) -> list:
    """Files in ``work_dir`` other than the dumped config, temp files included."""
    return sorted(p.name for p in work_dir.iterdir() if p.is_file() and p.suffix != '.py')


def test_crash_while_saving_keeps_previous_checkpoint_resumable(toy, tmp_path, monkeypatch):
    """A crash writing epoch_2.pth with max_keep_ckpts=1 leaves epoch_1.pth and its pointer."""
    real_write = atomic_io._write_chunks

    def crash_on_epoch_2(f, data):
        if 'epoch_2.pth' in f.name:
            return _crash_halfway(f, data)
        return real_write(f, data)

    monkeypatch.setattr(atomic_io, '_write_chunks', crash_on_epoch_2)
    cfg = toy.toy_cfg(tmp_path, max_epochs=2)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1)
    with pytest.raises(OSError, match='disk died'):
        CissRunner.from_cfg(cfg).train()

    assert _checkpoint_files(tmp_path) == ['epoch_1.pth', 'last_checkpoint']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')
    assert torch.load(tmp_path / 'epoch_1.pth', weights_only=True)['meta']['epoch'] == 1

    monkeypatch.undo()
    cfg.resume = True
    runner = CissRunner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2
    assert _checkpoint_files(tmp_path) == ['epoch_2.pth', 'last_checkpoint']
