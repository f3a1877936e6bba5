"""SIGKILL at the dangerous instants of checkpointing, then resume (SPEC.md §9, issue 13 items 1-2).

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


@pytest.mark.parametrize('pause', [
    'write:epoch_2.pth',  # epoch_2.pth is in a temp file, not renamed yet
    'write:best_score_epoch_2.pth',  # new best in a temp file (mmengine deleted the old one)
    'remove:best_score_epoch_1.pth',  # new best complete, the old one about to be removed
])
def test_sigkill_while_checkpointing_then_resume_matches_uninterrupted(
        parts, uninterrupted, tmp_path, pause):
    work_dir = tmp_path / 'work'
    _kill_at(pause, tmp_path, work_dir)

    after_kill = _files(work_dir)
    # whatever the kill interrupted: a complete checkpoint, a pointer to it, a best checkpoint
    assert {'epoch_1.pth', 'best_score_epoch_1.pth', 'last_checkpoint'} <= set(after_kill)
    pointer = Path((work_dir / 'last_checkpoint').read_text())
    assert torch.load(pointer, weights_only=True)['meta']['epoch'] == 1
    temp_files = [name for name in after_kill if name.endswith('.tmp')]
    assert bool(temp_files) == pause.startswith('write:')

    resumed = _train(parts, work_dir, resume=True)
    log = _log_text(work_dir)
    for name in temp_files:
        assert name in log  # the clean-up is logged
    if pause.startswith('remove:'):  # best_score_epoch_2.pth is not recorded by epoch_1.pth
        assert 'Removed best checkpoint best_score_epoch_2.pth: the checkpoint this run ' \
            'resumes from does not record it' in log

    reference_dir, reference = uninterrupted
    assert _files(work_dir) == _files(reference_dir) == [
        'best_score_epoch_2.pth', 'epoch_3.pth', 'last_checkpoint']
    assert resumed.keys() == reference.keys()
    for key in reference:
        torch.testing.assert_close(resumed[key], reference[key], rtol=0, atol=0, msg=key)
    best = torch.load(work_dir / 'best_score_epoch_2.pth', weights_only=True)
    assert best['message_hub']['runtime_info']['best_score'] == 0.9
