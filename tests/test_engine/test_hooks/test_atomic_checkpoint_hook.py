"""AtomicCheckpointHook: what configs get, and the runner's warning for mmengine's plain hook."""
import importlib
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.hooks import CheckpointHook

from cissreg.engine.hooks import AtomicCheckpointHook
from cissreg.engine.runner import CissRunner

REPO = Path(__file__).parents[3]
TOY_DIR = Path(__file__).parents[1]
CONFIGS = sorted(p for p in (REPO / 'configs').rglob('*.py') if '_base_' not in p.parts)


@pytest.fixture(scope='module')
def toy():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(TOY_DIR))
        return importlib.import_module('cissreg_toy_parts')


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: str(p.relative_to(REPO / 'configs')))
def test_every_shipped_config_asks_for_the_atomic_hook(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_hooks.checkpoint.type == 'AtomicCheckpointHook'


def _checkpoint_hooks(runner):
    return [hook for hook in runner.hooks if isinstance(hook, CheckpointHook)]


def _log_text(work_dir: Path) -> str:
    return '\n'.join(p.read_text() for p in work_dir.glob('*/*.log'))


def test_runner_builds_the_hook_the_config_names_and_warns_for_the_plain_one(toy, tmp_path):
    cfg = toy.toy_cfg(tmp_path / 'plain', max_epochs=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    runner = CissRunner.from_cfg(cfg)
    assert [type(h) for h in _checkpoint_hooks(runner)] == [CheckpointHook]
    assert "mmengine's CheckpointHook" in _log_text(tmp_path / 'plain')

    cfg = toy.toy_cfg(tmp_path / 'atomic', max_epochs=1)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1)
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
    CissRunner.from_cfg(cfg).train()
    names = {p.name for p in work_dir.iterdir()}
    assert not set(stale) & names and '.notes.tmp' in names
    assert f'Removed 2 temp file(s) left by an interrupted checkpoint write in {work_dir}: ' \
        f'{stale[0]}, {stale[1]}' in _log_text(work_dir)
