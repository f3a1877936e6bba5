"""AtomicCheckpointHook: what configs get, and the runner's warning for mmengine's plain hook."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import CheckpointHook

from cissreg.engine.hooks import AtomicCheckpointHook
from cissreg.engine.runner import CissRunner
from cissreg.utils import atomic_io

REPO = Path(__file__).parents[3]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(REPO / 'configs')))
def test_every_shipped_config_asks_for_the_atomic_hook(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'


def _checkpoint_hooks(runner):
    return [hook for hook in runner.hooks if isinstance(hook, CheckpointHook)]


def _log_text(work_dir: Path) -> str:
    """The run's log file (the runners get unique ``experiment_name``: own logger each)."""
    return '\n'.join(p.read_text() for p in work_dir.glob('*/*.log'))


def test_runner_builds_the_hook_the_config_names_and_warns_for_the_plain_one(toy, tmp_path):
    cfg = toy.toy_cfg(tmp_path / 'plain', max_epochs=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.experiment_name = 'plain_hook'
    runner = CissRunner.from_cfg(cfg)
    assert [type(h) for h in _checkpoint_hooks(runner)] == [CheckpointHook]
    assert "mmengine's CheckpointHook" in _log_text(tmp_path / 'plain')

    cfg = toy.toy_cfg(tmp_path / 'atomic', max_epochs=1)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1)
    cfg.experiment_name = 'atomic_hook'
    runner = CissRunner.from_cfg(cfg)
    assert [type(h) for h in _checkpoint_hooks(runner)] == [AtomicCheckpointHook]
    assert "mmengine's CheckpointHook" not in _log_text(tmp_path / 'atomic')


def test_stale_temp_files_are_removed_at_start_and_logged(toy, tmp_path):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    stale = ['.epoch_1.pth.abcd1234.tmp', '.last_checkpoint.k2_x9zq0.tmp']
    for name in stale:
        (work_dir / name).write_bytes(b'half a checkpoint')
    (work_dir / '.notes.tmp').write_text('not ours')  # no 8-character temp suffix: kept
    cfg = toy.toy_cfg(work_dir, max_epochs=1)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1)
    cfg.log_level = 'INFO'
    cfg.experiment_name = 'stale_temp_files'
    CissRunner.from_cfg(cfg).train()
    names = {p.name for p in work_dir.iterdir()}
    assert not set(stale) & names and '.notes.tmp' in names
    assert f'Removed 2 temp file(s) left by an interrupted checkpoint write in {work_dir}: ' \
        f'{stale[0]}, {stale[1]}' in _log_text(work_dir)


def _crash_halfway(f, data):
    f.write(data[:len(data) // 2])
    raise OSError('disk died mid-write')


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
