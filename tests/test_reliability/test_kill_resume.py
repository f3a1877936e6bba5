"""SIGKILL at the dangerous instants of checkpointing, then resume.

The killed run is a real subprocess (``cissreg/testing/kill_parts.py``) that blocks at the
chosen file operation; the reference run and the resumed run train in this process.
"""
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cissreg.engine.runner import CissRunner

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def parts():
    return importlib.import_module('cissreg.testing.kill_parts')


def _train(parts, work_dir: Path, resume: bool = False) -> dict:
    runner = CissRunner.from_cfg(parts.kill_cfg(str(work_dir), resume=resume))
    runner.train()
    return runner.model.state_dict()


def _files(work_dir: Path) -> list:
    """Checkpoint-related files of ``work_dir`` (temp files included; logs, dumps not)."""
    return sorted(p.name for p in work_dir.iterdir() if p.is_file()
                  and (p.suffix in ('.pth', '.tmp') or p.name == 'last_checkpoint'))


def _log_text(work_dir: Path) -> str:
    return '\n'.join(p.read_text() for p in work_dir.glob('*/*.log'))


@pytest.fixture(scope='module')
def uninterrupted(parts, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('uninterrupted') / 'work'
    return work_dir, _train(parts, work_dir)


def _kill_at(pause: str, tmp_path: Path, work_dir: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS='1', PAUSE_AT=pause,
               PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, '-m', 'cissreg.testing.kill_parts', str(work_dir)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 240
    while not (tmp_path / 'paused').exists():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.time() < deadline, 'the run never reached the pause point'
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


# Epoch 2 of the killed run writes, in this order: epoch_2.pth, the new best (0.9), epoch_2.pth
# again (recording that best), the last_checkpoint pointer; then it removes epoch_1.pth and
# the previous best (0.5). A kill "at" a write happens with the data in a temp file.
KILL_POINTS = [
    ('write:epoch_2.pth', False),  # (pause point, new best complete at the kill)
    ('write:best_score_epoch_2.pth', False),
    ('write:.epoch_2.pth:2', True),
    ('write:last_checkpoint:2', True),
    ('remove:epoch_1.pth', True),
    ('remove:best_score_epoch_1.pth', True),
]


@pytest.mark.parametrize('pause,new_best_complete', KILL_POINTS)
def test_sigkill_while_checkpointing_then_resume_keeps_the_best(
        parts, uninterrupted, tmp_path, monkeypatch, pause, new_best_complete):
    work_dir = tmp_path / 'work'
    _kill_at(pause, tmp_path, work_dir)

    after_kill = _files(work_dir)
    bests = [name for name in after_kill if name.startswith('best_')]
    assert bests and all(torch.load(work_dir / name, weights_only=True) for name in bests)
    assert ('best_score_epoch_2.pth' in after_kill) == new_best_complete
    pointer = Path((work_dir / 'last_checkpoint').read_text())
    recorded = torch.load(pointer, weights_only=True)['message_hub']['runtime_info']
    assert Path(recorded['best_ckpt']).name in after_kill  # what the pointer records exists
    temp_files = [name for name in after_kill if name.endswith('.tmp')]
    assert bool(temp_files) == pause.startswith('write:')

    # the resumed run's validation of epoch 2 scores lower than the killed run's did (as
    # after a change of the validation data): a complete 0.9 best must survive it
    monkeypatch.setattr(parts.EpochScore, 'scores', {1: 0.5, 2: 0.7, 3: 0.6})
    resumed = _train(parts, work_dir, resume=True)
    log = _log_text(work_dir)
    for name in temp_files:
        assert name in log  # the clean-up is logged

    reference_dir, reference = uninterrupted
    assert _files(work_dir) == _files(reference_dir) == [
        'best_score_epoch_2.pth', 'epoch_3.pth', 'last_checkpoint']
    best = torch.load(work_dir / 'best_score_epoch_2.pth', weights_only=True)
    assert best['message_hub']['runtime_info']['best_score'] == (0.9 if new_best_complete
                                                                 else 0.7)
    last = torch.load(work_dir / 'epoch_3.pth', weights_only=True)
    assert last['message_hub']['runtime_info']['best_ckpt'] == str(
        work_dir / 'best_score_epoch_2.pth')
    assert resumed.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], rtol=0, atol=0, msg=key)
