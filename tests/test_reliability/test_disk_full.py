"""Disk full while saving a checkpoint: path and bytes named, previous checkpoint kept (item 7)."""
import errno
import os

import pytest
import torch

from cissreg.engine.runner import CissRunner


def test_enospc_names_path_and_size_and_keeps_the_previous_checkpoint(toy, tmp_path,
                                                                      monkeypatch):
    real_fsync = os.fsync

    def full_disk(fd):
        if 'epoch_2.pth' in os.readlink(f'/proc/self/fd/{fd}'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', full_disk)
    cfg = toy.toy_cfg(tmp_path, max_epochs=2)
    cfg.default_hooks.checkpoint = dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1)
    with pytest.raises(OSError) as err:
        CissRunner.from_cfg(cfg).train()
    assert err.value.errno == errno.ENOSPC
    message = str(err.value)
    target = tmp_path / 'epoch_2.pth'
    needed = int(message.split(' bytes needed')[0].rsplit(' ', 1)[1])
    assert f'No space left on device while writing {target}: {needed} bytes' in message
    assert needed > 1000  # the serialised checkpoint, not a chunk
    assert 'bytes free on that file system; no partial file is left' in message

    files = sorted(p.name for p in tmp_path.iterdir() if p.is_file() and p.suffix != '.py')
    assert files == ['epoch_1.pth', 'last_checkpoint']  # no temp file, previous kept
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')

    monkeypatch.undo()
    cfg.resume = True
    runner = CissRunner.from_cfg(cfg)
    runner.train()
    assert runner.epoch == 2
    assert torch.load(tmp_path / 'epoch_2.pth', weights_only=True)['meta']['epoch'] == 2


@pytest.mark.parametrize('code, words', [(errno.EFBIG, 'File too large while writing'),
                                         (errno.EDQUOT, 'Disk quota exceeded while writing')])
def test_file_size_limit_and_quota_name_the_path(tmp_path, monkeypatch, code, words):
    from cissreg.utils.atomic_io import atomic_write_bytes
    target = tmp_path / 'epoch_2.pth'
    target.write_bytes(b'old')

    def limited(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, 'fsync', limited)
    with pytest.raises(OSError) as err:
        atomic_write_bytes(target, b'x' * 5000)
    assert err.value.errno == code
    assert f'{words} {target}: 5000 bytes; its previous version is kept' in str(err.value)
    assert ('ulimit -f' if code == errno.EFBIG else 'quota') in str(err.value)
    monkeypatch.undo()
    assert target.read_bytes() == b'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['epoch_2.pth']


def test_disk_full_at_the_pointer_keeps_the_best(toy, tmp_path, monkeypatch):
    """ENOSPC when last_checkpoint moves past the epoch of a new best (0.9): the resumed run,
    whose validation of that epoch now scores 0.7, keeps the complete 0.9 best."""
    from cissreg.testing import kill_parts as parts
    work_dir = tmp_path / 'work'
    real_fsync = os.fsync
    pointer_writes = []

    def full_at_second_pointer(fd):
        if os.path.basename(os.readlink(f'/proc/self/fd/{fd}')).startswith('.last_checkpoint'):
            pointer_writes.append(fd)
            if len(pointer_writes) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', full_at_second_pointer)
    with pytest.raises(OSError, match='No space left on device while writing'):
        CissRunner.from_cfg(parts.kill_cfg(str(work_dir))).train()
    monkeypatch.setattr(os, 'fsync', real_fsync)
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_1.pth')
    assert (work_dir / 'best_score_epoch_2.pth').is_file()

    monkeypatch.setattr(parts.EpochScore, 'scores', {1: 0.5, 2: 0.7, 3: 0.6})
    CissRunner.from_cfg(parts.kill_cfg(str(work_dir), resume=True)).train()
    bests = sorted(p.name for p in work_dir.glob('best_*.pth'))
    assert bests == ['best_score_epoch_2.pth']
    best = torch.load(work_dir / 'best_score_epoch_2.pth', weights_only=True)
    assert best['message_hub']['runtime_info']['best_score'] == 0.9


def _best_file(path, score):
    torch.save(dict(message_hub=dict(runtime_info=dict(best_score=score))), path)


@pytest.mark.parametrize('save_best, rule, name, scores, kept', [
    ('loss', 'less', 'best_loss_epoch_{}.pth', {1: 0.5, 2: 0.3, 3: 0.4}, 2),
    ('auto', None, 'best_accuracy_epoch_{}.pth', {1: 0.5, 2: 0.7, 3: 0.6}, 2),
    ('score', 'greater', 'best_score_epoch_{}.pth', {1: 0.9, 2: 0.7}, 1),
])
def test_reconcile_keeps_the_highest_scoring_complete_best(tmp_path, save_best, rule, name,
                                                           scores, kept, captured_log):
    """Epoch 1's best is recorded by the resumed state; the others were written after it;
    a file that does not load is not a best."""
    from mmengine.fileio import get_file_backend
    from mmengine.logging import MessageHub, MMLogger

    from cissreg.engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook
    for epoch, score in scores.items():
        _best_file(tmp_path / name.format(epoch), score)
    (tmp_path / name.format(9)).write_bytes(b'not a checkpoint')
    hook = AtomicCheckpointHook(interval=1, save_best=save_best, rule=rule)
    hook.out_dir, hook.file_backend = str(tmp_path), get_file_backend(str(tmp_path))
    recorded = str(tmp_path / name.format(1))
    hook.best_ckpt_path = recorded

    class Runner:
        message_hub = MessageHub.get_instance(f'reconcile_{save_best}')
        logger = MMLogger.get_current_instance()

    Runner.message_hub.update_info('best_score', scores[1])
    Runner.message_hub.update_info('best_ckpt', recorded)
    with captured_log() as messages:
        hook._reconcile_best_files(Runner)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name.format(kept)]
    assert Runner.message_hub.get_info('best_ckpt') == str(tmp_path / name.format(kept))
    assert Runner.message_hub.get_info('best_score') == scores[kept]
    assert hook.best_ckpt_path == str(tmp_path / name.format(kept))
    assert any(f'{name.format(9)}: it does not load' in m for m in messages)
    assert sum('Removed best checkpoint' in m for m in messages) == len(scores)
